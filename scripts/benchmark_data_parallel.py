"""Data-parallel evaluation on CPU: 2 processes x 1 thread against 1 process x 2 threads, on the same samples.

    python scripts/benchmark_data_parallel.py --output results/eval_throughput/data_parallel.json

Both sides run the real command (`python eval/evaluate.py`, and `accelerate launch --multi_gpu --num_processes 2
eval/evaluate.py` on gloo) on the toy benchmark, alternating `repeats` times, and are timed from start to end
(imports and model loading included: what a user waits for); both draw the same samples (every sample has its own
seed; checked token for token). The merge is timed apart: the two-process run's samples split back into the shards
it wrote, then `eval.parallel.merge_shards`. Meant for an otherwise idle machine: on a shared one, wall-clock times
measure the neighbours too.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from transformers import HfArgumentParser

from eval import parallel
from eval.results import SAMPLES_FILE, read_samples, write_samples
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.toy import TOY_MAX_NEW_TOKENS


@dataclass
class DataParallelConfig:
    model: str = field(default="toy", metadata={"help": "Checkpoint to evaluate (local directory or 'toy')."})
    num_problems: int = field(default=200, metadata={"help": "Toy benchmark problems."})
    num_samples: int = field(default=4, metadata={"help": "Samples per problem."})
    max_new_tokens: int = field(default=TOY_MAX_NEW_TOKENS, metadata={"help": "Token budget per response."})
    batch_size: int = field(default=64, metadata={"help": "Sequences per generate call, in every process."})
    repeats: int = field(default=3, metadata={"help": "Timed runs of each side, alternating."})
    output: str | None = field(default=None, metadata={"help": "Also write the report (JSON) here."})


def evaluate_command(config: DataParallelConfig, output_dir: Path) -> list[str]:
    return [
        "eval/evaluate.py", "--model", config.model, "--benchmarks", "toy", "--limit", str(config.num_problems),
        "--num_samples", str(config.num_samples), "--max_new_tokens", str(config.max_new_tokens),
        "--batch_size", str(config.batch_size), "--backend", "transformers", "--output_dir", str(output_dir),
    ]  # fmt: skip


SIDES = {
    "1 process x 2 threads": ([sys.executable], "2"),
    "2 processes x 1 thread": ([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"], "1"),
}  # fmt: skip


def run_side(side: str, config: DataParallelConfig, output_dir: Path) -> float:
    """Wall-clock seconds of one evaluation from scratch."""
    launcher, threads = SIDES[side]
    env = {**os.environ, "OMP_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false"}
    start = time.perf_counter()
    completed = subprocess.run(
        launcher + evaluate_command(config, output_dir), cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        raise UserError(f"{side} failed: {completed.stderr.strip().splitlines()[-1]}")
    return seconds


def merge_seconds(samples_path: Path, world_size: int) -> float:
    """Split a run's samples into the shards `world_size` processes write, and time their merge."""
    with tempfile.TemporaryDirectory() as tmp:
        samples = read_samples(samples_path)
        for rank in range(world_size):
            write_samples(Path(tmp) / f"samples.rank-{rank}-of-{world_size}.jsonl", samples[rank::world_size])
        start = time.perf_counter()
        parallel.merge_shards(Path(tmp))
        return time.perf_counter() - start


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(DataParallelConfig).parse_args_into_dataclasses(argv)
    seconds = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {side: Path(tmp) / f"run-{index}" for index, side in enumerate(SIDES)}
        for repeat in range(config.repeats):
            # Alternate which side goes first, so that a warming (or loaded) machine favours neither.
            for side in list(SIDES) if repeat % 2 == 0 else list(SIDES)[::-1]:
                seconds[side].append(run_side(side, config, runs[side] / str(repeat)))
                print(f"repeat {repeat + 1}: {side}: {seconds[side][-1]:.1f} s", file=sys.stderr)
        one, two = (read_samples(runs[side] / "0" / SAMPLES_FILE) for side in SIDES)
        tokens = sum(sample["num_tokens"] for sample in one)
        two_path = runs["2 processes x 1 thread"] / "0" / SAMPLES_FILE
        report = {
            "config": asdict(config),
            "cpu_count": os.cpu_count(),
            "samples": len(one),
            "tokens_per_run": tokens,
            "same_samples": [s["token_ids"] for s in one] == [s["token_ids"] for s in two],
            "seconds": {side: statistics.median(values) for side, values in seconds.items()},
            "seconds_all": seconds,
            "tokens_per_s": {side: tokens / statistics.median(values) for side, values in seconds.items()},
            "merge_seconds": merge_seconds(two_path, 2),
            "samples_file_mb": two_path.stat().st_size / 2**20,
        }
    report["speedup_2_processes"] = (
        report["seconds"]["1 process x 2 threads"] / report["seconds"]["2 processes x 1 thread"]
    )
    print(json.dumps(report, indent=2))
    if config.output:
        write_json_atomic(Path(config.output), report)
    return report


if __name__ == "__main__":
    main()
