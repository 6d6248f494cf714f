"""Per-benchmark metrics of an evaluation run, as small pure functions over graded samples.

A sample is a dict with at least `problem_index`, `correct` (bool), `num_tokens` (generated ids, EOS included)
and `finished` (ended with EOS before the token budget).

- pass@1: mean correctness, first over a problem's samples, then over problems (= over all samples when every
  problem has the same number of samples).
- pass@k: the unbiased estimator of Chen et al. 2021 (Codex), 1 - C(n-c, k) / C(n, k), averaged over problems.
- length: mean and median generated tokens over all samples, correct or not; mean tokens of correct samples.
- truncation rate: share of samples that hit the budget without EOS.
- AES (O1-Pruner's accuracy-efficiency score) against a reference run, see `aes`.
"""

import statistics
from collections import defaultdict


# O1-Pruner's weights: an accuracy drop costs 5x its relative size, a gain earns 3x, length saving counts 1x.
AES_LENGTH_WEIGHT = 1.0
AES_GAIN_WEIGHT = 3.0
AES_DROP_WEIGHT = 5.0


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
    """Probability that at least one of k samples drawn without replacement from n (c correct) is correct."""
    if not 0 < k <= num_samples:
        raise ValueError(f"k must be in 1..{num_samples}, got {k}")
    if num_samples - num_correct < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k/i): the ratio of binomials without huge intermediate numbers.
    failure = 1.0
    for i in range(num_samples - num_correct + 1, num_samples + 1):
        failure *= 1.0 - k / i
    return 1.0 - failure


def default_ks(num_samples: int) -> list[int]:
    """Powers of two up to n, and n itself."""
    ks = [1]
    while ks[-1] * 2 <= num_samples:
        ks.append(ks[-1] * 2)
    return ks if ks[-1] == num_samples else ks + [num_samples]


def group_by_problem(samples: list[dict]) -> dict[int, list[dict]]:
    groups = defaultdict(list)
    for sample in samples:
        groups[sample["problem_index"]].append(sample)
    return dict(groups)


def benchmark_metrics(samples: list[dict], ks: list[int] | None = None) -> dict:
    """pass@1, pass@k, token statistics and truncation rate of one benchmark's graded samples."""
    if not samples:
        raise ValueError("no samples to score")
    groups = group_by_problem(samples)
    n = min(len(group) for group in groups.values())
    ks = [k for k in (ks or default_ks(n)) if k <= n]
    correct_counts = [(len(group), sum(bool(s["correct"]) for s in group)) for group in groups.values()]
    tokens = [s["num_tokens"] for s in samples]
    correct_tokens = [s["num_tokens"] for s in samples if s["correct"]]
    pass_k = {str(k): statistics.fmean(pass_at_k(size, c, k) for size, c in correct_counts) for k in ks}
    return {
        "pass@1": statistics.fmean(c / size for size, c in correct_counts),
        "pass@k": pass_k,
        "mean_tokens": statistics.fmean(tokens),
        "median_tokens": statistics.median(tokens),
        "mean_tokens_correct": statistics.fmean(correct_tokens) if correct_tokens else None,
        "truncation_rate": sum(not s["finished"] for s in samples) / len(samples),
        "num_problems": len(groups),
        "num_samples": n,
        "num_generated": len(samples),
        "aes": None,
    }


def aes(accuracy: float, mean_tokens: float, ref_accuracy: float, ref_mean_tokens: float) -> float | None:
    """O1-Pruner's Accuracy-Efficiency Score of a run against a reference run (e.g. the base model).

    With relative changes dL = (L_ref - L) / L_ref (length saved) and dA = (A - A_ref) / A_ref (accuracy gained):

        AES = 1 * dL + 3 * dA    if dA >= 0
        AES = 1 * dL - 5 * |dA|  if dA < 0

    E.g. half the tokens with accuracy 0.275 -> 0.267: 0.5 - 5 * 0.029 = 0.355. Higher is better; 0 for the reference
    itself. None when the reference has no accuracy or no length (the ratios are undefined).
    """
    if not ref_accuracy or not ref_mean_tokens:
        return None
    length_saving = (ref_mean_tokens - mean_tokens) / ref_mean_tokens
    accuracy_change = (accuracy - ref_accuracy) / ref_accuracy
    weight = AES_GAIN_WEIGHT if accuracy_change >= 0 else AES_DROP_WEIGHT
    return AES_LENGTH_WEIGHT * length_saving + weight * accuracy_change
