"""Evaluation metrics on hand-made generations: pass@1, unbiased pass@k, maj@k, bootstrap intervals, lengths,
truncation, AES, the paired change against a reference run, reflection words, per-level metrics."""

import math

import pytest

from eval.metrics import (
    aes,
    benchmark_metrics,
    bootstrap_intervals,
    default_ks,
    level_label,
    level_metrics,
    majority_at_k,
    mean_reflection_words,
    paired_change,
    pass_at_k,
    reflection_words,
)


def sample(problem_index, correct, num_tokens, finished=True, answer=None, sample_index=0, **extra):
    return {
        "problem_index": problem_index,
        "sample_index": sample_index,
        "correct": correct,
        "num_tokens": num_tokens,
        "finished": finished,
        "extracted_answer": answer,
        **extra,
    }


@pytest.mark.parametrize(("n", "c", "k"), [(4, 1, 1), (4, 1, 2), (10, 3, 5), (16, 0, 4), (16, 16, 1), (64, 7, 32)])
def test_pass_at_k_matches_the_binomial_definition(n, c, k):
    expected = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_known_values():
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(4, 0, 4) == 0.0
    assert pass_at_k(4, 3, 2) == 1.0  # any 2 of 4 include a correct one
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_default_ks():
    assert default_ks(1) == [1]
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(6) == [1, 2, 4, 6]


def test_benchmark_metrics_on_hand_made_samples():
    samples = [
        sample(0, True, 10),
        sample(0, False, 20),
        sample(1, False, 30, finished=False),
        sample(1, False, 40),
    ]
    metrics = benchmark_metrics(samples)
    assert metrics["pass@1"] == pytest.approx(0.25)
    assert metrics["pass@k"] == {"1": pytest.approx(0.25), "2": pytest.approx(0.5)}
    assert metrics["mean_tokens"] == 25
    assert metrics["median_tokens"] == 25
    assert metrics["mean_tokens_correct"] == 10
    assert metrics["truncation_rate"] == 0.25
    assert (metrics["num_problems"], metrics["num_samples"]) == (2, 2)


def test_benchmark_metrics_without_a_correct_sample():
    metrics = benchmark_metrics([sample(0, False, 7, finished=False), sample(1, False, 9, finished=False)])
    assert metrics["pass@1"] == 0
    assert metrics["mean_tokens_correct"] is None
    assert metrics["truncation_rate"] == 1


def test_benchmark_metrics_weights_problems_equally_when_sample_counts_differ():
    # A partial run (killed, then rescored): problem 0 has 1 sample, problem 1 has 3.
    samples = [sample(0, True, 5), sample(1, False, 5), sample(1, False, 5), sample(1, False, 5)]
    metrics = benchmark_metrics(samples)
    assert metrics["pass@1"] == pytest.approx(0.5)
    assert metrics["num_samples"] == 1
    assert list(metrics["pass@k"]) == ["1"]


def test_aes():
    assert aes(0.5, 100, 0.5, 100) == 0
    assert aes(0.5, 50, 0.5, 100) == pytest.approx(0.5)  # half the length, same accuracy
    assert aes(0.55, 100, 0.5, 100) == pytest.approx(3 * 0.1)  # +10% accuracy rewarded 3x
    assert aes(0.45, 100, 0.5, 100) == pytest.approx(-5 * 0.1)  # -10% accuracy penalised 5x
    # ThinkPrune-iter2k vs base on AIME24 (docs/method.md): 27.5% / 17.3k -> 26.7% / 5.8k
    assert aes(0.267, 5800, 0.275, 17300) == pytest.approx((17300 - 5800) / 17300 - 5 * (0.008 / 0.275))
    assert aes(0.5, 100, 0.0, 100) is None


def votes(problem_index, answers, gold):
    return [
        sample(problem_index, answer == gold, 10, answer=answer, sample_index=index)
        for index, answer in enumerate(answers)
    ]


def test_majority_at_k():
    # Problem 0: the majority of 4 is right (7, 7, 7 against 5), one of the two pairs ties 5-7 (the first wins: 5).
    # Problem 1: no answer in the first pair, then 3 and 3 (right).
    groups = [votes(0, ["5", "7", "7", "7"], "7"), votes(1, [None, None, "3", "3"], "3")]
    assert majority_at_k(groups, 4) == pytest.approx((1 + 1) / 2)
    assert majority_at_k(groups, 2) == pytest.approx((0.5 + 0.5) / 2)
    assert majority_at_k(groups, 1) == pytest.approx(((3 / 4) + (2 / 4)) / 2)  # maj@1 is pass@1
    metrics = benchmark_metrics(groups[0] + groups[1])
    assert metrics["maj@k"] == {"1": metrics["pass@1"], "2": 0.5, "4": 1.0}


def test_majority_ignores_sample_order_on_disk():
    shuffled = votes(0, ["5", "7", "7", "7"], "7")[::-1]
    assert majority_at_k([shuffled], 2) == 0.5  # votes are formed in sample order, whatever the file order


def test_bootstrap_intervals_are_deterministic_and_hold_the_estimate():
    samples = [sample(p, (p * 7 + s) % 3 != 0, 50 + 10 * p + s, sample_index=s) for p in range(30) for s in range(4)]
    metrics = benchmark_metrics(samples)
    low, high = metrics["pass@1_ci"]
    assert low < metrics["pass@1"] < high and 0.4 < low and high < 0.9
    token_low, token_high = metrics["mean_tokens_ci"]
    assert token_low < metrics["mean_tokens"] < token_high
    assert bootstrap_intervals(samples, seed=0) == bootstrap_intervals(samples, seed=0)
    assert bootstrap_intervals(samples, seed=1) != bootstrap_intervals(samples, seed=0)
    # 30 problems: the interval is wide; more of the same problems make it narrower.
    many = [dict(s, problem_index=s["problem_index"] + 30 * copy) for copy in range(8) for s in samples]
    wide, narrow = metrics["pass@1_ci"], bootstrap_intervals(many)["pass@1"]
    assert narrow[1] - narrow[0] < 0.6 * (wide[1] - wide[0])


def test_bootstrap_of_a_degenerate_run():
    all_right = [sample(p, True, 12) for p in range(5)]
    assert bootstrap_intervals(all_right) == {"pass@1": [1.0, 1.0], "mean_tokens": [12.0, 12.0]}
    assert bootstrap_intervals([sample(0, False, 3)]) == {"pass@1": [0.0, 0.0], "mean_tokens": [3.0, 3.0]}


def with_problem(samples):
    return [dict(s, problem_id=s["problem_index"], problem=f"problem {s['problem_index']}") for s in samples]


def test_paired_change_cancels_the_spread_between_problems():
    # 40 problems of every difficulty; the run solves one sample more than the reference on 4 of them.
    reference = with_problem([sample(p, s < p % 5, 10, sample_index=s) for p in range(40) for s in range(4)])
    run = [dict(s, correct=s["correct"] or (s["problem_index"] < 4 and s["sample_index"] == 3)) for s in reference]
    change = paired_change(run, reference)
    assert change["pass@1_change"] == pytest.approx(4 * 0.25 / 40)
    assert change["paired_problems"] == 40
    low, high = change["pass@1_change_ci"]
    assert 0 <= low < change["pass@1_change"] < high
    run_low, run_high = benchmark_metrics(run)["pass@1_ci"]
    assert high - low < 0.25 * (run_high - run_low)  # the unpaired intervals overlap widely
    assert paired_change(run, reference) == change  # deterministic


def test_paired_change_of_a_run_that_lost_two_samples_against_a_perfect_reference():
    reference = with_problem([sample(p, True, 10, sample_index=s) for p in range(200) for s in range(4)])
    run = [dict(s, correct=(s["problem_index"], s["sample_index"]) not in {(3, 0), (70, 2)}) for s in reference]
    change = paired_change(run, reference)
    assert change["pass@1_change"] == pytest.approx(-2 / 800)
    low, high = change["pass@1_change_ci"]
    assert low < change["pass@1_change"] and high == 0.0  # not significantly lower: most resamples miss both


def test_paired_change_matches_problems_by_id_and_text():
    reference = with_problem([sample(p, p % 2 == 0, 10) for p in range(6)])
    shifted = [
        dict(s, problem_index=s["problem_index"] + 3) for s in with_problem([sample(p, True, 10) for p in range(6)])
    ]
    change = paired_change(shifted, reference)  # other indices, same problems: still paired
    assert change["paired_problems"] == 6 and change["pass@1_change"] == pytest.approx(0.5)
    other = [dict(s, problem=f"another {s['problem_id']}") for s in reference]
    assert paired_change(other, reference) == {"pass@1_change": None, "pass@1_change_ci": None, "paired_problems": 0}
    assert paired_change(reference, [])["pass@1_change"] is None


def test_reflection_words_are_whole_words_of_any_case():
    text = (
        "Wait, 3+4=7. Hmm, let me double-check. WAIT. Double check: yes. Alternatively, let me verify it. "
        "Let me check the carry."
    )
    assert reflection_words(text) == 8  # "let me verify" counts once, as "verify"
    # Inside other words, and words left out as too common in the reasoning itself: none.
    assert reflection_words("Awaiting the waiter, we check: verified, but checking; hmmm. Rewait.") == 0
    assert reflection_words("") == 0


def test_mean_reflection_words_per_response():
    samples = [sample(0, True, 5, response="Wait. Wait."), sample(1, True, 5, response="So 7.")]
    assert mean_reflection_words(samples) == 1.0
    assert mean_reflection_words([sample(0, True, 5)]) is None  # outcomes only: nothing to count


@pytest.mark.parametrize(
    ("value", "label"),
    [(3, "3"), (3.0, "3"), ("3", "3"), ("Level 3", "3"), ("level 12", "12"), ("Level ?", "Level ?"), ("hard", "hard")]
    + [(None, None), ("", None), (float("nan"), None)],
)
def test_level_label(value, label):
    assert level_label(value) == label


def test_level_metrics_group_by_level_in_numeric_order():
    # MATH-style strings and numbers mixed: "Level 2" and 2 are one level, and 10 sorts after 2.
    samples = [
        sample(0, True, 10, level="Level 2", response="Wait."),
        sample(0, False, 30, level="Level 2", sample_index=1),
        sample(1, True, 20, level=2, response="So 3."),
        sample(2, False, 100, finished=False, level=10, response="Hmm, wait, alternatively"),
        sample(3, True, 5, level=1),
        sample(4, True, 5),  # no level: only in the overall figures
    ]
    levels = level_metrics(samples)
    assert list(levels) == ["1", "2", "10"]
    two = levels["2"]
    assert two["pass@1"] == pytest.approx(0.75)  # problem 0: 1/2, problem 1: 1/1
    assert two["pass@1_ci"][0] <= two["pass@1"] <= two["pass@1_ci"][1]
    assert two["mean_tokens"] == 20 and two["mean_tokens_correct"] == 15
    assert (two["num_problems"], two["num_generated"], two["truncation_rate"]) == (2, 3, 0)
    assert two["mean_reflection_words"] == 0.5  # only the responses there are counted
    assert levels["10"] | {"pass@1_ci": None, "mean_tokens_ci": None} == {
        "pass@1": 0,
        "pass@1_ci": None,
        "mean_tokens": 100,
        "mean_tokens_ci": None,
        "mean_tokens_correct": None,
        "truncation_rate": 1,
        "mean_reflection_words": 3,
        "num_problems": 1,
        "num_generated": 1,
    }
    assert levels["1"]["mean_reflection_words"] is None

    metrics = benchmark_metrics(samples)
    assert metrics["levels"] == levels
    assert metrics["mean_reflection_words"] == pytest.approx(4 / 3)  # over the 3 responses


def test_benchmarks_without_levels_report_none():
    samples = [sample(0, True, 10), sample(1, False, 20, level=None)]
    assert level_metrics(samples) == {}
    assert "levels" not in benchmark_metrics(samples)
