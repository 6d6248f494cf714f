"""Data-parallel evaluation: `accelerate launch --num_processes N eval/evaluate.py ...` runs one engine per process.

As lighteval and lm-eval-harness distribute requests over data-parallel engines, every (problem, sample) pair goes to
one process, round-robin over the pairs in problem-major order (every process gets its share of every problem: long
and short problems balance). Unlike them, nothing is held in memory until the end: every process appends its samples
to its own shard, `samples.rank-K-of-N.jsonl`, so a kill of any process loses at most the batch in flight and the
same command resumes every shard. Each sample draws from its own seed (`thinkprune.generation.sample_seed`), so the
split does not change what is drawn.

The processes only talk at the start (the main process owns the directory: its lock, run.json; the others learn
whether it could) and after each benchmark (a barrier, then the main process scores); a gloo process group with a
timeout long enough for any generation, since the processes of one benchmark finish minutes to hours apart. At the
end the main process merges the shards into the one `samples.jsonl` a single process writes, and deletes them.
"""

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from eval.results import SAMPLES_FILE, read_all_samples, shard_paths, write_samples
from thinkprune.errors import UserError


# A barrier waits for the slowest process of a benchmark: hours at 32k tokens. A process that dies closes its
# connection and fails the barrier at once; only a hung one waits this long.
BARRIER_TIMEOUT = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "Processes":
        """This process's place, as `accelerate launch` (torchrun) sets it; one process without a launcher."""
        return cls(
            int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))
        )


def pin_gpus(processes: Processes, gpus_per_process: int) -> None:
    """Show this process only its own GPUs (by local rank, `gpus_per_process` each: vLLM's tensor_parallel_size),
    before anything initialises CUDA: every engine then uses its "first" GPU, vLLM's engine process included."""
    if processes.world_size == 1:
        return
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    devices = visible.split(",") if visible else [str(index) for index in range(torch.cuda.device_count())]
    if not devices:  # CPU: nothing to pin
        return
    first = processes.local_rank * gpus_per_process
    if first + gpus_per_process > len(devices):
        raise UserError(
            f"local process {processes.local_rank} needs GPUs {first}-{first + gpus_per_process - 1} but this node "
            f"has {len(devices)}: launch at most {len(devices) // gpus_per_process} processes per node"
        )
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices[first : first + gpus_per_process])


def start(processes: Processes) -> None:
    if processes.world_size > 1 and not dist.is_initialized():
        # gloo: the processes only exchange a few bytes, on any machine, GPU or not.
        dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)


def main_first(processes: Processes, action) -> None:
    """Run `action` on the main process only; the others wait for it, and every process raises the UserError it
    raised (e.g. the directory is another run's, or another evaluation writes to it)."""
    error = None
    if processes.is_main:
        try:
            action()
        except UserError as raised:
            error = str(raised)
            if processes.world_size == 1:
                raise
    if processes.world_size > 1:
        message = [error]
        dist.broadcast_object_list(message, src=0)
        error = message[0]
    if error:
        raise UserError(error)


def wait_for_all(processes: Processes) -> None:
    if processes.world_size > 1:
        dist.barrier()


def finish(processes: Processes) -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def share(pairs: list, processes: Processes) -> list:
    """This process's pairs: every world_size-th, from its rank on."""
    return pairs[processes.rank :: processes.world_size]


def shard_path(output_dir: Path, processes: Processes) -> Path:
    """Where this process appends its samples: samples.jsonl itself for a single process."""
    if processes.world_size == 1:
        return output_dir / SAMPLES_FILE
    return output_dir / f"samples.rank-{processes.rank}-of-{processes.world_size}.jsonl"


def merge_shards(output_dir: Path) -> None:
    """Fold every shard into samples.jsonl (each sample once; benchmarks in the order first met, problems and samples
    in order: a fresh run's file is the one a single process writes), then delete the shards. A kill in between
    leaves copies that the next merge drops."""
    shards = shard_paths(output_dir)
    if not shards:
        return
    samples = read_all_samples(output_dir)
    benchmarks = list(dict.fromkeys(sample["benchmark"] for sample in samples))
    samples.sort(key=lambda s: (benchmarks.index(s["benchmark"]), s["problem_index"], s["sample_index"]))
    write_samples(output_dir / SAMPLES_FILE, samples)
    for shard in shards:
        shard.unlink()
