"""The seeds report: each seed's paired change, variant minus the iterative schedule, overall and per level, the
tally across seeds, and where another seed's rounds go and start from."""

import json
from pathlib import Path

import pytest

from scripts.toy_seeds import (
    ITERATIVE,
    SeedsConfig,
    automatic_lines,
    final_model,
    finding,
    markdown_table,
    parse_seeds,
    seed_row,
    seed_schedule,
    tally,
    train_rounds,
)
from thinkprune.errors import UserError
from train.schedule import AUTO_STATE


ONE_ROUND = "one round at the final limit"


def samples(correct_by_problem: list[bool], levels: list[int]) -> list[dict]:
    return [
        {"problem_index": index, "problem_id": index, "problem": f"p{index}", "level": level, "correct": correct}
        for index, (correct, level) in enumerate(zip(correct_by_problem, levels, strict=True))
    ]


def test_a_seed_pairs_each_variant_against_the_iterative_schedule_overall_and_per_level():
    levels = [1, 1, 3, 3]
    iterative = samples([True, True, True, True], levels)
    one_round = samples([True, True, False, False], levels)  # loses only the hard level
    runs = {
        ITERATIVE[0]: {"pass@1": 1.0, "mean_tokens": 120.0, "train_seconds": 300.0},
        ONE_ROUND: {"pass@1": 0.5, "mean_tokens": 110.0, "train_seconds": 250.0},
    }
    row = seed_row(7, runs, {ITERATIVE[0]: iterative, ONE_ROUND: one_round})
    change = row["changes"][ONE_ROUND]
    assert row["seed"] == 7 and list(row["changes"]) == [ONE_ROUND]
    assert change["change"] == -0.5 and change["change_ci"][0] < -0.5 < change["change_ci"][1]
    assert change["levels"]["1"]["change"] == 0.0 and change["levels"]["3"]["change"] == -1.0
    table = markdown_table([row], ONE_ROUND)
    assert "| 7 | 100.0%, 120.0 | 50.0%, 110.0 | -50.0 [" in table
    assert table.endswith("| +0.0 [+0.0, +0.0] | -100.0 [-100.0, -100.0] |")


def test_the_tally_counts_intervals_above_below_and_around_zero():
    rows = [
        {"changes": {ONE_ROUND: {"change": 0.03, "change_ci": [0.01, 0.05]}}},
        {"changes": {ONE_ROUND: {"change": -0.02, "change_ci": [-0.04, -0.01]}}},
        {"changes": {ONE_ROUND: {"change": 0.01, "change_ci": [-0.01, 0.03]}}},
    ]
    counts = tally(rows, ONE_ROUND)
    assert counts["variant_better"] == 1 and counts["iterative_better"] == 1 and counts["no_difference"] == 1
    assert counts["mean_change"] == pytest.approx(0.02 / 3)
    assert finding(ONE_ROUND, counts, 3) == (
        "Over 3 training seeds, one round at the final limit beat the iterative schedule in 1 (paired interval above "
        "0), lost in 1 (below 0) and showed no difference in 1; the mean change is +0.7 points."
    )


def test_another_seed_trains_apart_and_a_variant_starts_from_that_seeds_schedule(monkeypatch, tmp_path):
    """The too-tight limit prunes the iterative schedule's round 2: seed 1's, not the study's (seed 42's)."""
    trained = []
    monkeypatch.setattr(
        "scripts.toy_seeds.run_schedule", lambda schedule, args: trained.append((schedule, args)) or []
    )
    config = SeedsConfig(output_root=str(tmp_path))
    for seed in (1, 42):
        train_rounds(seed_schedule("recipes/toy/schedule_too_tight.yaml", seed, config), [], seed)
    (seed_1, args), (seed_42, args_42) = trained
    assert seed_1.model_name_or_path == str(tmp_path / "seed1" / "toy" / "round2")
    assert seed_1.output_root == str(tmp_path / "seed1" / "too_tight") and args == ["--seed", "1"]
    assert seed_42.model_name_or_path == "outputs/toy/round2"  # the recipes' seed: the study's own rounds
    assert seed_42.output_root == "outputs/toy-ablations/too_tight" and args_42 == []


@pytest.mark.parametrize("text", ["", "1,1", "one,2"])
def test_bad_seeds_are_refused_with_what_to_pass(text):
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds(text)
    assert parse_seeds("42, 1,2") == [42, 1, 2]


def auto_state(selected_round: int | None, limits: list[int], accuracies: list[float]) -> dict:
    summary = {"seconds": 1.0, "mean_tokens": 100.0}
    return {
        "first_parent": summary | {"accuracy": accuracies[0]},
        "rounds": [
            {"round": index, "token_limit": limit, "validation": summary | {"accuracy": accuracy}}
            for index, (limit, accuracy) in enumerate(zip(limits, accuracies[1:], strict=True), start=1)
        ],
        "stop_reason": "accuracy fell",
        "selected_round": selected_round,
    }


@pytest.mark.parametrize(("selected", "expected"), [(1, "round1"), (None, "toy")])
def test_the_automatic_schedule_ends_with_the_round_it_keeps_or_else_its_parent(tmp_path, selected, expected):
    schedule = seed_schedule("recipes/toy/schedule_auto.yaml", 1, SeedsConfig(output_root=str(tmp_path)))
    rounds = [Path(schedule.output_root) / "round1", Path(schedule.output_root) / "round2"]
    Path(schedule.output_root).mkdir(parents=True)
    state = auto_state(selected, [300, 200], [0.8, 0.8, 0.7])
    (Path(schedule.output_root) / AUTO_STATE).write_text(json.dumps(state))
    model, decisions = final_model(schedule, rounds)
    assert Path(model).name == expected and decisions["selected_round"] == selected
    row = {"seed": 1, "runs": {"automatic schedule": {"automatic": decisions}}}
    lines = automatic_lines([row], "automatic schedule")
    assert lines[0].startswith("- Seed 1: The automatic schedule stopped: accuracy fell.")
    assert "Its accuracy guard stopped a round (kept an earlier one) at 1 of 1 seeds." in lines


def test_a_fixed_schedule_ends_with_its_last_round():
    schedule = seed_schedule("recipes/toy/schedule.yaml", 42, SeedsConfig())
    assert final_model(schedule, [Path("r1"), Path("r2")]) == ("r2", {})
