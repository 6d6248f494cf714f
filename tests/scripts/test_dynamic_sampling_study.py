"""scripts/dynamic_sampling_study.py --quick on the coin-flip model: the four variants run, and the report is written."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml


REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_quick_study_runs_every_variant_and_writes_the_report(coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    recipe = yaml.safe_load((REPO_ROOT / "recipes" / "toy" / "round.yaml").read_text())
    recipe.update(
        model_name_or_path=str(model),
        dataset_name=str(problems),
        num_generations=4,
        per_device_train_batch_size=8,
        learning_rate=1e-3,
    )
    (tmp_path / "round.yaml").write_text(yaml.safe_dump(recipe))
    schedule = {
        "recipe": str(tmp_path / "round.yaml"),
        "model_name_or_path": str(model),
        "token_limits": [24, 20],
        "output_root": "unused",
    }
    (tmp_path / "schedule.yaml").write_text(yaml.safe_dump(schedule))
    results = tmp_path / "results"
    command = [sys.executable, "scripts/dynamic_sampling_study.py", "--quick"]
    command += ["--schedule", str(tmp_path / "schedule.yaml"), "--output_root", str(tmp_path / "runs")]
    result = subprocess.run(
        [*command, "--results_dir", str(results)], capture_output=True, text=True, timeout=1800, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    summary = json.loads((results / "summary.json").read_text())
    rows = {row["variant"]: row for row in summary["rows"]}
    assert list(rows) == ["plain GRPO", "offline filter", "dynamic sampling", "filter + dynamic sampling"]
    assert summary["quick"] and summary["seconds_per_round"] == 5.0
    for label, row in rows.items():
        training = row["training"]
        assert len(training["steps"]) == 1 and training["steps"][0] >= 1  # --quick: the first round only
        assert 0 <= training["frac_reward_zero_std_trained"] <= 1 and training["mean_step_seconds"] > 0
        assert (training["problem_filter"][0] is not None) == ("filter" in label)
        assert (training["dynamic_sampling"][0] is not None) == ("dynamic" in label)
        assert (row["pass@1_change"] is None) == (label == "plain GRPO")  # paired against plain GRPO
    assert rows["offline filter"]["training"]["problem_filter"][0]["num_problems"] == 8
    readme = (results / "README.md").read_text()
    assert "| filter + dynamic sampling |" in readme and "a wiring check, not a measurement" in readme
    assert (results / "curves.png").stat().st_size > 0 and (results / "comparison.md").exists()


def study_summary(seed: int | None, changes: dict[str, tuple[float, list[float]] | None], **settings) -> dict:
    rows = [
        {
            "variant": variant,
            "pass@1": 0.9,
            "mean_tokens": 150.0,
            "pass@1_change": change and change[0],
            "pass@1_change_ci": change and change[1],
            "training": {"steps": [20, 30]},
        }
        for variant, change in changes.items()
    ]
    summary = {"schedule": "recipes/toy/schedule.yaml", "seconds_per_round": 60.0, "quick": False, "num_samples": 4}
    return {**summary, **settings, **({} if seed is None else {"seed": seed}), "rows": rows}


def test_the_seeds_report_tallies_every_seed_run_with_the_same_settings(tmp_path):
    from scripts.dynamic_sampling_study import write_seeds_report

    plain = {"plain GRPO": None}
    # The study's own run, written before the seed was recorded: the recipe's seed (42).
    (tmp_path / "summary.json").write_text(json.dumps(study_summary(None, {**plain, "both": (-0.04, [-0.07, -0.01])})))
    for seed, change in [(1, (0.03, [0.01, 0.05])), (2, (0.0, [-0.02, 0.02]))]:
        (tmp_path / f"seed{seed}").mkdir()
        (tmp_path / f"seed{seed}" / "summary.json").write_text(
            json.dumps(study_summary(seed, {**plain, "both": change}))
        )
    (tmp_path / "seed3").mkdir()  # another time budget: not the same study
    (tmp_path / "seed3" / "summary.json").write_text(
        json.dumps(study_summary(3, {**plain, "both": (0.5, [0.4, 0.6])}, seconds_per_round=120.0))
    )

    write_seeds_report(tmp_path, study_summary(2, plain))

    seeds = json.loads((tmp_path / "seeds.json").read_text())
    assert seeds["seeds"] == [42, 1, 2]
    assert seeds["tally"]["both"] == {"above": 1, "below": 1, "around": 1, "mean_change": pytest.approx(-0.01 / 3)}
    report = (tmp_path / "seeds.md").read_text()
    assert "| both | 90.0%, 150 tokens, 50 steps: -4.0 [-7.0, -1.0] |" in report and "| 1 / 1 / 1 | -0.3 |" in report
