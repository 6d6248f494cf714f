"""train/round.py and train/schedule.py: argument errors, a real CPU round in a subprocess, schedule resume."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from accelerate.utils import FullyShardedDataParallelPlugin
from conftest import build_tiny_checkpoint
from safetensors.torch import load_file
from transformers import Trainer

from thinkprune.errors import UserError
from thinkprune.modeling import load_model
from thinkprune.records import ROUND_RECORD, ROUND_STATE, TRAINER_LOG, RoundRecord
from train.round import (
    batch_arithmetic,
    check_output_dir,
    last_complete_checkpoint,
    lineage_of,
    parse_args,
    recipe_values,
    refuse_weights_without_master_copies,
    resolve_batch,
    run_identity,
    save_final_model,
    store_as_parent,
    validate,
    validate_vllm_context,
)
from train.schedule import ScheduleConfig, round_command, run_schedule


pytest_plugins = ["hub_server"]


REPO_ROOT = Path(__file__).resolve().parents[2]
TOY_RECIPE = str(REPO_ROOT / "recipes" / "toy" / "round.yaml")


def training_options(problems):
    """A 2-step round on the coin-flip problems: small enough for CI, big enough to learn something."""
    return [
        "--dataset_name",
        str(problems),
        "--max_prompt_length",
        "64",
        "--max_steps",
        "2",
        "--num_generations",
        "4",
        "--per_device_train_batch_size",
        "8",
        "--learning_rate",
        "1e-3",
        "--weight_decay",
        "0.0",  # without decay, weights move only if the rewards gave a gradient
        "--logging_steps",
        "1",
    ]


def round_args(model, problems, output_dir):
    return [
        "--config",
        TOY_RECIPE,
        "--model_name_or_path",
        str(model),
        "--token_limit",
        "24",
        *training_options(problems),
        "--output_dir",
        str(output_dir),
    ]


def launch_round(args, timeout=600):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--num_processes",
            "1",
            "--cpu",
            str(REPO_ROOT / "train" / "round.py"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def test_without_arguments_the_toy_recipe_is_used():
    args, training_args = parse_args([])
    assert (args.model_name_or_path, args.dataset_name, args.prompt_template) == ("toy", "toy", "plain")
    assert training_args.use_cpu and not training_args.bf16


def test_cli_overrides_the_recipe():
    args, training_args = parse_args(["--config", TOY_RECIPE, "--token_limit", "77", "--learning_rate", "1e-4"])
    assert args.token_limit == 77 and training_args.learning_rate == 1e-4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--config", "recipes/nope.yaml"], "does not exist"),
        (["--token_limit", "0"], "token_limit must be a positive"),
        (["--truncation", "half"], "unknown truncation"),
        (["--config", TOY_RECIPE, "--use_cpu", "false", "--bf16", "true"], "needs a GPU"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, message):
    if "needs a GPU" in message and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(UserError, match=message):
        validate(*parse_args(argv))


def test_output_dir_holding_a_finished_or_other_run_is_refused(tmp_path):
    args, training_args = parse_args(["--output_dir", str(tmp_path)])
    identity = run_identity(args, training_args)
    (tmp_path / "model.safetensors").write_text("weights of another run")
    with pytest.raises(UserError, match="holds another run \\(no start marker\\).*--overwrite_output_dir true"):
        check_output_dir(tmp_path, args, training_args, identity)
    (tmp_path / ROUND_RECORD).write_text("{}")
    with pytest.raises(UserError, match="finished round"):
        check_output_dir(tmp_path, args, training_args, identity)
    assert (tmp_path / "model.safetensors").read_text() == "weights of another run"


def test_only_an_unfinished_round_of_this_run_is_resumed(tmp_path):
    args, training_args = parse_args(["--output_dir", str(tmp_path), "--resume_from_checkpoint", "true"])
    identity = run_identity(args, training_args)
    (tmp_path / "checkpoint-5").mkdir(parents=True)
    with pytest.raises(UserError, match="another run \\(no start marker\\)"):
        check_output_dir(tmp_path, args, training_args, identity)

    (tmp_path / "fresh" / "checkpoint-5").mkdir(parents=True)  # what a killed round of this run leaves
    (tmp_path / "fresh" / "round_state.json").write_text(json.dumps({"identity": identity, "trained": False}))
    check_output_dir(tmp_path / "fresh", args, training_args, identity)  # the same run resumes
    other_args, other_training_args = parse_args(
        ["--output_dir", str(tmp_path / "fresh"), "--resume_from_checkpoint", "true", "--token_limit", "120"]
    )
    with pytest.raises(UserError, match="round 1, limit 400, parent toy"):
        check_output_dir(
            tmp_path / "fresh", other_args, other_training_args, run_identity(other_args, other_training_args)
        )
    relaunched = parse_args(["--output_dir", str(tmp_path / "elsewhere"), "--resume_from_checkpoint", "true"])
    assert run_identity(*relaunched) == identity  # where it is written or how it resumes is not what it is


def test_a_round_resubmitted_with_another_vllm_server_node_resumes(tmp_path):
    """scripts/slurm/train.slurm passes the job's first node as --vllm_server_host: a resubmitted job lands on other
    nodes, and its unfinished round is the same run."""
    server = ["--output_dir", str(tmp_path), "--resume_from_checkpoint", "true", "--vllm_mode", "server"]
    first = parse_args([*server, "--vllm_server_host", "node0", "--vllm_server_port", "8000"])
    resubmitted = parse_args([*server, "--vllm_server_host", "node7", "--vllm_server_port", "8001"])
    (tmp_path / "checkpoint-5").mkdir()
    (tmp_path / "round_state.json").write_text(json.dumps({"identity": run_identity(*first), "trained": False}))
    check_output_dir(tmp_path, *resubmitted, run_identity(*resubmitted))
    assert (tmp_path / "checkpoint-5").is_dir()


def test_a_refused_run_names_the_recipe_values_it_differs_in(tmp_path):
    started = parse_args(["--output_dir", str(tmp_path), "--learning_rate", "1e-5"])
    state = {"identity": run_identity(*started), "recipe": recipe_values(*started), "trained": False}
    (tmp_path / "round_state.json").write_text(json.dumps(state))
    relaunched = parse_args(["--output_dir", str(tmp_path), "--resume_from_checkpoint", "true", "--beta", "0.01"])
    with pytest.raises(UserError, match=r"differing from this run's in beta, learning_rate\): choose another"):
        check_output_dir(tmp_path, *relaunched, run_identity(*relaunched))


def test_a_round_of_this_run_goes_on_without_resume_flag_only_once_trained(tmp_path):
    """A plain re-run of the same command publishes a round whose push failed; an unfinished one is resumed only when
    asked, and the advice never throws this run's weights away."""
    args, training_args = parse_args(["--output_dir", str(tmp_path)])
    identity = run_identity(args, training_args)
    (tmp_path / "model.safetensors").write_text("weights of this run")
    (tmp_path / "round_state.json").write_text(json.dumps({"identity": identity, "trained": False}))
    with pytest.raises(UserError, match="unfinished run of this round: pass --resume_from_checkpoint true") as refused:
        check_output_dir(tmp_path, args, training_args, identity)
    assert "overwrite" not in str(refused.value)

    (tmp_path / "round_state.json").write_text(json.dumps({"identity": identity, "trained": True, "record": {}}))
    check_output_dir(tmp_path, args, training_args, identity)  # main() then publishes it
    assert (tmp_path / "model.safetensors").read_text() == "weights of this run"


@pytest.mark.parametrize(
    "world_size, per_device, accumulation", [(8, 256, 1), (4, 256, 2), (2, 256, 4), (1, 256, 8), (16, 128, 1)]
)
def test_rollouts_per_step_hold_on_any_world_size_that_divides_them(world_size, per_device, accumulation):
    assert resolve_batch(2048, 16, world_size, max_per_device=256) == (per_device, accumulation)


def test_world_sizes_that_cannot_hold_the_rollouts_are_refused():
    with pytest.raises(UserError, match="cannot be split evenly over 3 processes: launch a number of processes"):
        resolve_batch(2048, 16, 3, max_per_device=256)
    with pytest.raises(UserError, match="multiple of 16"):
        resolve_batch(100, 16, 1, max_per_device=256)


def test_recipe_rollouts_per_step_set_the_batch_before_anything_loads():
    args, training_args = parse_args(["--rollouts_per_step", "32", "--per_device_train_batch_size", "16"])
    assert (training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps) == (16, 2)
    assert training_args.generation_batch_size == 32  # trl's generation batch follows the resolved batch
    assert batch_arithmetic(args, training_args) == {
        "world_size": 1,
        "rollouts_per_step": 32,
        "num_generations": 8,
        "prompts_per_step": 4,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 2,
    }


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--truncation", "grade"], "difficulty_aware_limits needs truncation zero"),
        ([], "needs difficulty_min_limit between 1 and token_limit \\(200\\), got None"),
        (["--difficulty_min_limit", "201"], "between 1 and token_limit \\(200\\), got 201"),
        (
            ["--difficulty_min_limit", "66", "--difficulty_num_samples", "0"],
            "difficulty_num_samples must be at least 1",
        ),
    ],
)
def test_impossible_difficulty_aware_limits_are_refused(argv, message):
    with pytest.raises(UserError, match=message):
        validate(*parse_args(["--difficulty_aware_limits", "true", "--token_limit", "200", *argv]))


def problems_dataset(count: int):
    from datasets import Dataset

    return Dataset.from_list([{"prompt": [{"role": "user", "content": f"Q{i}"}], "answer": "1"} for i in range(count)])


def test_difficulty_aware_limits_become_a_token_limit_column(tmp_path, monkeypatch):
    import train.round
    from train.round import DIFFICULTY_FILE, shape_by_parent

    args, training_args = parse_args(
        ["--difficulty_aware_limits", "true", "--token_limit", "200", "--difficulty_min_limit", "80"]
    )
    # What the main process measured (kept in the output directory): solve rates 1, 1/2 and 0.
    measured = {
        "num_problems": 3,
        "seconds": 12.0,
        "problems": [
            {"lengths": [70, 90], "finished": [True, True], "correct": [True, True]},
            {"lengths": [150, 200], "finished": [True, False], "correct": [True, True]},
            {"lengths": [200, 120], "finished": [False, True], "correct": [False, False]},
        ],
    }
    (tmp_path / DIFFICULTY_FILE).write_text(json.dumps(measured))
    monkeypatch.setattr(train.round, "measure_on_every_process", lambda *_: pytest.fail("the kept one was not read"))
    with_limits, summary, problem_filter = shape_by_parent(problems_dataset(3), args, training_args, tmp_path)
    assert with_limits["token_limit"] == [80, 140, 200] and problem_filter is None
    assert summary["limits"] == {"min": 80, "mean": 140, "max": 200}
    assert (summary["min_limit"], summary["mean_solve_rate"], summary["measure_seconds"]) == (80, 0.5, 12.0)


# Solve rates 1, 1/2, 0 and 1/2; the second problem's cut but correct response counts only under `grade`.
FOUR_PROBLEMS_MEASURED = {
    "num_problems": 4,
    "seconds": 9.0,
    "problems": [
        {"lengths": [70, 90], "finished": [True, True], "correct": [True, True]},
        {"lengths": [150, 200], "finished": [True, False], "correct": [True, True]},
        {"lengths": [200, 120], "finished": [False, True], "correct": [False, False]},
        {"lengths": [80, 120], "finished": [True, True], "correct": [False, True]},
    ],
}
FILTER_OPTIONS = ["--filter_solved_problems", "true", "--num_generations", "4", "--per_device_train_batch_size", "8"]


def test_the_solved_problem_filter_drops_problems_solved_always_or_never():
    from train.round import drop_solved_problems

    args, training_args = parse_args(FILTER_OPTIONS)
    validate(args, training_args)
    dataset = problems_dataset(4)
    kept, summary = drop_solved_problems(dataset, FOUR_PROBLEMS_MEASURED, args, training_args)
    assert [row[0]["content"] for row in kept["prompt"]] == ["Q1", "Q3"]
    assert (summary["num_problems"], summary["num_always_solved"], summary["num_never_solved"]) == (4, 1, 1)
    assert (summary["num_kept"], summary["num_samples"], summary["measure_seconds"]) == (2, 4, 9.0)

    graded, graded_training = parse_args(
        [*FILTER_OPTIONS, "--truncation", "grade", "--per_device_train_batch_size", "4"]
    )
    # Under `grade` Q1's cut response counts: always solved, it is dropped too.
    assert len(drop_solved_problems(dataset, FOUR_PROBLEMS_MEASURED, graded, graded_training)[0]) == 1
    # Fewer problems left than one step's prompts (4 x 8 / 8): a one-line error, nothing trained.
    wide, wide_training = parse_args(["--filter_solved_problems", "true"])
    with pytest.raises(UserError, match="left 2 of 4 problems .*fewer than one step's 4 prompts"):
        drop_solved_problems(dataset, FOUR_PROBLEMS_MEASURED, wide, wide_training)


def test_one_measurement_of_the_parent_serves_both_difficulty_limits_and_the_filter(tmp_path, monkeypatch):
    import train.round
    from train.round import DIFFICULTY_FILE, shape_by_parent

    difficulty = ["--difficulty_aware_limits", "true", "--token_limit", "200", "--difficulty_min_limit", "80"]
    args, training_args = parse_args([*FILTER_OPTIONS, *difficulty])
    validate(args, training_args)
    passes = []

    def measure_on_every_process(dataset, *_):
        passes.append(len(dataset))
        return FOUR_PROBLEMS_MEASURED

    monkeypatch.setattr(train.round, "measure_on_every_process", measure_on_every_process)
    kept, summary, problem_filter = shape_by_parent(problems_dataset(4), args, training_args, tmp_path)
    assert passes == [4]  # the whole training set, once
    # The limits follow the measurement's rows through the filter: the two kept problems, both solved half the time.
    assert [row[0]["content"] for row in kept["prompt"]] == ["Q1", "Q3"] and kept["token_limit"] == [140, 140]
    assert summary["measure_seconds"] == problem_filter["measure_seconds"] == 9.0
    assert json.loads((tmp_path / DIFFICULTY_FILE).read_text()) == FOUR_PROBLEMS_MEASURED
    # A resumed run reads the kept measurement instead of measuring again.
    assert shape_by_parent(problems_dataset(4), args, training_args, tmp_path)[0]["token_limit"] == [140, 140]
    assert passes == [4]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--filter_solved_problems", "true", "--difficulty_num_samples", "1"], "at least 2, got 1"),
        (["--dynamic_sampling", "true", "--dynamic_sampling_max_rounds", "0"], "at least 1, got 0"),
    ],
)
def test_impossible_filter_or_dynamic_sampling_is_refused(argv, message):
    with pytest.raises(UserError, match=message):
        validate(*parse_args(argv))


def test_the_wall_clock_budget_stops_training_after_the_step_that_passes_it():
    from transformers import TrainerControl

    from train.round import WallClockBudget

    budget, control, args = WallClockBudget(60), TrainerControl(), SimpleNamespace(device=torch.device("cpu"))
    budget.on_train_begin(args, None, control)
    budget.on_step_end(args, None, control)
    assert not control.should_training_stop
    budget.started -= 61
    budget.on_step_end(args, None, control)
    assert control.should_training_stop


def test_half_precision_weights_without_master_copies_are_refused(monkeypatch):
    with pytest.raises(UserError, match="no float32 master weights.*zero2.yaml.*--dtype float32 --bf16 true"):
        validate(*parse_args(["--dtype", "bfloat16"]))
    parsed = parse_args(["--dtype", "bfloat16"])
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")  # what `accelerate launch` with a ZeRO config sets
    validate(*parsed)


def test_fsdp_with_mixed_precision_keeps_float32_master_weights(monkeypatch):
    """accelerate upcasts the half-precision parameters FSDP shards to float32 when it computes in bf16 or fp16, so
    the R1 recipe's bf16 weights train there; FSDP without mixed precision would update them in bf16 and is refused."""
    args, training_args = parse_args(["--dtype", "bfloat16"])  # the toy recipe: bf16 false
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what `accelerate launch` with an FSDP config sets
    with pytest.raises(UserError, match="no float32 master weights"):
        refuse_weights_without_master_copies("bfloat16", args, training_args)
    training_args.bf16 = True
    refuse_weights_without_master_copies("bfloat16", args, training_args)
    monkeypatch.delenv("ACCELERATE_USE_FSDP")  # DDP, bf16 autocast or not, keeps no master copy
    with pytest.raises(UserError, match="no float32 master weights"):
        refuse_weights_without_master_copies("bfloat16", args, training_args)


@pytest.mark.parametrize("config_declares_dtype", [True, False])
def test_a_bf16_checkpoint_at_dtype_auto_is_refused_without_master_copies(tmp_path, config_declares_dtype):
    """The default dtype `auto` loads R1-Distill's bf16 weights as they are: refused from the config when it declares
    its dtype, else once loaded (`auto` then keeps the weights' own dtype), before anything is written."""
    checkpoint = build_tiny_checkpoint(tmp_path / "bf16")
    load_model(str(checkpoint)).to(torch.bfloat16).save_pretrained(checkpoint)
    if not config_declares_dtype:
        config = json.loads((checkpoint / "config.json").read_text())
        del config["dtype"]
        (checkpoint / "config.json").write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train" / "round.py"), "--model_name_or_path", str(checkpoint)]
        + ["--max_steps", "1", "--token_limit", "16", "--output_dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: {checkpoint} loads in bfloat16 (dtype auto)")
    assert "no float32 master weights" in last_line and "--dtype float32 --bf16 true" in last_line
    assert not (tmp_path / "out").exists()


def test_a_round_of_a_bf16_parent_trained_in_float32_is_stored_in_bf16(tmp_path):
    """DDP's `--dtype float32` (and FSDP's float32 master weights) made an R1 round a float32 checkpoint: twice its
    bf16 parent's size, and at `dtype="auto"` evaluated at another precision than the base. Stored as the parent is."""
    checkpoint = build_tiny_checkpoint(tmp_path / "bf16")
    load_model(str(checkpoint)).to(torch.bfloat16).save_pretrained(checkpoint)
    output_dir = tmp_path / "round1"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "train" / "round.py"), "--model_name_or_path", str(checkpoint)]
        + ["--dtype", "float32", "--max_steps", "1", "--token_limit", "16", "--num_generations", "2"]
        + ["--per_device_train_batch_size", "4", "--num_train_problems", "8", "--output_dir", str(output_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {tensor.dtype for tensor in load_file(output_dir / "model.safetensors").values()} == {torch.bfloat16}
    assert json.loads((output_dir / "config.json").read_text())["dtype"] == "bfloat16"
    assert load_model(str(output_dir), dtype="auto").dtype == torch.bfloat16
    assert (output_dir / "model.safetensors").stat().st_size < 0.6 * sum(
        tensor.numel() * 4 for tensor in load_file(output_dir / "model.safetensors").values()
    )


def test_a_float32_parent_is_stored_as_trained(tmp_path):
    checkpoint = build_tiny_checkpoint(tmp_path / "f32")
    before = (checkpoint / "model.safetensors").read_bytes()
    store_as_parent(checkpoint, "float32")
    assert (checkpoint / "model.safetensors").read_bytes() == before


def stub_trainer(fsdp_plugin=None, writes_weights=True):
    """What `Trainer.save_model` (transformers' own, called as a round calls it) reads of a trainer: the FSDP plugin
    and its state dict type, the gathered state dict, and `_save`, which writes the weights it is given."""
    saved = {}

    def _save(path, state_dict=None):
        saved["state_dict"] = state_dict
        if writes_weights:
            (Path(path) / "model.safetensors").write_bytes(b"weights")

    trainer = SimpleNamespace(
        is_fsdp_enabled=fsdp_plugin is not None,
        is_deepspeed_enabled=False,
        model=torch.nn.Linear(1, 1),
        args=SimpleNamespace(push_to_hub=False),
        accelerator=SimpleNamespace(
            state=SimpleNamespace(fsdp_plugin=fsdp_plugin),
            is_main_process=True,
            get_state_dict=lambda model: {"weight": torch.zeros(1)},
        ),
        _save=_save,
    )
    trainer.save_model = lambda path: Trainer.save_model(trainer, path)
    return trainer, saved


def test_the_final_save_gathers_fsdp_sharded_weights(tmp_path):
    """FSDP2 shards the state dict by default (recipes/accelerate_configs/fsdp2.yaml says so too), and then
    Trainer.save_model writes nothing: the round was published without weights and the next round could not load it."""
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, state_dict_type="SHARDED_STATE_DICT")
    trainer, saved = stub_trainer(plugin)
    save_final_model(trainer, tmp_path)
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)
    assert saved["state_dict"]["weight"].shape == (1,) and (tmp_path / "model.safetensors").is_file()


def test_a_final_save_without_weights_is_a_one_line_error(tmp_path):
    """What saves no weights (DeepSpeed ZeRO-3 without zero3_save_16bit_model: only its own checkpoint) is refused
    before any card, push or record says the round is finished."""
    trainer, _ = stub_trainer(writes_weights=False)
    with pytest.raises(UserError, match="no model weights were saved.*zero3_save_16bit_model"):
        save_final_model(trainer, tmp_path)


@pytest.mark.slow
def test_a_round_killed_while_saving_a_checkpoint_resumes_from_the_last_complete_one(coin_flip_checkpoint, tmp_path):
    """A time limit that kills a round mid-save leaves its newest checkpoint without trainer_state.json (written last);
    transformers would resume from it and fail on every retry."""
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    argv = [*round_args(model, problems, output_dir), "--save_strategy", "steps", "--save_steps", "1"]
    argv += ["--resume_from_checkpoint", "true"]
    assert launch_round(argv).returncode == 0
    # What the kill leaves: checkpoint-2 cut short, the round neither trained nor finished.
    (output_dir / "checkpoint-2" / "trainer_state.json").unlink()
    (output_dir / ROUND_RECORD).unlink()
    state = json.loads((output_dir / ROUND_STATE).read_text())
    (output_dir / ROUND_STATE).write_text(json.dumps({**state, "trained": False, "record": None}))

    resumed = launch_round(argv)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert RoundRecord.read(output_dir).global_step == 2
    assert (output_dir / "checkpoint-2" / "trainer_state.json").is_file()  # saved again, whole


def test_resume_true_takes_the_newest_checkpoint_whose_save_finished(tmp_path):
    assert last_complete_checkpoint(tmp_path) is None
    for step, complete in ((20, True), (40, True), (60, False)):
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-final").mkdir()
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-40")


def test_resume_false_is_not_a_checkpoint_path():
    assert parse_args(["--resume_from_checkpoint", "false"])[1].resume_from_checkpoint is None


def test_lineage_follows_round_records(tmp_path):
    assert lineage_of("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == (
        "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
        ["deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"],
    )
    RoundRecord(1, 4000, "base", "base", ["base"], finished_at="2026-01-01T00:00:00+00:00").write(tmp_path)
    assert lineage_of(str(tmp_path)) == ("base", ["base", str(tmp_path)])


@pytest.mark.slow
def test_a_round_trains_and_writes_checkpoint_and_record(coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    result = launch_round(round_args(model, problems, output_dir))
    assert result.returncode == 0, result.stderr[-3000:]

    record = json.loads((output_dir / ROUND_RECORD).read_text())
    assert record["format"] == "thinkprune-round/1"
    assert (record["round"], record["token_limit"], record["truncation"]) == (1, 24, "zero")
    assert (record["parent"], record["base_model"], record["lineage"]) == (str(model), str(model), [str(model)])
    assert record["global_step"] == 2
    assert record["recipe"]["max_completion_length"] == 24
    assert record["recipe"]["mask_truncated_completions"] is False
    assert record["dataset"] == {"name": str(problems), "num_prompts": 8, "num_dropped_too_long": 0, "num_held_out": 0}
    assert record["difficulty"] is None and record["auto"] is None
    assert set(record["versions"]) >= {"torch", "transformers", "trl"}

    log = json.loads((output_dir / TRAINER_LOG).read_text())
    rewards = [entry["reward"] for entry in log if "reward" in entry]
    assert rewards and all(0.0 < reward < 1.0 for reward in rewards)  # the coin flip gives real variance

    for name in ("config.json", "generation_config.json", "tokenizer.json", "model.safetensors"):
        assert (output_dir / name).exists(), name
    before, after = load_file(model / "model.safetensors"), load_file(output_dir / "model.safetensors")
    assert any(not torch.equal(before[key], after[key]) for key in before), "GRPO did not change the weights"

    again = launch_round(round_args(model, problems, output_dir))
    assert again.returncode != 0 and "error: " in again.stderr and "already holds a finished round" in again.stderr
    assert json.loads((output_dir / ROUND_RECORD).read_text()) == record


@pytest.mark.slow
def test_a_round_with_difficulty_aware_limits(coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    difficulty = ["--difficulty_aware_limits", "true", "--difficulty_min_limit", "16", "--difficulty_num_samples", "2"]
    result = launch_round([*round_args(model, problems, output_dir), *difficulty])
    assert result.returncode == 0, result.stderr[-3000:]

    record = json.loads((output_dir / ROUND_RECORD).read_text())
    limits = record["difficulty"]["limits"]
    assert 16 <= limits["min"] <= limits["mean"] <= limits["max"] <= 24
    assert record["difficulty"]["num_samples"] == 2 and 0 < record["difficulty"]["mean_solve_rate"] < 1
    measured = json.loads((output_dir / "difficulty_measurement.json").read_text())
    assert measured["num_problems"] == 8 and measured["max_new_tokens"] == 24  # the parent, under the round's limit
    log = json.loads((output_dir / TRAINER_LOG).read_text())
    over = [entry["thinkprune/over_own_limit_rate"] for entry in log if "thinkprune/over_own_limit_rate" in entry]
    assert len(over) == 2 and all(0.0 <= rate <= 1.0 for rate in over)
    assert (
        "Difficulty-aware limits: every training problem had its own limit" in (output_dir / "README.md").read_text()
    )


def test_unknown_model_id_is_a_one_line_error(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "train" / "round.py"),
            "--model_name_or_path",
            str(tmp_path / "no-such-model"),
            "--output_dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot load a tokenizer from")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_schedule_chains_parents_and_limits(tmp_path):
    config = ScheduleConfig(
        recipe=TOY_RECIPE, model_name_or_path="toy", token_limits=[90, 70], output_root=str(tmp_path)
    )
    command = round_command(config, 2, 70, str(tmp_path / "round1"), ["--max_steps", "3"])
    assert command[command.index("--model_name_or_path") + 1] == str(tmp_path / "round1")
    assert command[command.index("--token_limit") + 1] == "70"
    assert command[command.index("--output_dir") + 1] == str(tmp_path / "round2")
    assert command[-2:] == ["--max_steps", "3"]


@pytest.mark.slow
def test_schedule_resumes_and_keeps_finished_rounds_when_a_later_one_fails(coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    config = ScheduleConfig(
        recipe=TOY_RECIPE, model_name_or_path=str(model), token_limits=[24, 600], output_root=str(tmp_path)
    )
    # Round 2 cannot start: its limit plus the prompt cap exceeds the tiny model's 512-token context.
    with pytest.raises(UserError, match="round 2 failed.*finished rounds are intact"):
        run_schedule(config, training_options(problems))
    record = json.loads((tmp_path / "round1" / ROUND_RECORD).read_text())
    assert not (tmp_path / "round2" / ROUND_RECORD).exists()

    # Fixed and re-run: round 1 is skipped (its record untouched), round 2 trains from round 1.
    config.token_limits = [24, 20]
    rounds = run_schedule(config, training_options(problems))
    assert json.loads((rounds[0] / ROUND_RECORD).read_text()) == record
    second = json.loads((rounds[1] / ROUND_RECORD).read_text())
    assert (second["round"], second["token_limit"], second["parent"]) == (2, 20, str(tmp_path / "round1"))
    assert second["lineage"] == [str(model), str(tmp_path / "round1")]


@pytest.mark.parametrize("recipe", ["thinkprune.yaml", "thinkprune_beyond_paper.yaml", "thinkprune_vllm_server.yaml"])
def test_faithful_recipes_parse_with_the_papers_numbers(recipe):
    path = str(REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / recipe)
    args, training_args = parse_args(["--config", path, "--use_cpu", "true", "--bf16", "false"])
    assert (args.token_limit, args.max_prompt_length, args.truncation) == (4000, 768, "zero")
    assert training_args.num_generations == 16 and training_args.learning_rate == 1e-6
    assert args.rollouts_per_step == 128 * 16  # one process here: 16 per device x 128 accumulation steps
    assert batch_arithmetic(args, training_args)["rollouts_per_step"] == 128 * 16
    assert resolve_batch(args.rollouts_per_step, 16, 8, training_args.per_device_train_batch_size) == (16, 16)
    assert (training_args.weight_decay, training_args.max_grad_norm, training_args.max_steps) == (0.01, 1.0, 180)
    assert (training_args.temperature, training_args.top_p, training_args.beta) == (1.0, 1.0, 0.0)


def test_a_colocated_vllm_context_shorter_than_prompt_and_limit_is_refused():
    """vLLM ends a sequence at its context without an error: rollouts would be cut before the limit and earn 0."""
    recipe = str(REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / "thinkprune.yaml")
    argv = ["--config", recipe, "--use_cpu", "true", "--bf16", "false"]
    with pytest.raises(UserError, match=r"vllm_max_model_length 4768 is shorter than .* = 6768: .* 6768$"):
        validate(*parse_args([*argv, "--token_limit", "6000"]))
    validate_vllm_context(*parse_args(argv))  # the recipe's 768 + 4000
    validate_vllm_context(*parse_args([*argv, "--token_limit", "6000", "--vllm_max_model_length", "6768"]))
    # A vLLM server has its own context (trl vllm-serve --max_model_len), which the round cannot read.
    validate_vllm_context(*parse_args([*argv, "--token_limit", "6000", "--vllm_mode", "server"]))


def test_lineage_continues_from_a_parent_on_the_hub(local_hub, tmp_path):
    parent = RoundRecord(1, 160, "toy", "toy", ["toy"], finished_at="2026-01-01T00:00:00+00:00")
    local_hub.create_repo("alice/toy-thinkprune-160", {ROUND_RECORD: json.dumps(parent.to_dict()).encode()})
    local_hub.create_repo("alice/plain-model", {"config.json": b"{}"})
    assert lineage_of("alice/toy-thinkprune-160") == ("toy", ["toy", "alice/toy-thinkprune-160"])
    assert lineage_of("alice/plain-model") == ("alice/plain-model", ["alice/plain-model"])


def test_accelerate_launch_on_a_cpu_only_machine_uses_its_cores(monkeypatch):
    from train import round as thinkprune_round

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    _, training_args = parse_args([])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    thinkprune_round.use_machine_cores(training_args)  # `python train/round.py` with one thread: the caller's choice
    assert threads == []
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # what `accelerate launch` sets, with OMP_NUM_THREADS=1
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    thinkprune_round.use_machine_cores(training_args)
    assert threads == [4]  # the cores shared by the processes of this machine


def test_a_machine_other_than_the_main_one_waits_for_its_record(tmp_path, monkeypatch):
    import train.schedule as schedule

    config = ScheduleConfig(
        recipe=TOY_RECIPE, model_name_or_path="toy", token_limits=[200], output_root=str(tmp_path),
        launch_args="--num_machines 2 --machine_rank 1 --main_process_ip 127.0.0.1", record_timeout=0,
    )  # fmt: skip
    assert schedule.machine_rank(config) == 1
    monkeypatch.setattr(schedule.subprocess, "run", lambda command: subprocess.CompletedProcess(command, 0))
    with pytest.raises(UserError, match="did not appear within 0 s: is output_root on a filesystem every machine"):
        run_schedule(config)
    with pytest.raises(UserError, match="must be a number, got 'one'"):
        schedule.machine_rank(
            ScheduleConfig(TOY_RECIPE, "toy", str(tmp_path), [200], launch_args="--machine_rank one")
        )
