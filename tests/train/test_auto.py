"""The automatic schedule's rules: the limit from a length distribution, the stopping rule, difficulty-aware limits,
the summary of a measurement, and a real measurement of a tiny model."""

import pytest
from transformers.integrations import is_deepspeed_zero3_enabled, set_hf_deepspeed_config, unset_hf_deepspeed_config

from thinkprune.generation import Sampling
from thinkprune.prompts import training_messages
from train.auto import (
    BATCH_SIZE,
    choose_limit,
    measure,
    nearest_rank,
    problem_limits,
    should_stop,
    solve_rates,
    summarize,
)


def test_limit_is_the_percentile_of_the_correct_finished_lengths():
    lengths = list(range(101, 201))  # 101..200 tokens, shuffled order does not matter
    limit, why = choose_limit(lengths[::-1], previous_limit=4000, percentile=75, floor=64)
    assert limit == 175  # 75 of the 100 responses fit in 175 tokens
    assert why == "75% of the 100 finished, correct responses fit in 175 tokens"
    assert choose_limit(lengths, 4000, 100, 64)[0] == 200
    assert choose_limit(lengths, 4000, 1, 64)[0] == 101


def test_a_skewed_distribution_with_a_long_tail():
    lengths = [64] * 60 + [130] * 25 + [400] * 15  # most short, a tail of re-checkers
    assert choose_limit(lengths, 512, 50, 32)[0] == 64
    assert choose_limit(lengths, 512, 75, 32)[0] == 130
    assert choose_limit(lengths, 512, 90, 32)[0] == 400


def test_the_floor_raises_a_limit_below_it():
    limit, why = choose_limit([40, 50, 60, 70], previous_limit=200, percentile=50, floor=66)
    assert limit == 66
    assert why == "50% of the 4 finished, correct responses fit in 50 tokens, below the floor: the floor, 66 tokens"


def test_all_lengths_the_same():
    assert choose_limit([120] * 50, previous_limit=200, percentile=75, floor=64) == (
        120,
        "75% of the 50 finished, correct responses fit in 120 tokens",
    )


def test_no_limit_at_or_above_the_previous_one():
    limit, why = choose_limit([80] * 10, previous_limit=80, percentile=75, floor=64)
    assert limit is None
    assert why.endswith("fit in 80 tokens, not below the 80 tokens the parent was measured under")
    # A floor at the previous limit leaves nothing to tighten either.
    assert choose_limit([50, 60], previous_limit=66, percentile=50, floor=66)[0] is None


def test_no_correct_finished_response_is_a_clear_decision():
    assert choose_limit([], previous_limit=512, percentile=75, floor=64) == (
        None,
        "no measured response finished within 512 tokens with a correct answer",
    )


def test_nearest_rank():
    assert nearest_rank([1, 2, 3, 4], 50) == 2
    assert nearest_rank([1, 2, 3, 4], 51) == 3
    assert nearest_rank([7], 10) == 7


@pytest.mark.parametrize(
    "val_acc, mean_len, expected",
    [
        (0.79, 150, None),  # 1 point down, 25% shorter: go on
        (0.78, 150, None),  # exactly the tolerance: still within it
        (0.77, 150, "validation accuracy 77.0% fell more than 2 points below the first parent's 80.0%"),
        (0.85, 195, "the mean validation length went from 200 to 195 tokens (-2.5%), short of the minimum drop of 5%"),
        (0.85, 210, "the mean validation length went from 200 to 210 tokens (+5.0%), short of the minimum drop of 5%"),
    ],
)
def test_stopping_rule(val_acc, mean_len, expected):
    assert should_stop(0.80, val_acc, 200, mean_len, tolerance=0.02, min_length_drop=0.05) == expected


def test_accuracy_is_checked_before_length():
    reason = should_stop(0.80, 0.70, 200, 199, tolerance=0.02, min_length_drop=0.05)
    assert reason.startswith("validation accuracy 70.0%")


def test_difficulty_aware_limits_tighten_easy_problems():
    assert problem_limits([1.0, 0.75, 0.5, 0.25, 0.0], round_limit=200, min_limit=80) == [80, 110, 140, 170, 200]
    assert problem_limits([1.0, 0.0], round_limit=80, min_limit=80) == [80, 80]


def measurement_of(rows):
    return {
        "num_problems": len(rows),
        "num_samples": len(rows[0]),
        "max_new_tokens": 200,
        "temperature": 1.0,
        "top_p": 1.0,
        "seconds": 1.0,
        "problems": [
            {
                "lengths": [length for length, _, _ in row],
                "finished": [done for _, done, _ in row],
                "correct": [right for _, _, right in row],
            }
            for row in rows
        ],
    }


def test_summary_and_solve_rates():
    measurement = measurement_of(
        [
            [(70, True, True), (150, True, True), (200, False, True), (90, True, False)],
            [(200, False, False), (120, True, True), (66, True, True), (200, False, False)],
        ]
    )
    assert solve_rates(measurement) == [0.5, 0.5]
    summary = summarize(measurement)
    assert summary["accuracy"] == 5 / 8  # correct, finished or not
    assert summary["solve_rate"] == 4 / 8
    assert summary["finished_rate"] == 5 / 8
    assert summary["mean_tokens"] == sum([70, 150, 200, 90, 200, 120, 66, 200]) / 8
    assert summary["correct_finished_lengths"] == [66, 70, 120, 150]
    assert summary["correct_finished_percentiles"] == {"10": 66, "25": 66, "50": 70, "75": 120, "90": 150}
    assert summary["accuracy_stderr"] == pytest.approx((5 / 8 * 3 / 8 / 8) ** 0.5)
    assert "problems" not in summary and summary["seconds"] == 1.0


def test_summary_of_a_model_that_never_solves():
    summary = summarize(measurement_of([[(200, False, False)] * 2]))
    assert summary["correct_finished_lengths"] == [] and summary["correct_finished_percentiles"] == {}
    assert choose_limit(summary["correct_finished_lengths"], 200, 75, 64)[0] is None


class ZeRO3Config:
    """What from_pretrained asks of the DeepSpeed config a round registers under zero3.yaml: ZeRO-3, so partition."""

    def is_zero3(self):
        return True


def test_a_measurement_under_zero3_runs_the_whole_model(tiny_checkpoint):
    """Difficulty-aware limits measure the parent inside a round, where under ZeRO-3 from_pretrained partitions every
    model it loads for a DeepSpeed engine (here, without deepspeed installed, it fails outright): the measurement
    loads it whole, and the round's config is back for its trainer afterwards."""
    config = ZeRO3Config()
    set_hf_deepspeed_config(config)
    try:
        prompts = [training_messages("What is 1 + 1?", "plain", None)]
        measurement = measure(str(tiny_checkpoint), prompts, ["2"], Sampling(1.0, 1.0, 4, 0), num_samples=2)
        assert is_deepspeed_zero3_enabled()
    finally:
        unset_hf_deepspeed_config()
    assert [len(row["lengths"]) for row in measurement["problems"]] == [2]


@pytest.mark.slow
def test_measure_a_tiny_model(coin_flip_checkpoint):
    """The coin-flip model answers \\boxed{1} or \\boxed{2} (gold: 1) in a few tokens: about half are correct."""
    model, _ = coin_flip_checkpoint
    prompts = [training_messages(f"What is {i} + {1 - i}?", "plain", None) for i in range(4)]
    sampling = Sampling(temperature=1.0, top_p=1.0, max_new_tokens=40, seed=0)
    measurement = measure(str(model), prompts, ["1"] * 4, sampling, num_samples=4)
    assert measurement["num_problems"] == 4 and measurement["max_new_tokens"] == 40
    rows = measurement["problems"]
    assert [len(row["lengths"]) for row in rows] == [4, 4, 4, 4]
    assert all(0 < length <= 40 for row in rows for length in row["lengths"])
    summary = summarize(measurement)
    assert summary["finished_rate"] == 1.0
    assert 0.2 < summary["accuracy"] < 0.8
    assert len(summary["correct_finished_lengths"]) == round(16 * summary["solve_rate"])
    assert measure(str(model), prompts, ["1"] * 4, sampling, num_samples=4)["problems"] == rows  # seeded


@pytest.mark.slow
def test_a_measurement_does_not_depend_on_how_the_problems_are_shared(coin_flip_checkpoint, monkeypatch):
    """Difficulty-aware limits measure the parent with every process taking a share of the problems: each response
    draws from its own seed, so two shares, or other batch sizes, measure what one process measuring all does."""
    model, _ = coin_flip_checkpoint
    prompts = [training_messages(f"What is {i} + {1 - i}?", "plain", None) for i in range(4)]
    sampling = Sampling(temperature=1.0, top_p=1.0, max_new_tokens=40, seed=0)
    whole = measure(str(model), prompts, ["1"] * 4, sampling, num_samples=4)["problems"]
    first = measure(str(model), prompts[:1], ["1"], sampling, num_samples=4)["problems"]
    rest = measure(str(model), prompts[1:], ["1"] * 3, sampling, num_samples=4, first_problem_index=1)["problems"]
    assert first + rest == whole
    monkeypatch.setitem(BATCH_SIZE, "transformers", 3)
    assert measure(str(model), prompts, ["1"] * 4, sampling, num_samples=4)["problems"] == whole
    assert len({tuple(row["correct"]) for row in whole}) > 1  # the problems draw apart, not one stream each
