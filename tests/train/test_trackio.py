"""Live metrics with trackio: `report_to: auto` in the R1 recipes, one project per schedule and one run per round, the
ThinkPrune metrics and completions in the local database; nothing changes where trackio is not installed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_round import launch_round, round_args

import train.round
from thinkprune.errors import UserError
from train.round import parse_args, run_identity
from train.schedule import ScheduleConfig, round_command


REPO_ROOT = Path(__file__).resolve().parents[2]
R1_RECIPE = str(REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / "thinkprune.yaml")
TOY_RECIPE = str(REPO_ROOT / "recipes" / "toy" / "round.yaml")
ON_CPU = ["--use_cpu", "true", "--bf16", "false"]


@pytest.fixture
def trackio_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackio", None)  # import trackio fails, find_spec finds nothing


@pytest.fixture
def trackio_installed(monkeypatch):
    monkeypatch.setattr(train.round, "is_trackio_available", lambda: True)


@pytest.mark.parametrize(
    "recipe", ["thinkprune.yaml", "thinkprune_beyond_paper.yaml", "thinkprune_vllm_server.yaml", "dler_like.yaml"]
)
def test_the_r1_recipes_log_to_trackio_when_it_is_installed(recipe, trackio_installed):
    _, training_args = parse_args(["--config", str(Path(R1_RECIPE).with_name(recipe)), *ON_CPU])
    assert training_args.report_to == ["trackio"]
    # The project is the folder of the recipe's rounds: outputs/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune[-...] or
    # outputs/DeepSeek-R1-Distill-Qwen-1.5B-dler-like
    assert training_args.project == Path(training_args.output_dir).parent.name
    assert training_args.project.startswith(
        ("DeepSeek-R1-Distill-Qwen-1.5B-thinkprune", "DeepSeek-R1-Distill-Qwen-1.5B-dler")
    )
    assert training_args.run_name == "round1"


def test_without_trackio_auto_logs_nowhere_and_trackio_is_a_one_line_error(trackio_absent):
    _, training_args = parse_args(["--config", R1_RECIPE, *ON_CPU])
    assert training_args.report_to == [] and training_args.run_name is None
    with pytest.raises(UserError, match=r"trackio is not installed: pip install -e '\.\[trackio\]'"):
        parse_args(["--config", TOY_RECIPE, "--report_to", "trackio"])


def test_the_toy_recipe_still_logs_nowhere(trackio_installed):
    assert parse_args(["--config", TOY_RECIPE])[1].report_to == []


def test_a_schedule_is_one_project_with_a_run_per_round(tmp_path, trackio_installed):
    config = ScheduleConfig(
        recipe=TOY_RECIPE, model_name_or_path="toy", token_limits=[90, 70], output_root=str(tmp_path / "my-chain")
    )
    for index in (1, 2):
        command = round_command(config, index, 90, "toy", ["--report_to", "trackio"])
        _, training_args = parse_args(command[command.index("--config") :])
        assert (training_args.project, training_args.run_name) == ("my-chain", f"round{index}")
    # Names given in the recipe or on the command line win.
    named = ["--report_to", "trackio", "--project", "mine", "--run_name", "first"]
    _, training_args = parse_args(["--config", TOY_RECIPE, *named])
    assert (training_args.project, training_args.run_name) == ("mine", "first")


def test_where_metrics_go_is_not_part_of_the_runs_identity(trackio_installed):
    logging = ["--report_to", "trackio", "--trackio_space_id", "me/board", "--log_completions", "true"]
    logged = parse_args(["--config", TOY_RECIPE, *logging])
    assert run_identity(*logged) == run_identity(*parse_args(["--config", TOY_RECIPE]))


def trackio_metric(project: str, run: str, metric: str) -> list:
    """A metric's values as `trackio get metric` reads them from the local database (no server, no network)."""
    trackio = Path(sys.executable).with_name("trackio")
    command = [str(trackio), "get", "metric", "--project", project, "--run", run, "--metric", metric, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return [entry["value"] for entry in json.loads(result.stdout)["values"]]


@pytest.mark.slow
def test_a_round_logs_its_metrics_and_completions_to_the_local_trackio_database(
    coin_flip_checkpoint, tmp_path, monkeypatch
):
    pytest.importorskip("trackio")
    model, problems = coin_flip_checkpoint
    monkeypatch.setenv("TRACKIO_DIR", str(tmp_path / "trackio"))  # the round and the CLI inherit it
    output_dir = tmp_path / "toy-chain" / "round1"
    logging = ["--report_to", "trackio", "--log_completions", "true"]
    result = launch_round([*round_args(model, problems, output_dir), *logging])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "watch it with `trackio show --project toy-chain`" in result.stderr
    assert (tmp_path / "trackio" / "toy-chain.db").is_file()

    # One value per training step, the ThinkPrune metrics beside trl's.
    for metric in ("thinkprune/accuracy", "thinkprune/finished_rate", "thinkprune/truncation_rate"):
        values = trackio_metric("toy-chain", "round1", f"train/{metric}")
        assert len(values) == 2 and all(0.0 <= value <= 1.0 for value in values), metric
    assert len(trackio_metric("toy-chain", "round1", "train/completions/mean_length")) == 2
    # The completions of the last step as a table: 2 prompts x 4 samples, with their rewards.
    table = trackio_metric("toy-chain", "round1", "completions")[-1]
    assert table["_type"] == "trackio.table" and len(table["_value"]) == 8
    assert {row["step"] for row in table["_value"]} == {2} and "thinkprune_reward" in table["_value"][0]
