"""The automatic schedule: its checks, its decisions round after round (scripted measurements and rounds), resuming
from its state, the decisions in every round's record and card, and a real 2-round run on the toy (slow)."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

import train.auto
import train.schedule as schedule
from eval.evaluate import EvalConfig, evaluate
from model_cards.generate import card_metadata
from scripts.dry_run import BOS_TOKEN, USER_TOKEN, write_stand_ins
from thinkprune.errors import UserError
from thinkprune.generation import Generation
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, R1_SYSTEM_PROMPT, TRAIN_SUFFIX
from thinkprune.records import ROUND_RECORD, TRAINER_LOG, RoundRecord
from train.round import parse_args as parse_round_args
from train.round import validate as validate_round
from train.schedule import (
    AUTO_STATE,
    ScheduleConfig,
    held_out_problems,
    parse_args,
    round_command,
    run_apart,
    run_schedule,
)


pytest_plugins = ["hub_server"]

REPO_ROOT = Path(__file__).resolve().parents[2]
TOY_RECIPE = str(REPO_ROOT / "recipes" / "toy" / "round.yaml")
R1_AUTO_SCHEDULE = REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / "schedule_auto.yaml"


def auto_config(tmp_path, **changes) -> ScheduleConfig:
    values = dict(
        recipe=TOY_RECIPE,
        model_name_or_path="toy",
        output_root=str(tmp_path / "rounds"),
        auto=True,
        auto_max_new_tokens=512,
        auto_percentile=75,
        auto_floor=66,
        auto_max_rounds=4,
        auto_measure_problems=4,
        auto_validation_problems=4,
    )
    return ScheduleConfig(**{**values, **changes})


def summary(accuracy: float, mean_tokens: float, lengths: list[int], sampling) -> dict:
    """What `responses` returns: a measurement summary (train.auto.summarize)."""
    return {
        "num_problems": 4,
        "num_samples": 4,
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seconds": 2.0,
        "accuracy": accuracy,
        "accuracy_stderr": 0.05,
        "finished_rate": 0.9,
        "solve_rate": len(lengths) / 16,
        "mean_tokens": mean_tokens,
        "correct_finished_lengths": sorted(lengths),
        "correct_finished_percentiles": {"50": sorted(lengths)[len(lengths) // 2]} if lengths else {},
    }


class ScriptedRun:
    """Stands in for generation and for the round subprocesses: each model answers as scripted, each round writes the
    record train/round.py would write."""

    def __init__(self, monkeypatch, script: dict, checkpoint: Path | None = None):
        self.script, self.measured, self.launched = script, [], []
        self.checkpoint = checkpoint  # the weights every round holds, when it must be publishable
        monkeypatch.setattr(schedule, "responses", self.responses)
        monkeypatch.setattr(schedule.subprocess, "run", self.run)

    def responses(self, model, prompts, answers, sampling, num_samples, backend):
        name = Path(model).name
        self.measured.append((name, len(prompts), sampling.max_new_tokens, sampling.temperature))
        accuracy, mean_tokens, lengths = self.script[name]
        return summary(accuracy, mean_tokens, lengths, sampling)

    def run(self, command):
        value = {command[i]: command[i + 1] for i in range(len(command) - 1) if command[i].startswith("--")}
        self.launched.append(command)
        output_dir = Path(value["--output_dir"])
        if self.checkpoint:
            shutil.copytree(self.checkpoint, output_dir)
        else:
            output_dir.mkdir(parents=True)
        (output_dir / TRAINER_LOG).write_text(json.dumps([{"step": 1, "reward": 0.5}]))
        RoundRecord(
            round=int(value["--round_index"]),
            token_limit=int(value["--token_limit"]),
            parent=value["--model_name_or_path"],
            base_model="toy",
            lineage=["toy"],
            finished_at="2026-01-01T00:00:00+00:00",
        ).write(output_dir)
        return subprocess.CompletedProcess(command, 0)


def test_auto_measures_chooses_trains_validates_and_stops_by_its_own_rule(tmp_path, monkeypatch):
    run = ScriptedRun(
        monkeypatch,
        {
            # model: (validation accuracy, mean length, lengths of the finished, correct responses measured)
            "toy": (0.80, 180, [64, 100, 150, 199, 250, 300, 64, 120]),
            "round1": (0.80, 140, [64, 80, 100, 120, 130, 140, 64, 90]),
            "round2": (0.77, 100, [64, 70, 80, 90]),
        },
    )
    config = auto_config(tmp_path)
    rounds = run_schedule(config)

    root = Path(config.output_root)
    assert rounds == [root / "round1", root / "round2"]
    # First parent: validated at the budget with the evaluation protocol's temperature, then measured at the budget
    # with the round's; each round: validated, then measured under its own limit when the schedule goes on.
    assert run.measured == [
        ("toy", 4, 512, 0.6),
        ("toy", 4, 512, 1.0),
        ("round1", 4, 512, 0.6),
        ("round1", 4, 199, 1.0),
        ("round2", 4, 512, 0.6),
    ]
    limits = [command[command.index("--token_limit") + 1] for command in run.launched]
    assert limits == ["199", "120"]  # 75th percentiles of 8 lengths: the 6th smallest
    assert all(command[-2:] == ["--num_held_out_problems", "8"] for command in run.launched)

    state = json.loads((root / AUTO_STATE).read_text())
    reason = "validation accuracy 77.0% fell more than 2 points below the first parent's 80.0%"
    assert state["stop_reason"] == reason and state["selected_round"] == 1

    first = RoundRecord.read(root / "round1").auto
    assert (first["token_limit"], first["next_limit"], first["stop_reason"]) == (199, 120, None)
    assert first["limit_reason"] == "75% of the 8 finished, correct responses fit in 199 tokens"
    assert first["parent_measurement"]["correct_finished_lengths"] == [64, 64, 100, 120, 150, 199, 250, 300]
    assert first["first_parent_validation"]["accuracy"] == 0.80 and first["validation"]["mean_tokens"] == 140
    last = RoundRecord.read(root / "round2").auto
    assert (last["token_limit"], last["stop_reason"], last["next_limit"]) == (120, reason, None)
    assert last["parent_validation"]["mean_tokens"] == 140

    card = ModelCard.load(root / "round2" / "README.md").text
    assert "## How this limit was chosen" in card
    assert "Limit: **120 tokens**, because 75% of the 8 finished, correct responses fit in 120 tokens" in card
    assert f"The schedule stopped after this round: {reason}." in card
    assert (
        "samples (temperature 0.6, top_p 0.95, at most 512 tokens): accuracy 77.0% (± 5.0; first parent 80.0%" in card
    )
    assert "The schedule went on to a round at 120 tokens." in ModelCard.load(root / "round1" / "README.md").text

    # The same command again: every decision and round is reused, nothing measured or trained.
    run.measured.clear(), run.launched.clear()
    assert run_schedule(config) == rounds
    assert run.measured == [] and run.launched == []


@pytest.mark.slow
def test_pushed_rounds_carry_the_decisions_of_the_automatic_schedule(
    local_hub, tiny_checkpoint, tmp_path, monkeypatch
):
    """With --push_to_hub, a round's card and record on the Hub hold the decisions about it (its validation, why the
    schedule stopped or went on): the schedule pushes each round once they are written, not the round before them."""
    script = {"toy": (0.80, 180, [64, 100, 150, 199, 250, 300, 64, 120]), "round1": (0.80, 140, [64, 80, 100, 120])}
    run = ScriptedRun(monkeypatch, {**script, "round2": (0.77, 100, [64])}, checkpoint=tiny_checkpoint)
    config, extra_args = auto_config(tmp_path), ["--push_to_hub", "true"]
    root = Path(config.output_root)

    local_hub.fail_next("commit")  # the connection drops while round 1 is pushed: nothing is lost
    with pytest.raises(UserError, match="nothing was committed"):
        run_schedule(config, extra_args)
    assert RoundRecord.read(root / "round1").auto["next_limit"] == 100 and not local_hub.repos
    # The same command again pushes round 1, then trains round 2 and pushes it.
    assert run_schedule(config, extra_args) == [root / "round1", root / "round2"]
    assert [command[-2:] for command in run.launched] == [["--push_to_hub", "false"]] * 2

    for round_dir in (root / "round1", root / "round2"):
        repo_id = card_metadata(round_dir)["thinkprune"]["repo_id"]
        pushed = local_hub.files(repo_id)
        assert json.loads(pushed["round_record.json"])["auto"] == RoundRecord.read(round_dir).auto
        assert "## How this limit was chosen" in pushed["README.md"].decode()
        assert pushed["README.md"] == (round_dir / "README.md").read_bytes()
    assert "The schedule went on to a round at 100 tokens." in pushed_card(local_hub, root / "round1")
    assert "The schedule stopped after this round: validation accuracy 77.0%" in pushed_card(
        local_hub, root / "round2"
    )

    commits = local_hub.count("commit")
    run_schedule(config, extra_args)  # finished and published: nothing is pushed again
    assert local_hub.count("commit") == commits


def pushed_card(local_hub, round_dir: Path) -> str:
    return local_hub.files(card_metadata(round_dir)["thinkprune"]["repo_id"])["README.md"].decode()


class RecordingBackend:
    """A generation backend that keeps the prompt ids it is given and answers each with end-of-sequence at once."""

    name = "transformers"

    def __init__(self, tokenizer):
        self.prompts, self.eos = [], tokenizer.eos_token_id

    def generate(self, prompts, sampling, seeds=None):
        self.prompts += prompts
        return [Generation([self.eos], True) for _ in prompts]


def test_models_are_validated_on_the_prompt_ids_of_the_evaluation_protocol(tmp_path, monkeypatch):
    """The accuracy guard watches what an evaluation reports: validation feeds exactly eval/evaluate.py's prompt ids
    (no system prompt, the evaluation suffix), while parents are measured with the round's training prompt. With an
    R1-style template (scripts/dry_run.py's stand-in), where the two prompts differ most."""
    checkpoint, _ = write_stand_ins(tmp_path, seed=0)
    tokenizer = load_tokenizer(str(checkpoint))
    engines = []

    def make_backend(name, model_path, tokenizer, *args, **kwargs):
        engines.append(RecordingBackend(tokenizer))
        return engines[-1]

    monkeypatch.setattr(train.auto, "make_backend", make_backend)
    config = auto_config(tmp_path, model_name_or_path=str(checkpoint))
    extra_args = ["--prompt_template", "r1_distill"]
    # The first parent is validated, then measured; a model that never answers gives no first limit.
    with pytest.raises(UserError, match="no first limit follows"):
        run_schedule(config, extra_args)
    validation, measurement = engines

    args, training_args = parse_round_args(["--config", config.recipe, *extra_args])
    measure_rows, validation_rows = held_out_problems(config, args, training_args.seed)
    benchmark = tmp_path / "validation.jsonl"
    benchmark.write_text("".join(json.dumps(row) + "\n" for row in validation_rows.to_list()))
    evaluation = RecordingBackend(tokenizer)
    evaluate(
        EvalConfig(
            model=str(checkpoint),
            benchmarks="math500",
            data_files=f"math500={benchmark}",
            num_samples=1,
            max_new_tokens=16,
            output_dir=str(tmp_path / "eval"),
        ),
        backend=evaluation,
    )
    assert len(evaluation.prompts) == config.auto_validation_problems
    assert validation.prompts == [ids for ids in evaluation.prompts for _ in range(config.auto_num_samples)]
    validation_prompt = tokenizer.decode(validation.prompts[0])
    assert validation_prompt.startswith(BOS_TOKEN + USER_TOKEN + validation_rows[0]["problem"] + EVAL_SUFFIX)

    training_prompt = tokenizer.decode(measurement.prompts[0])
    assert training_prompt.startswith(BOS_TOKEN + R1_SYSTEM_PROMPT) and TRAIN_SUFFIX in training_prompt
    assert measure_rows[0]["problem"] in training_prompt


def test_auto_stops_when_the_length_no_longer_falls_or_no_tighter_limit_follows(tmp_path, monkeypatch):
    ScriptedRun(monkeypatch, {"toy": (0.8, 180, [150] * 8), "round1": (0.8, 175, [150] * 8)})
    config = auto_config(tmp_path)
    assert run_schedule(config) == [Path(config.output_root) / "round1"]
    assert RoundRecord.read(Path(config.output_root) / "round1").auto["stop_reason"] == (
        "the mean validation length went from 180 to 175 tokens (-2.8%), short of the minimum drop of 5%"
    )

    ScriptedRun(monkeypatch, {"toy": (0.8, 180, [150] * 8), "round1": (0.8, 120, [150] * 8)})
    config = auto_config(tmp_path / "again")
    run_schedule(config)
    assert json.loads((Path(config.output_root) / AUTO_STATE).read_text())["stop_reason"] == (
        "no tighter limit for a round 2: 75% of the 8 finished, correct responses fit in 150 tokens, not below the "
        "150 tokens the parent was measured under"
    )


def test_vllm_rounds_get_a_context_for_the_limit_the_measurement_chose(tmp_path, monkeypatch):
    lengths = [64, 100, 150, 199, 250, 300, 64, 120]
    run = ScriptedRun(monkeypatch, {"toy": (0.8, 180, lengths), "round1": (0.8, 120, lengths)})
    run_schedule(auto_config(tmp_path, auto_max_rounds=1), ["--use_vllm", "true", "--vllm_max_model_length", "300"])
    (command,) = run.launched
    assert command[-2:] == ["--vllm_max_model_length", str(64 + 199)]  # the toy's prompt cap + the limit


def test_auto_stops_after_max_rounds(tmp_path, monkeypatch):
    lengths = [64, 100, 150, 199, 250, 300, 64, 120]
    ScriptedRun(monkeypatch, {"toy": (0.8, 180, lengths), "round1": (0.8, 120, lengths)})
    config = auto_config(tmp_path, auto_max_rounds=1)
    run_schedule(config)
    assert RoundRecord.read(Path(config.output_root) / "round1").auto["stop_reason"] == "reached auto_max_rounds (1)"


def test_a_first_parent_that_solves_nothing_is_a_one_line_error(tmp_path, monkeypatch):
    ScriptedRun(monkeypatch, {"toy": (0.0, 512, [])})
    with pytest.raises(UserError, match="no first limit follows from measuring toy: no measured response finished "):
        run_schedule(auto_config(tmp_path))


def test_another_automatic_schedule_in_the_output_root_is_refused(tmp_path, monkeypatch):
    ScriptedRun(monkeypatch, {"toy": (0.8, 180, [150] * 8), "round1": (0.8, 175, [150] * 8)})
    run_schedule(auto_config(tmp_path))
    with pytest.raises(UserError, match="holds an automatic schedule with other settings: choose another output_root"):
        run_schedule(auto_config(tmp_path, auto_percentile=50))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"token_limits": [200, 100]}, "auto chooses the limits itself: remove token_limits"),
        ({"auto_max_new_tokens": None}, "auto needs auto_max_new_tokens"),
        ({"auto_floor": 512}, "auto_floor must be between 1 and auto_max_new_tokens \\(512\\)"),
        ({"auto_percentile": 0}, "auto_percentile must be in \\(0, 100\\]"),
        ({"auto_validation_problems": 0}, "auto_validation_problems must be at least 1"),
        ({"auto_tolerance": 2}, "fractions in \\[0, 1\\): 0.02 is 2 points"),
        ({"launch_args": "--num_machines 2 --machine_rank 0"}, "runs on one machine"),
        ({"recipe": "recipes/nope.yaml"}, "recipe file recipes/nope.yaml does not exist"),
    ],
)
def test_impossible_automatic_schedules_are_refused_before_anything_runs(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        run_schedule(auto_config(tmp_path, **changes))
    assert not (tmp_path / "rounds").exists()


def test_held_out_problems_outnumbering_the_training_set_are_refused(tmp_path):
    with pytest.raises(UserError, match="cannot hold out 3000 of 2000 problems"):
        run_schedule(auto_config(tmp_path, auto_measure_problems=1000, auto_validation_problems=2000))


def test_auto_without_a_config_is_the_toys_automatic_schedule():
    config, extra = parse_args(["--auto", "--auto_max_rounds", "2", "--", "--max_steps", "3"])
    assert config.auto and config.output_root == "outputs/toy-auto" and config.token_limits == []
    assert (config.auto_max_new_tokens, config.auto_percentile, config.auto_floor) == (704, 75, 69)
    assert config.auto_max_rounds == 2 and extra == ["--max_steps", "3"]
    assert parse_args([])[0].auto is False  # the fixed toy schedule stays the default


def test_help_exits_cleanly_and_round_arguments_before_the_separator_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--help"])
    assert exit_.value.code == 0 and "--auto_percentile" in capsys.readouterr().out
    with pytest.raises(
        UserError, match="not used by the HfArgumentParser: \\['--max_steps', '3'\\] \\(round arguments go"
    ):
        parse_args(["--max_steps", "3"])


def test_the_r1_automatic_schedule_is_a_valid_plan(monkeypatch):
    """recipes/DeepSeek-R1-Distill-Qwen-1.5B/schedule_auto.yaml, checked as far as a CPU can (scripts/dry_run.py runs
    its round recipe's step): its rules pass the schedule's checks, its rounds launch under ZeRO-2 on one machine and
    pass train/round.py's checks (bf16 weights, with ZeRO's float32 master weights), and it validates under the
    evaluation protocol's budget and sampling."""
    config, extra_args = parse_args(["--config", str(R1_AUTO_SCHEDULE)])
    schedule.check_auto(config)
    assert config.auto and config.token_limits == [] and extra_args == []
    protocol = yaml.safe_load((REPO_ROOT / "recipes" / "eval" / "r1_distill_protocol.yaml").read_text())
    validation = (config.auto_max_new_tokens, config.auto_validation_temperature, config.auto_validation_top_p)
    assert validation == (protocol["max_new_tokens"], protocol["temperature"], protocol["top_p"])
    fixed, _ = parse_args(["--config", str(R1_AUTO_SCHEDULE.with_name("schedule.yaml"))])
    assert config.auto_floor <= min(fixed.token_limits)  # never below what the paper trained this model at
    launch = yaml.safe_load(Path(config.accelerate_config).read_text())
    assert (launch["distributed_type"], launch["deepspeed_config"]["zero_stage"]) == ("DEEPSPEED", 2)
    assert schedule.num_machines(config) == 1 and schedule.machine_rank(config) == 0

    # Round 1 as the schedule launches it, at a limit a measurement could choose.
    limit, held_out = 4000, config.auto_measure_problems + config.auto_validation_problems
    command = round_command(config, 1, limit, config.model_name_or_path, ["--num_held_out_problems", str(held_out)])
    script = command.index(str(REPO_ROOT / "train" / "round.py"))
    assert command[script - 2 : script] == ["--config_file", config.accelerate_config]
    # Read on CPU as scripts/dry_run.py reads the recipe (bf16 and vLLM need a GPU); the dtype check is the GPU run's.
    cpu = ["--use_cpu", "true", "--bf16", "false", "--use_vllm", "false"]
    args, training_args = parse_round_args([*command[script + 1 :], *cpu])
    assert (args.dtype, args.token_limit, args.num_held_out_problems) == ("bfloat16", limit, held_out)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` sets for a DEEPSPEED config
    validate_round(args, training_args)
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    with pytest.raises(UserError, match="without DeepSpeed ZeRO"):  # what a launch without the config file meets
        validate_round(args, training_args)

    # The README's command for another model keeps all of it.
    mine, _ = parse_args(
        ["--config", str(R1_AUTO_SCHEDULE), "--model_name_or_path", "org/model", "--output_root", "o"]
    )
    assert mine == replace(config, model_name_or_path="org/model", output_root="o")


def test_a_fixed_schedule_without_limits_points_to_auto(tmp_path):
    with pytest.raises(UserError, match="give one per round, or pass --auto"):
        run_schedule(ScheduleConfig(TOY_RECIPE, "toy", str(tmp_path)))


def test_the_machine_rank_of_the_accelerate_config_file_counts_and_launch_args_override_it(tmp_path, monkeypatch):
    second_node = tmp_path / "node1.yaml"
    second_node.write_text("distributed_type: MULTI_GPU\nnum_machines: 2\nmachine_rank: 1\nnum_processes: 2\n")
    config = ScheduleConfig(
        recipe=TOY_RECIPE, model_name_or_path="toy", token_limits=[200], output_root=str(tmp_path / "rounds"),
        accelerate_config=str(second_node), record_timeout=0,
    )  # fmt: skip
    assert (schedule.machine_rank(config), schedule.num_machines(config)) == (1, 2)
    # The second node waits for the main node's record instead of going on alone.
    monkeypatch.setattr(schedule.subprocess, "run", lambda command: subprocess.CompletedProcess(command, 0))
    with pytest.raises(UserError, match="the main machine's .* did not appear within 0 s"):
        run_schedule(config)
    assert schedule.machine_rank(replace(config, launch_args="--machine_rank 0")) == 0
    assert schedule.machine_rank(replace(config, launch_args="--machine_rank=3")) == 3
    assert schedule.machine_rank(replace(config, accelerate_config=None)) == 0


def test_run_apart_runs_in_a_child_process():
    assert run_apart(os.getpid) != os.getpid()


@pytest.mark.slow
def test_a_real_two_round_automatic_schedule_on_the_toy(tmp_path):
    """The toy base measured, pruned for two short rounds and validated, for real. The rounds are too short for the
    toy's own rules to mean much, so the accuracy guard is loosened and any length drop is enough: the schedule runs
    its 2 rounds (4 steps at lr 2e-4 shorten the toy's responses by a few percent) and stops by its max_rounds rule."""
    root = tmp_path / "auto"
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "train" / "schedule.py"),
            "--auto",
            "--output_root",
            str(root),
            "--auto_max_rounds",
            "2",
            "--auto_measure_problems",
            "16",
            "--auto_validation_problems",
            "16",
            "--auto_num_samples",
            "2",
            "--auto_tolerance",
            "0.5",
            "--auto_min_length_drop",
            "0",
            "--",
            "--max_steps",
            "4",
            "--learning_rate",
            "2e-4",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    state = json.loads((root / AUTO_STATE).read_text())
    assert [entry["round"] for entry in state["rounds"]] == [1, 2]
    assert state["stop_reason"] == "reached auto_max_rounds (2)" and state["selected_round"] == 2
    limits = [entry["token_limit"] for entry in state["rounds"]]
    assert 512 > limits[0] > limits[1] >= 66  # chosen from the measurements, each tighter than the last

    first, second = (json.loads((root / f"round{i}" / ROUND_RECORD).read_text()) for i in (1, 2))
    assert (first["token_limit"], second["token_limit"], second["parent"]) == (*limits, str(root / "round1"))
    assert first["auto"]["stop_reason"] is None and first["auto"]["next_limit"] == limits[1]
    assert second["auto"]["stop_reason"] == state["stop_reason"]
    assert second["auto"]["parent_measurement"]["max_new_tokens"] == limits[0]  # round 1 measured under its limit
    assert second["dataset"]["num_held_out"] == 32
    card = (root / "round2" / "README.md").read_text()
    assert "## How this limit was chosen" in card and f"Limit: **{limits[1]} tokens**, because 75% of the" in card
    assert "The schedule stopped after this round: reached auto_max_rounds (2)." in card
    assert "Stopped after round 2: reached auto_max_rounds (2)" in result.stdout
