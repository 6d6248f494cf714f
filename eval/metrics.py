"""Per-benchmark metrics of an evaluation run, as small pure functions over graded samples.

A sample is a dict with at least `problem_index`, `correct` (bool), `num_tokens` (generated ids, EOS included)
and `finished` (ended with EOS before the token budget).

- pass@1: mean correctness, first over a problem's samples, then over problems (= over all samples when every
  problem has the same number of samples).
- pass@k: the unbiased estimator of Chen et al. 2021 (Codex), 1 - C(n-c, k) / C(n, k), averaged over problems.
- maj@k: majority voting over k samples (`majority_at_k`): a problem's n samples, in sample order, form n // k
  disjoint groups of k; each group's most frequent extracted answer is its vote; the score is the share of correct
  votes, averaged over problems (maj@1 = pass@1).
- 95% intervals of pass@1 and mean tokens: percentile bootstrap over problems (`bootstrap_intervals`), since the
  problems, not the samples, are what a benchmark draws (AIME24 has only 30).
- length: mean and median generated tokens over all samples, correct or not; mean tokens of correct samples.
- truncation rate: share of samples that hit the budget without EOS.
- against a reference run (the base model, the previous round): AES, O1-Pruner's accuracy-efficiency score (`aes`),
  and the pass@1 change with a paired bootstrap interval (`paired_change`).
- reflection words: mean count per response of the words R1-style models re-check with (`REFLECTION_MARKERS`), to
  see what pruning removed on any model, not only where the traces' structure is known.
- per difficulty level (`level_metrics`), for benchmarks whose problems carry a `level`: pass@1 and mean tokens with
  their intervals, tokens of correct responses, truncation rate and reflection words.
"""

import math
import re
import statistics
from collections import Counter, defaultdict

import numpy as np


# O1-Pruner's weights: an accuracy drop costs 5x its relative size, a gain earns 3x, length saving counts 1x.
AES_LENGTH_WEIGHT = 1.0
AES_GAIN_WEIGHT = 3.0
AES_DROP_WEIGHT = 5.0
BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
# Words R1-style models mark a re-check or a change of approach with, matched case-insensitively as whole words
# ("Wait," counts, "waiting" does not). Kept short and unambiguous: a bare "check" or "but" also occurs in the
# reasoning itself, so they are left out; "let me verify" counts once.
REFLECTION_MARKERS = ("wait", "hmm", "alternatively", "double-check", "double check", "let me check", "verify")
REFLECTION_PATTERN = re.compile(r"\b(?:" + "|".join(map(re.escape, REFLECTION_MARKERS)) + r")\b", re.IGNORECASE)


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


def problem_draws(num_problems: int, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> np.ndarray:
    """Bootstrap resamples of problem indices, with replacement: one row per resample."""
    return np.random.default_rng(seed).integers(0, num_problems, size=(resamples, num_problems))


def percentile_interval(resampled: np.ndarray) -> list[float]:
    """The central `CONFIDENCE` interval of a statistic's bootstrap distribution."""
    tail = 100 * (1 - CONFIDENCE) / 2
    return [float(bound) for bound in np.percentile(resampled, [tail, 100 - tail])]


def bootstrap_intervals(samples: list[dict], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Percentile bootstrap intervals (`CONFIDENCE`) of pass@1 and mean tokens, resampling problems with replacement
    (the same draws for both). Deterministic for a seed."""
    groups = list(group_by_problem(samples).values())
    accuracy = np.array([statistics.fmean(bool(s["correct"]) for s in group) for group in groups])
    tokens = np.array([statistics.fmean(s["num_tokens"] for s in group) for group in groups])
    draws = problem_draws(len(groups), seed, resamples)
    return {
        name: percentile_interval(values[draws].mean(axis=1))
        for name, values in (("pass@1", accuracy), ("mean_tokens", tokens))
    }


def paired_change(samples: list[dict], reference_samples: list[dict], seed: int = 0) -> dict:
    """pass@1 minus the reference run's on the problems both answered, with a percentile bootstrap interval that
    draws the same problems for both runs. Most of a benchmark's noise is which problems it holds, and pairing
    cancels it: the change's interval is far tighter than the two runs' own intervals side by side. Problems are
    matched by id and text; None without a common problem."""

    def accuracy_by_problem(group: list[dict]) -> dict[tuple, float]:
        return {
            (problem[0].get("problem_id"), problem[0].get("problem")): statistics.fmean(
                bool(s["correct"]) for s in problem
            )
            for problem in group_by_problem(group).values()
        }

    mine, theirs = accuracy_by_problem(samples), accuracy_by_problem(reference_samples)
    changes = np.array([mine[key] - theirs[key] for key in mine if key in theirs])
    if not changes.size:
        return {"pass@1_change": None, "pass@1_change_ci": None, "paired_problems": 0}
    draws = problem_draws(changes.size, seed)
    return {
        "pass@1_change": float(changes.mean()),
        "pass@1_change_ci": percentile_interval(changes[draws].mean(axis=1)),
        "paired_problems": int(changes.size),
    }


def estimates(samples: list[dict]) -> dict:
    """pass@1 and mean tokens with their bootstrap intervals: what every row of results reports."""
    intervals = bootstrap_intervals(samples)
    groups = group_by_problem(samples).values()
    return {
        "pass@1": statistics.fmean(statistics.fmean(bool(s["correct"]) for s in group) for group in groups),
        "pass@1_ci": intervals["pass@1"],
        "mean_tokens": statistics.fmean(s["num_tokens"] for s in samples),
        "mean_tokens_ci": intervals["mean_tokens"],
    }


def reflection_words(text: str) -> int:
    """How many `REFLECTION_MARKERS` a response holds."""
    return len(REFLECTION_PATTERN.findall(text))


def mean_reflection_words(samples: list[dict]) -> float | None:
    """Mean `reflection_words` per response; None when the samples hold no responses (only their outcomes)."""
    responses = [s["response"] for s in samples if s.get("response") is not None]
    return statistics.fmean(reflection_words(response) for response in responses) if responses else None


def level_label(value) -> str | None:
    """A difficulty level as reports show it: 3, 3.0, "3" and MATH's "Level 3" all read "3"; other text stays as it
    is ("Level ?"); None for a problem without a level."""
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    number = re.fullmatch(r"(?:level\s*)?(\d+)(?:\.0*)?", text, re.IGNORECASE)
    return str(int(number.group(1))) if number else text


def level_order(label: str) -> tuple:
    """Sort key of level labels: numbers in numeric order ("2" before "10"), then any other text."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def level_metrics(samples: list[dict]) -> dict[str, dict]:
    """Per difficulty level, in level order: what `benchmark_metrics` reports of the level's samples that matters
    per level; {} when no sample has a level."""
    by_level = defaultdict(list)
    for sample in samples:
        if (label := level_label(sample.get("level"))) is not None:
            by_level[label].append(sample)
    levels = {}
    for label in sorted(by_level, key=level_order):
        level_samples = by_level[label]
        correct_tokens = [s["num_tokens"] for s in level_samples if s["correct"]]
        levels[label] = {
            **estimates(level_samples),
            "mean_tokens_correct": statistics.fmean(correct_tokens) if correct_tokens else None,
            "truncation_rate": sum(not s["finished"] for s in level_samples) / len(level_samples),
            "mean_reflection_words": mean_reflection_words(level_samples),
            "num_problems": len(group_by_problem(level_samples)),
            "num_generated": len(level_samples),
        }
    return levels


def majority_vote(group: list[dict]) -> bool:
    """Whether the most frequent extracted answer of `group` is correct (ties: the answer written first); samples
    without an answer do not vote, and a group without any answer is wrong."""
    answers = [s["extracted_answer"] for s in group if s.get("extracted_answer") is not None]
    if not answers:
        return False
    counts = Counter(answers)
    winner = max(answers, key=lambda answer: (counts[answer], -answers.index(answer)))
    return any(bool(s["correct"]) for s in group if s.get("extracted_answer") == winner)


def majority_at_k(groups: list[list[dict]], k: int) -> float:
    """maj@k averaged over problems: each problem's samples, in sample order, cut into n // k disjoint votes."""
    scores = []
    for group in groups:
        ordered = sorted(group, key=lambda s: s.get("sample_index", 0))
        votes = [majority_vote(ordered[start : start + k]) for start in range(0, len(ordered) - k + 1, k)]
        scores.append(statistics.fmean(votes))
    return statistics.fmean(scores)


def benchmark_metrics(samples: list[dict], ks: list[int] | None = None) -> dict:
    """pass@1 and maj@k with intervals, pass@k, token statistics and truncation rate of one benchmark's samples."""
    if not samples:
        raise ValueError("no samples to score")
    groups = group_by_problem(samples)
    n = min(len(group) for group in groups.values())
    ks = [k for k in (ks or default_ks(n)) if k <= n]
    correct_counts = [(len(group), sum(bool(s["correct"]) for s in group)) for group in groups.values()]
    tokens = [s["num_tokens"] for s in samples]
    correct_tokens = [s["num_tokens"] for s in samples if s["correct"]]
    pass_k = {str(k): statistics.fmean(pass_at_k(size, c, k) for size, c in correct_counts) for k in ks}
    levels = level_metrics(samples)
    return {
        **estimates(samples),
        "pass@k": pass_k,
        "maj@k": {str(k): majority_at_k(list(groups.values()), k) for k in ks},
        "median_tokens": statistics.median(tokens),
        "mean_tokens_correct": statistics.fmean(correct_tokens) if correct_tokens else None,
        "truncation_rate": sum(not s["finished"] for s in samples) / len(samples),
        "mean_reflection_words": mean_reflection_words(samples),
        "num_problems": len(groups),
        "num_samples": n,
        "num_generated": len(samples),
        "aes": None,
        **({"levels": levels} if levels else {}),
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
