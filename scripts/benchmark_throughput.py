"""Throughput of the evaluation harness vs a bare batched `model.generate` loop, on the same prompts, in one run.

    python scripts/benchmark_throughput.py --model toy --max_new_tokens 704 --output results/eval_throughput/harness-64.json
    python scripts/benchmark_throughput.py --model toy --max_new_tokens 704 --batch_size 256 \
        --output results/eval_throughput/harness-256.json

Both sides share one loaded model and get the same prompt ids, batches, sampling arguments and per-sample seeds
(`thinkprune.generation.sample_seed`, as the harness seeds every sample), so they generate the same tokens (checked);
the harness (`eval.evaluate.evaluate`) also loads the benchmark, renders the chat prompts, decodes, grades, appends
samples.jsonl and scores, and its generation lets each response leave the batch at its EOS, where `model.generate`
computes it as padding until the batch's longest response ends. The two are timed alternately `repeats` times; the
report gives generated tokens per second of each and the median ratio harness / bare, by wall-clock time and by CPU
time (the latter is the steadier one on a machine shared with other processes).
"""

import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import HfArgumentParser, set_seed

from eval.benchmarks import load_benchmark
from eval.evaluate import EvalConfig, evaluate
from thinkprune.errors import exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.generation import Sampling, TransformersBackend, sample_seed, split_at_eos
from thinkprune.machine import machine_description
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids
from thinkprune.toy import resolve_model_name


@dataclass
class ThroughputConfig:
    model: str = field(default="toy", metadata={"help": "Checkpoint to time (local directory, Hub id or 'toy')."})
    num_problems: int = field(default=64, metadata={"help": "Toy benchmark problems."})
    num_samples: int = field(default=4, metadata={"help": "Samples per problem."})
    max_new_tokens: int = field(default=256, metadata={"help": "Token budget per response."})
    batch_size: int = field(default=64, metadata={"help": "Sequences per generate call, on both sides."})
    repeats: int = field(default=3, metadata={"help": "Timed runs of each side, alternating."})
    seed: int = field(default=0, metadata={"help": "Sampling seed, the same on both sides."})
    output: str | None = field(default=None, metadata={"help": "Also write the report (JSON) here."})
    threads: int | None = field(
        default=None,
        metadata={
            "help": "torch CPU threads (default: torch's). 1 makes CPU time a steady measure of the work on a "
            "machine shared with other processes: no thread spins at a barrier waiting for a descheduled one."
        },
    )


def bare_loop(
    backend: TransformersBackend, prompts: list[list[int]], seeds: list[int], sampling: Sampling, batch_size: int
) -> int:
    """What a user would write: pad, generate, count the new tokens up to EOS. Returns the generated tokens."""
    set_seed(sampling.seed)
    tokens = 0
    for begin in range(0, len(prompts), batch_size):
        input_ids, attention_mask = backend.pad_left(prompts[begin : begin + batch_size])
        kwargs = backend.generate_kwargs(sampling, seeds[begin : begin + batch_size])
        with torch.inference_mode():
            output = backend.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        tokens += sum(
            len(split_at_eos(ids, backend.eos_ids).token_ids) for ids in output[:, input_ids.shape[1] :].tolist()
        )
    return tokens


def harness(backend, config: ThroughputConfig, output_dir: str) -> int:
    results = evaluate(
        EvalConfig(
            model=config.model,
            benchmarks="toy",
            limit=config.num_problems,
            num_samples=config.num_samples,
            max_new_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
            seed=config.seed,
            output_dir=output_dir,
            overwrite=True,
        ),
        backend=backend,
    )
    metrics = results["benchmarks"]["toy"]
    return round(metrics["mean_tokens"] * metrics["num_problems"] * metrics["num_samples"])


def timed(function, *args) -> tuple[int, float, float]:
    """Generated tokens, wall-clock seconds and CPU seconds (all threads of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    tokens = function(*args)
    return tokens, time.perf_counter() - wall, time.process_time() - cpu


def median_ratio(harness_runs: list, bare_runs: list, index: int) -> float:
    """Median over repeats of harness throughput / bare throughput, by wall (index 1) or CPU (index 2) time."""
    return statistics.median((h[0] / h[index]) / (b[0] / b[index]) for b, h in zip(bare_runs, harness_runs))


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(ThroughputConfig).parse_args_into_dataclasses(argv)
    if config.threads:
        torch.set_num_threads(config.threads)
    model_path = resolve_model_name(config.model)
    tokenizer = load_tokenizer(model_path)
    backend = TransformersBackend(model_path, tokenizer)
    rows = load_benchmark("toy", limit=config.num_problems)
    prompts = [
        eval_prompt_ids(tokenizer, row["problem"], EVAL_SUFFIX, None)
        for row in rows
        for _ in range(config.num_samples)
    ]
    seeds = [sample_seed(config.seed, "toy", p, s) for p in range(len(rows)) for s in range(config.num_samples)]
    sampling = Sampling(0.6, 0.95, config.max_new_tokens, config.seed)
    print(
        f"{config.model}: {len(prompts)} sequences, batch {config.batch_size}, {torch.get_num_threads()} threads, "
        f"device {backend.device}",
        file=sys.stderr,
    )

    bare_loop(backend, prompts[: config.batch_size], seeds, sampling, config.batch_size)  # warm-up, untimed
    bare_runs, harness_runs = [], []
    with tempfile.TemporaryDirectory() as output_dir:
        for repeat in range(config.repeats):
            # Alternate which side goes first, so that a warming (or loaded) machine favours neither.
            order = ("bare", "harness") if repeat % 2 == 0 else ("harness", "bare")
            for side in order:
                if side == "bare":
                    bare_runs.append(timed(bare_loop, backend, prompts, seeds, sampling, config.batch_size))
                else:
                    harness_runs.append(timed(harness, backend, config, output_dir))
            (tokens, bare_s, bare_cpu), (_, harness_s, harness_cpu) = bare_runs[-1], harness_runs[-1]
            print(
                f"repeat {repeat + 1}: bare {tokens / bare_s:,.0f} tok/s ({bare_s:.1f} s wall, {bare_cpu:.1f} s CPU), "
                f"harness {tokens / harness_s:,.0f} tok/s ({harness_s:.1f} s wall, {harness_cpu:.1f} s CPU), "
                f"ratio {bare_s / harness_s:.3f} wall, {bare_cpu / harness_cpu:.3f} CPU"
            )
    if any(b[0] != h[0] for b, h in zip(bare_runs, harness_runs)):
        print("warning: the two sides generated different numbers of tokens", file=sys.stderr)
    report = {
        "bare_tokens_per_s": statistics.median(b[0] / b[1] for b in bare_runs),
        "harness_tokens_per_s": statistics.median(h[0] / h[1] for h in harness_runs),
        "ratio_wall": median_ratio(harness_runs, bare_runs, 1),
        "ratio_cpu": median_ratio(harness_runs, bare_runs, 2),
        "tokens_per_run": bare_runs[0][0],
        "bare_seconds": [round(run[1], 2) for run in bare_runs],
        "harness_seconds": [round(run[1], 2) for run in harness_runs],
    }
    print(
        f"{report['tokens_per_run']:,} tokens per run; median over {config.repeats} repeats: bare "
        f"{report['bare_tokens_per_s']:,.0f} tok/s, harness "
        f"{report['harness_tokens_per_s']:,.0f} tok/s; harness/bare {report['ratio_wall']:.3f} by wall-clock time, "
        f"{report['ratio_cpu']:.3f} by CPU time"
    )
    if config.output:
        write_json_atomic(
            Path(config.output),
            {"config": asdict(config), "machine": machine_description(), "threads": torch.get_num_threads(), **report},
        )
    return report


if __name__ == "__main__":
    main()
