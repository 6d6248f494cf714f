"""Evaluation metrics on hand-made generations: pass@1, unbiased pass@k, lengths, truncation, AES."""

import math

import pytest

from eval.metrics import aes, benchmark_metrics, default_ks, pass_at_k


def sample(problem_index, correct, num_tokens, finished=True):
    return {"problem_index": problem_index, "correct": correct, "num_tokens": num_tokens, "finished": finished}


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
