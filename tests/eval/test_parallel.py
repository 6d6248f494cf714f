"""Data-parallel evaluation: the split, the shards and their merge (fast), then `accelerate launch --multi_gpu
--num_processes 2 eval/evaluate.py` on CPU (gloo) against one process, after a kill, and against a held lock (slow)."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO_ROOT, requires_gpu
from test_budgets import AnsweringBackend
from test_evaluate import ScriptedBackend, read_lines, toy_config

from eval import parallel
from eval.evaluate import EvalConfig, evaluate
from eval.results import outcomes_by_benchmark
from thinkprune.files import exclusive_lock
from thinkprune.generation import Sampling, TransformersBackend, sample_seed
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids


def keys(samples: list[dict]) -> list[tuple]:
    return [(s["benchmark"], s["problem_index"], s["sample_index"]) for s in samples]


def test_every_pair_goes_to_exactly_one_process():
    pairs = [(p, s) for p in range(5) for s in range(3)]
    shares = [parallel.share(pairs, parallel.Processes(rank, 4)) for rank in range(4)]
    assert sorted(pair for share in shares for pair in share) == pairs
    assert [len(share) for share in shares] == [4, 4, 4, 3]
    # 64 samples a problem over 8 processes: 8 of every problem each, long and short problems alike.
    pairs = [(p, s) for p in range(30) for s in range(64)]
    for rank in range(8):
        share = parallel.share(pairs, parallel.Processes(rank, 8))
        assert all(sum(p == problem for p, _ in share) == 8 for problem in range(30))


def test_sample_seeds_are_stable_and_distinct():
    assert (
        sample_seed(0, "toy", 3, 1) == sample_seed(0, "toy", 3, 1) == 908741206152379430
    )  # pinned: a change redraws every sample
    seeds = {
        sample_seed(seed, name, p, s)
        for seed in (0, 1)
        for name in ("toy", "aime24")
        for p in range(8)
        for s in range(8)
    }
    assert len(seeds) == 256 and all(0 <= seed < 2**63 for seed in seeds)


def test_shard_paths_and_processes_from_the_launcher(tmp_path, monkeypatch):
    assert parallel.shard_path(tmp_path, parallel.Processes()) == tmp_path / "samples.jsonl"
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("LOCAL_RANK", "1")
    processes = parallel.Processes.from_env()
    assert processes == parallel.Processes(3, 8, 1) and not processes.is_main
    assert parallel.shard_path(tmp_path, processes) == tmp_path / "samples.rank-3-of-8.jsonl"


def test_each_process_sees_only_its_own_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4,5,6,7")
    parallel.pin_gpus(parallel.Processes(5, 8, 1), gpus_per_process=2)  # vLLM tensor parallel over 2 GPUs
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2,3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    with pytest.raises(parallel.UserError, match="launch at most 2 processes per node"):
        parallel.pin_gpus(parallel.Processes(2, 4, 2), gpus_per_process=1)


def split_into_shards(output_dir, world_size: int, torn: bool = False) -> list[dict]:
    """What a data-parallel run killed before its merge leaves: the samples in shards, no samples.jsonl."""
    samples = read_lines(output_dir / "samples.jsonl")
    (output_dir / "samples.jsonl").unlink()
    for rank in range(world_size):
        shard = output_dir / f"samples.rank-{rank}-of-{world_size}.jsonl"
        shard.write_text("".join(json.dumps(s) + "\n" for s in samples[rank::world_size]))
        if torn:
            with shard.open("a") as handle:
                handle.write('{"benchmark": "toy", "probl')
    return samples


def test_merge_keeps_each_sample_once_in_order_and_deletes_the_shards(tiny_checkpoint, tokenizer, tmp_path):
    evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))
    samples = split_into_shards(tmp_path, 2, torn=True)
    # A copy of a sample in an earlier launch's shard (4 processes), as a kill between merge and delete leaves.
    (tmp_path / "samples.rank-3-of-4.jsonl").write_text(json.dumps(samples[0]) + "\n")
    parallel.merge_shards(tmp_path)
    assert read_lines(tmp_path / "samples.jsonl") == samples
    assert parallel.shard_paths(tmp_path) == []


def test_rescore_and_budgets_work_on_the_shards_of_an_unmerged_run(tiny_checkpoint, tokenizer, tmp_path):
    config = toy_config(tiny_checkpoint, tmp_path)
    whole = evaluate(config, backend=ScriptedBackend(tokenizer))
    samples = split_into_shards(tmp_path, 2)

    rescored = evaluate(dataclasses.replace(config, rescore=True))
    assert rescored["complete"] and rescored["benchmarks"]["toy"]["pass@1"] == whole["benchmarks"]["toy"]["pass@1"]
    assert keys(read_lines(tmp_path / "samples.jsonl")) == keys(samples) and parallel.shard_paths(tmp_path) == []

    split_into_shards(tmp_path, 2)
    backend = AnsweringBackend(tokenizer)
    budgeted = evaluate(dataclasses.replace(config, budgets="20,40"), backend=backend)
    assert budgeted["complete"] and backend.generated == len(backend.inputs)  # only forced answers generated
    assert {row["mode"] for row in budgeted["benchmarks"]["toy"]["budgets"]} == {"truncate", "force"}
    assert keys(read_lines(tmp_path / "samples.jsonl")) == keys(samples)


def test_a_reference_stopped_before_its_merge_is_paired_on_all_its_samples(tiny_checkpoint, tokenizer, tmp_path):
    """--reference and eval/compare.py pair runs on their samples: an unmerged run's are in its shards."""
    evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))
    samples = split_into_shards(tmp_path, 2, torn=True)
    outcomes = outcomes_by_benchmark(tmp_path / "results.json")["toy"]
    assert sorted(keys(outcomes)) == sorted(keys(samples)) and set(outcomes[0]) >= {
        "correct",
        "level",
        "problem_index",
    }


@pytest.fixture
def tokenizer(tiny_checkpoint):
    return load_tokenizer(str(tiny_checkpoint))


@pytest.mark.slow
def test_seeded_samples_do_not_depend_on_the_batch(tiny_checkpoint, tokenizer):
    backend = TransformersBackend(str(tiny_checkpoint), tokenizer)
    prompts = [eval_prompt_ids(tokenizer, p, EVAL_SUFFIX, None) for p in ("What is 1 + 2?", "What is 100 + 23456?")]
    sampling = Sampling(temperature=1.0, top_p=0.95, max_new_tokens=12, seed=0)
    seeds = [sample_seed(0, "toy", p, s) for p in range(2) for s in range(2)]
    batched = backend.generate([prompts[0], prompts[0], prompts[1], prompts[1]], sampling, seeds)
    alone = [backend.generate([prompts[index // 2]], sampling, [seed])[0] for index, seed in enumerate(seeds)]
    assert batched == alone
    assert batched[0] != batched[1]  # two samples of one prompt: two streams


# -- real launches: two processes on CPU (gloo) ---------------------------------------------------------------------


def evaluate_options(model, output_dir, *extra: str) -> list[str]:
    return [
        "eval/evaluate.py", "--model", str(model), "--benchmarks", "toy", "--num_samples", "2",
        "--output_dir", str(output_dir), *extra,
    ]  # fmt: skip


def launch_command(model, output_dir, *extra: str) -> list[str]:
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    return launcher + evaluate_options(model, output_dir, *extra)


def run_launch(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_two_processes_draw_the_samples_of_one(tiny_checkpoint, tmp_path):
    options = ["--limit", "3", "--max_new_tokens", "8"]
    launched = run_launch(launch_command(tiny_checkpoint, tmp_path / "two", *options))
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert launched.stdout.count("| toy | 3 x 2 |") == 1  # the main process reports, once

    one = evaluate(
        EvalConfig(
            model=str(tiny_checkpoint),
            benchmarks="toy",
            num_samples=2,
            limit=3,
            max_new_tokens=8,
            output_dir=str(tmp_path / "one"),
        )
    )
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    samples = read_lines(tmp_path / "two" / "samples.jsonl")
    assert keys(samples) == [("toy", p, s) for p in range(3) for s in range(2)]  # none missing, none twice, in order
    assert two["complete"] and json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2
    assert parallel.shard_paths(tmp_path / "two") == []
    # Each sample seeded by its own key: the same responses as one process, so the same metrics.
    assert [s["token_ids"] for s in samples] == [
        s["token_ids"] for s in read_lines(tmp_path / "one" / "samples.jsonl")
    ]
    for metric in ("pass@1", "mean_tokens", "truncation_rate"):
        assert two["benchmarks"]["toy"][metric] == one["benchmarks"]["toy"][metric]


def rank_pid(launcher_pid: int, rank: int) -> int | None:
    """The worker of `rank` among the launcher's children (torchrun sets RANK in each worker's environment)."""
    import psutil

    for child in psutil.Process(launcher_pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == str(rank) and "eval/evaluate.py" in " ".join(child.cmdline()):
                return child.pid
        except psutil.Error:
            continue
    return None


@pytest.mark.slow
def test_a_killed_process_resumes_its_shard_and_nothing_is_duplicated(tiny_checkpoint, tmp_path):
    output_dir = tmp_path / "out"
    command = launch_command(
        tiny_checkpoint, output_dir, "--limit", "12", "--max_new_tokens", "24", "--batch_size", "1"
    )
    launcher = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    shard = output_dir / "samples.rank-1-of-2.jsonl"
    deadline = time.monotonic() + 300
    while not (shard.exists() and len(shard.read_text().splitlines()) >= 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = rank_pid(launcher.pid, 1)
    assert pid is not None, "rank 1 not found among the launcher's processes"
    os.kill(pid, signal.SIGKILL)
    output, _ = launcher.communicate(timeout=300)
    assert launcher.returncode != 0, output[-3000:]

    # Mark what survived the kill: the second launch must keep these samples, not draw them again.
    survivors = 0
    for path in parallel.shard_paths(output_dir):
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]
        path.write_text("".join(json.dumps({**sample, "kept": True}) + "\n" for sample in lines))
        survivors += len(lines)
    assert 2 <= survivors < 24 and not (output_dir / "results.json").exists()

    resumed = run_launch(command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    samples = read_lines(output_dir / "samples.jsonl")
    assert keys(samples) == [("toy", p, s) for p in range(12) for s in range(2)]
    assert sum(sample.get("kept", False) for sample in samples) == survivors
    assert json.loads((output_dir / "results.json").read_text())["complete"] is True
    assert parallel.shard_paths(output_dir) == []


@pytest.mark.slow
def test_a_launch_into_a_directory_another_evaluation_writes_is_refused(tiny_checkpoint, tmp_path):
    with exclusive_lock(tmp_path / ".lock", "held"):  # what a running evaluation's main process holds
        refused = run_launch(launch_command(tiny_checkpoint, tmp_path, "--limit", "2", "--max_new_tokens", "4"))
    assert refused.returncode != 0
    assert refused.stderr.count("error: another evaluation is writing to") == 2  # both processes, at once
    assert sorted(path.name for path in tmp_path.iterdir()) == [".lock"]  # nothing written


def toy_sized_model(path):
    """Toy-sized (head dim 32): vLLM's attention kernels do not take the tiny fixture's head dim of 16."""
    from thinkprune.toy import build_model, build_tokenizer

    tokenizer = build_tokenizer()
    build_model(tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


VLLM_OPTIONS = ["--backend", "vllm", "--limit", "8", "--max_new_tokens", "64", "--temperature", "1.0"]


@pytest.mark.vllm
@requires_gpu
def test_vllm_samples_do_not_depend_on_batches_or_resumes(tmp_path):
    pytest.importorskip("vllm")
    model = toy_sized_model(tmp_path / "model")
    runs = {"whole": [], "batched": ["--batch_size", "5"]}
    for name, extra in runs.items():
        completed = run_launch([sys.executable, *evaluate_options(model, tmp_path / name, *VLLM_OPTIONS, *extra)])
        assert completed.returncode == 0, completed.stderr[-3000:]
    # A resume: half the samples kept, the rest drawn again by a new engine.
    samples = read_lines(tmp_path / "batched" / "samples.jsonl")
    (tmp_path / "batched" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples[::2]))
    completed = run_launch(
        [sys.executable, *evaluate_options(model, tmp_path / "batched", *VLLM_OPTIONS, "--batch_size", "3")]
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    whole, resumed = (
        sorted(read_lines(tmp_path / name / "samples.jsonl"), key=lambda s: s["problem_index"] * 2 + s["sample_index"])
        for name in runs
    )
    assert keys(whole) == keys(resumed) and len(whole) == 16
    assert [s["token_ids"] for s in whole] == [s["token_ids"] for s in resumed]
    assert whole[0]["token_ids"] != whole[1]["token_ids"]  # two samples of one problem: two streams


@pytest.mark.vllm
@requires_gpu
def test_two_vllm_engines_draw_the_samples_of_one(tmp_path):
    pytest.importorskip("vllm")
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("two engines need two GPUs")
    model = toy_sized_model(tmp_path / "model")
    one = run_launch([sys.executable, *evaluate_options(model, tmp_path / "one", *VLLM_OPTIONS)])
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_launch(launch_command(model, tmp_path / "two", *VLLM_OPTIONS))
    assert two.returncode == 0, two.stderr[-3000:]
    first, second = (read_lines(tmp_path / name / "samples.jsonl") for name in ("one", "two"))
    assert keys(first) == keys(second)
    assert [s["token_ids"] for s in first] == [s["token_ids"] for s in second]


@pytest.mark.vllm
@requires_gpu
def test_a_vllm_engine_starts_beside_a_process_with_nothing_to_draw(tmp_path):
    """One sample for two processes: the second draws nothing and starts no engine. An engine forked from the first
    would inherit the launch's gloo group and wait, in its world's setup, for an engine of the second."""
    pytest.importorskip("vllm")
    import torch

    if torch.cuda.device_count() < 2:
        pytest.skip("two processes need two GPUs")
    model = toy_sized_model(tmp_path / "model")
    options = [*VLLM_OPTIONS, "--limit", "1", "--num_samples", "1"]
    launched = run_launch(launch_command(model, tmp_path / "two", *options))
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert len(read_lines(tmp_path / "two" / "samples.jsonl")) == 1
