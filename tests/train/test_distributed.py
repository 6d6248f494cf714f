"""Several processes, as users run them: `accelerate launch --multi_gpu` on a CPU-only machine (gloo), a schedule of
two rounds over two processes, and two "machines" on one host over loopback."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from trl import GRPOConfig

from thinkprune.records import ROUND_RECORD, ROUND_STATE, RoundRecord
from train.round import parse_args, run_identity


pytest_plugins = ["hub_server"]
pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCH_AND_HASH = Path(__file__).with_name("launch_round_and_hash.py")
LAUNCH_DECISIONS = Path(__file__).with_name("launch_round_decisions.py")


def round_options(model, problems, output_dir) -> list[str]:
    return [
        "--config", str(REPO_ROOT / "recipes" / "toy" / "round.yaml"),
        "--model_name_or_path", str(model),
        "--dataset_name", str(problems),
        "--token_limit", "24", "--max_prompt_length", "64", "--max_steps", "2",
        "--num_generations", "4", "--rollouts_per_step", "16", "--per_device_train_batch_size", "8",
        "--learning_rate", "1e-3", "--weight_decay", "0.0", "--logging_steps", "1",
        "--output_dir", str(output_dir),
    ]  # fmt: skip


def launch(launcher_args: list[str], script: Path, args: list[str], env: dict | None = None, **popen):
    command = [sys.executable, "-m", "accelerate.commands.launch", *launcher_args, str(script), *args]
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(process, timeout=600) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-5000:]
    assert "SIGABRT" not in output and "Traceback" not in output
    return output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_the_recipes_rollouts_and_publish_once(local_hub, coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    output_dir, hashes = tmp_path / "round1", tmp_path / "hashes"
    hashes.mkdir()
    env = {**os.environ, "WEIGHTS_HASH_DIR": str(hashes), "HF_HUB_OFFLINE": "0"}
    options = [*round_options(model, problems, output_dir), "--push_to_hub", "true", "--hub_model_id", "alice/mp"]
    output = finish(launch(["--multi_gpu", "--num_processes", "2"], LAUNCH_AND_HASH, options, env))

    record = RoundRecord.read(output_dir)
    assert record.batch == {
        "world_size": 2,
        "rollouts_per_step": 16,  # what one process would do: 1 x 16 rollouts
        "num_generations": 4,
        "prompts_per_step": 4,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 1,
    }
    assert "2 processes x 8 rollouts x 1 accumulation = 16 rollouts" in output
    assert local_hub.count("commit") == 1  # only the main process pushes
    assert output.count("Round 1 finished") == 1  # and writes the record
    first, second = (hashes / "rank0.sha256").read_text(), (hashes / "rank1.sha256").read_text()
    assert first == second  # data parallel: both ranks hold the same weights after the last step
    assert "processes: 2" in (output_dir / "README.md").read_text()


def test_two_processes_measure_difficulty_once_and_train_with_the_same_limits(coin_flip_checkpoint, tmp_path):
    """Each process measures its half of the problems (not the main process all of them while the others wait):
    gathered, every process trains with the same per-problem limits, and the main process keeps the measurement."""
    model, problems = coin_flip_checkpoint
    output_dir, hashes = tmp_path / "round1", tmp_path / "hashes"
    hashes.mkdir()
    difficulty = ["--difficulty_aware_limits", "true", "--difficulty_min_limit", "16", "--difficulty_num_samples", "2"]
    options = [*round_options(model, problems, output_dir), *difficulty]
    env = {**os.environ, "WEIGHTS_HASH_DIR": str(hashes)}
    finish(launch(["--multi_gpu", "--num_processes", "2"], LAUNCH_AND_HASH, options, env))

    assert [(hashes / f"rank{rank}.measured").read_text() for rank in (0, 1)] == ["4", "4"]
    first, second = (json.loads((hashes / f"rank{rank}.limits.json").read_text()) for rank in (0, 1))
    assert first == second and len(first) == 8 and all(16 <= limit <= 24 for limit in first)
    measured = json.loads((output_dir / "difficulty_measurement.json").read_text())
    assert (measured["num_problems"], measured["num_processes"], len(measured["problems"])) == (8, 2, 8)
    assert (hashes / "rank0.sha256").read_text() == (hashes / "rank1.sha256").read_text()
    assert RoundRecord.read(output_dir).difficulty["limits"]["mean"] == sum(first) / 8


def test_every_process_decides_from_the_directory_the_main_process_checked(tmp_path, monkeypatch):
    """The main process alone checks (and under --overwrite_output_dir empties) the output directory: the others
    must not read it before, nor go on when it refused. Training is replaced by a note of who would train."""
    output_dir, decisions = tmp_path / "round1", tmp_path / "decisions"
    decisions.mkdir()
    env = {**os.environ, "DECISIONS_DIR": str(decisions)}
    options = ["--output_dir", str(output_dir), "--overwrite_output_dir", "true"]
    # A trained round of this run, to be replaced: a process reading it before it is gone would publish, not train.
    # (Its identity as two processes compute it: trl derives the generation batch from the world size.)
    monkeypatch.setattr(GRPOConfig, "world_size", property(lambda self: 2))
    output_dir.mkdir()
    (output_dir / ROUND_STATE).write_text(
        json.dumps({"identity": run_identity(*parse_args(options)), "trained": True, "record": {}})
    )
    finish(launch(["--multi_gpu", "--num_processes", "2"], LAUNCH_DECISIONS, options, env))
    assert sorted(path.name for path in decisions.iterdir()) == ["rank0", "rank1"]
    assert not output_dir.exists()

    # A finished round, refused by the main process: no other process may go on (and then wait for it forever).
    for note in decisions.iterdir():
        note.unlink()
    output_dir.mkdir()
    (output_dir / ROUND_RECORD).write_text("{}")
    refused = launch(["--multi_gpu", "--num_processes", "2"], LAUNCH_DECISIONS, ["--output_dir", str(output_dir)], env)
    output, _ = refused.communicate(timeout=300)
    assert refused.returncode != 0 and output.count("error: ") >= 2 and "already holds a finished round" in output
    assert list(decisions.iterdir()) == []


def test_dynamic_sampling_over_two_processes_agrees_on_its_rounds(coin_flip_checkpoint, tmp_path):
    """Groups of 2 coin flips are all-equal half the time, so steps generate again: both processes must run the same
    rounds (each is a collective) or the launch hangs; the timeout turns a deadlock into a failure."""
    model, problems = coin_flip_checkpoint
    output_dir, hashes = tmp_path / "round1", tmp_path / "hashes"
    hashes.mkdir()
    options = [*round_options(model, problems, output_dir), "--num_generations", "2", "--dynamic_sampling", "true"]
    env = {**os.environ, "WEIGHTS_HASH_DIR": str(hashes)}
    finish(launch(["--multi_gpu", "--num_processes", "2"], LAUNCH_AND_HASH, options, env), timeout=900)

    record = RoundRecord.read(output_dir)
    assert record.batch["world_size"] == 2 and record.batch["rollouts_per_step"] == 16 and record.global_step == 2
    sampling = record.dynamic_sampling
    assert 2 < sampling["generation_rounds"] <= 6  # extra rounds were needed, at most 3 per step
    assert sampling["groups_kept"] + sampling["groups_padded"] == 2 * 8  # every step trained on its 8 groups
    assert (hashes / "rank0.sha256").read_text() == (hashes / "rank1.sha256").read_text()


def test_two_round_schedule_over_two_processes(coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(
        f"recipe: {REPO_ROOT / 'recipes' / 'toy' / 'round.yaml'}\nmodel_name_or_path: {model}\n"
        f"token_limits: [24, 20]\noutput_root: {tmp_path / 'rounds'}\n"
    )
    per_round = round_options(model, problems, "unused")[4:-2]  # the round options but recipe, model, output_dir
    per_round = [arg for arg in per_round if arg not in ("--token_limit", "24")]
    completed = subprocess.run(
        [sys.executable, "train/schedule.py", "--config", str(schedule), "--launch_args=--multi_gpu --num_processes 2"]
        + ["--", *per_round],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    first, second = (RoundRecord.read(tmp_path / "rounds" / f"round{i}") for i in (1, 2))
    assert (first.token_limit, second.token_limit) == (24, 20)
    assert second.parent == str(tmp_path / "rounds" / "round1") and second.lineage == [str(model), second.parent]
    assert first.lineage == [str(model)]
    assert first.batch["world_size"] == second.batch["world_size"] == 2
    assert first.batch["rollouts_per_step"] == second.batch["rollouts_per_step"] == 16


def test_two_machines_on_one_host(coin_flip_checkpoint, tmp_path):
    """`--num_machines 2 --machine_rank 0/1` with the main process on 127.0.0.1: what a two-node launch runs."""
    model, problems = coin_flip_checkpoint
    port = str(free_port())
    machines = [
        launch(
            ["--multi_gpu", "--num_machines", "2", "--num_processes", "2", "--machine_rank", str(rank)]
            + ["--main_process_ip", "127.0.0.1", "--main_process_port", port],
            REPO_ROOT / "train" / "round.py",
            round_options(model, problems, tmp_path / "round1"),
        )
        for rank in (0, 1)
    ]
    outputs = [finish(machine) for machine in machines]
    record = RoundRecord.read(tmp_path / "round1")
    assert record.batch["world_size"] == 2 and record.batch["rollouts_per_step"] == 16
    assert "Round 1 finished" in outputs[0] and "Round 1 finished" not in outputs[1]  # the main machine writes


def test_the_toy_base_is_built_once_by_racing_processes(tmp_path):
    """Every rank of a launch asks for the toy base; the lock lets the first build it and the others wait."""
    builds = tmp_path / "builds.txt"
    script = (
        "import os, sys, time, thinkprune.toy as toy\n"
        "def fake_build(path):\n"
        "    with open(sys.argv[1], 'a') as f: f.write(f'{os.getpid()}\\n')\n"
        "    time.sleep(1); path.mkdir(parents=True); (path / toy.TOY_RECORD).write_text('{}')\n"
        "toy.train_base = fake_build\n"
        "toy.TOY_CHECKPOINTS = toy.Path(sys.argv[2])  # no shipped base: the cache is built\n"
        "print(toy.ensure_toy_base())\n"
    )
    env = {**os.environ, "THINKPRUNE_HOME": str(tmp_path / "home")}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(builds), str(tmp_path / "none")],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    paths = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(builds.read_text().splitlines()) == 1 and paths == {str(tmp_path / "home" / "toy" / "base")}
    assert json.loads((tmp_path / "home" / "toy" / "base" / "toy_record.json").read_text()) == {}
