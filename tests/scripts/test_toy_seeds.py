"""The seeds report: each seed's paired change, one round minus the iterative schedule, overall and per level, and
the tally across seeds."""

import pytest

from scripts.toy_seeds import ITERATIVE, ONE_ROUND, finding, markdown_table, parse_seeds, seed_row, tally
from thinkprune.errors import UserError


def samples(correct_by_problem: list[bool], levels: list[int]) -> list[dict]:
    return [
        {
            "problem_index": index,
            "problem_id": index,
            "problem": f"p{index}",
            "level": level,
            "correct": correct,
            "num_tokens": 100,
        }
        for index, (correct, level) in enumerate(zip(correct_by_problem, levels, strict=True))
    ]


def metrics(accuracy: float, tokens: float) -> dict:
    return {"pass@1": accuracy, "mean_tokens": tokens, "pass@1_ci": [0, 1]}


def test_a_seed_pairs_one_round_against_the_iterative_schedule_overall_and_per_level():
    levels = [1, 1, 3, 3]
    iterative = samples([True, True, True, True], levels)
    one_round = samples([True, True, False, False], levels)  # loses only the hard level
    row = seed_row(
        7,
        {ITERATIVE[0]: metrics(1.0, 120.0), ONE_ROUND[0]: metrics(0.5, 110.0)},
        {ITERATIVE[0]: iterative, ONE_ROUND[0]: one_round},
        seconds=12.34,
    )
    assert row["seed"] == 7 and row["seconds"] == 12.3
    assert row["change"] == -0.5 and row["change_ci"][0] < -0.5 < row["change_ci"][1]
    assert row["levels"]["1"]["change"] == 0.0 and row["levels"]["3"]["change"] == -1.0
    assert row["runs"][ONE_ROUND[0]] == {"pass@1": 0.5, "mean_tokens": 110.0}
    table = markdown_table([row])
    assert "| 7 | 100.0%, 120.0 | 50.0%, 110.0 | -50.0 [" in table
    assert table.endswith("| +0.0 [+0.0, +0.0] | -100.0 [-100.0, -100.0] |")


def test_the_tally_counts_intervals_above_below_and_around_zero():
    rows = [
        {"change": 0.03, "change_ci": [0.01, 0.05]},
        {"change": -0.02, "change_ci": [-0.04, -0.01]},
        {"change": 0.01, "change_ci": [-0.01, 0.03]},
    ]
    counts = tally(rows)
    assert counts["one_round_better"] == 1 and counts["iterative_better"] == 1 and counts["no_difference"] == 1
    assert counts["mean_change"] == pytest.approx(0.02 / 3)
    assert finding(counts, 3) == (
        "Over 3 training seeds, one round at the final limit beat the iterative schedule in 1 (paired interval above "
        "0), lost in 1 (below 0) and showed no difference in 1; the mean change is +0.7 points."
    )


@pytest.mark.parametrize("text", ["", "1,1", "one,2"])
def test_bad_seeds_are_refused_with_what_to_pass(text):
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds(text)
    assert parse_seeds("42, 1,2") == [42, 1, 2]
