"""The real recipe on a real GPU, in minutes: one training step at R1-Distill-Qwen-1.5B's size, then the evaluation
of that model by both generation backends, checked against each other.

    bash scripts/gpu_check.sh                                    # on a CUDA machine, from the checkout, full size
    WHEELHOUSE=wheelhouse bash scripts/gpu_check.sh              # an air-gapped node (scripts/prepare_wheelhouse.py)
    python scripts/gpu_check.py --full_size false --output results/gpu_check/cpu.json   # the CPU-sized variant (CI)

1. One optimizer step of recipes/DeepSeek-R1-Distill-Qwen-1.5B/thinkprune.yaml through train/round.py: the model
   has R1-Distill-Qwen-1.5B's config (1.78B parameters) with random weights, stored in bfloat16 as R1-Distill ships
   (so that both evaluation backends read it in bfloat16), and the locally built R1-style tokenizer
   of scripts/dry_run.py (nothing is downloaded; `--model DIR` uses a local checkpoint instead); its real prompt cap
   and limit, 16 samples per prompt, vLLM colocated on the GPU where vLLM is installed, else transformers
   generation on the GPU. One GPU and no DeepSpeed, so float32 weights in bf16 autocast (the precision guard
   refuses bf16 weights without ZeRO). On CPU: the tiny model, transformers generation, a short limit.
2. The evaluation harness on 8 problems with vLLM and with transformers (greedy, the same seed): every problem's
   finished flag and generated token count must agree between the two (where vLLM is not installed, transformers
   is checked against itself).
3. On a machine with several GPUs, data-parallel evaluation (eval/parallel.py): the same evaluation (sampled, 4
   samples per problem) by one process and by `accelerate launch --multi_gpu --num_processes <all GPUs>`, timed from
   start to end; the two must draw the same samples (per-sample seeds).
On a GPU the step and each evaluation run in a process of their own, so that each finds the GPU free.
Prints and writes (--output) peak GPU memory, step time and tokens/s of both as JSON; exits 1 when the backends
disagree.
"""

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import yaml
from transformers import HfArgumentParser

from eval.evaluate import EvalConfig, evaluate
from eval.results import SAMPLES_FILE, read_samples
from scripts.dry_run import FAITHFUL_RECIPE, PROBLEMS, peak_rss_mb, write_stand_ins
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.generation import vllm_available
from thinkprune.records import RoundRecord, read_trainer_log
from train import round as thinkprune_round
from train.round import library_versions
from train.schedule import run_apart


REPORT_FORMAT = "thinkprune-gpu-check/1"
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class GPUCheckConfig:
    full_size: bool = field(
        default=True, metadata={"help": "R1-Distill-Qwen-1.5B's size (GPU); false: the dry run's tiny model (CPU)."}
    )
    token_limit: int | None = field(
        default=None, metadata={"help": "Rollout limit of the step (default: the recipe's 4000 on GPU, 64 on CPU)."}
    )
    eval_problems: int = field(default=8, metadata={"help": "Problems the two backends evaluate."})
    eval_max_new_tokens: int = field(default=512, metadata={"help": "Token budget of the evaluation."})
    model: str | None = field(
        default=None, metadata={"help": "A local checkpoint to check instead of the random-weight stand-in."}
    )
    output: str | None = field(default=None, metadata={"help": "Also write the report (JSON) here."})
    seed: int = field(default=0, metadata={"help": "Seed of the stand-in weights, the step and the evaluation."})


def train_one_step(checkpoint: Path, problems: Path, output_dir: Path, config: GPUCheckConfig, gpu: bool) -> dict:
    limit = config.token_limit or (4000 if gpu else 64)
    use_vllm = gpu and vllm_available()
    # The recipe's engine context holds its prompt cap and its 4000-token limit: a larger --token_limit needs more.
    context = yaml.safe_load(FAITHFUL_RECIPE.read_text())["max_prompt_length"] + limit
    device = (
        ["--use_vllm", "true", "--vllm_mode", "colocate", "--vllm_max_model_length", str(context)]
        + ["--dtype", "float32", "--bf16", "true"]
        if use_vllm
        else [
            "--use_cpu",
            str(not gpu).lower(),
            "--use_vllm",
            "false",
            "--dtype",
            "float32",
            "--bf16",
            str(gpu).lower(),
        ]
    )
    argv = [
        "--config", str(FAITHFUL_RECIPE), "--model_name_or_path", str(checkpoint), "--dataset_name", str(problems),
        "--output_dir", str(output_dir), "--token_limit", str(limit), "--max_steps", "1", "--logging_steps", "1",
        "--rollouts_per_step", "16", "--per_device_train_batch_size", "16", "--save_strategy", "no",
        "--report_to", "none", "--seed", str(config.seed), *device,
    ]  # fmt: skip
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    thinkprune_round.main(argv)
    seconds = time.perf_counter() - start
    step = next(entry for entry in read_trainer_log(output_dir) if "completions/mean_length" in entry)
    record = RoundRecord.read(output_dir)
    tokens = step["completions/mean_length"] * record.batch["rollouts_per_step"]
    return {
        "token_limit": limit,
        "generation": "vllm colocate" if use_vllm else "transformers",
        "rollouts": record.batch["rollouts_per_step"],
        "step_seconds": round(step["step_time"], 2),
        "round_seconds": round(seconds, 2),
        "tokens_generated": round(tokens),
        "tokens_per_second": round(tokens / step["step_time"], 1),
        "mean_completion_length": step["completions/mean_length"],
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None,
    }


def evaluate_with(
    backend: str, checkpoint: Path, problems: Path, output_dir: Path, config: GPUCheckConfig, gpu: bool
) -> dict:
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    evaluate(
        EvalConfig(
            model=str(checkpoint),
            benchmarks="math500",
            data_files=f"math500={problems}",
            limit=config.eval_problems,
            num_samples=1,
            temperature=0.0,  # greedy: both backends must generate the same ids
            max_new_tokens=config.eval_max_new_tokens,
            seed=config.seed,
            backend=backend,
            output_dir=str(output_dir),
        )
    )
    samples = sorted(read_samples(output_dir / SAMPLES_FILE), key=lambda sample: sample["problem_index"])
    tokens = sum(sample["num_tokens"] for sample in samples)
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "tokens_per_second": round(tokens / (time.perf_counter() - start), 1),
        "finished": [sample["finished"] for sample in samples],
        "num_tokens": [sample["num_tokens"] for sample in samples],
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None,
    }


def data_parallel_scaling(checkpoint: Path, problems: Path, root: Path, config: GPUCheckConfig) -> dict:
    """One process against one per GPU, on the same sampled evaluation, each a fresh command (engines load too)."""
    gpus = torch.cuda.device_count()
    options = [
        "eval/evaluate.py", "--model", str(checkpoint), "--benchmarks", "math500",
        "--data_files", f"math500={problems}", "--limit", str(config.eval_problems), "--num_samples", "4",
        "--max_new_tokens", str(config.eval_max_new_tokens), "--seed", str(config.seed),
    ]  # fmt: skip
    launchers = {1: [sys.executable], gpus: [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]}
    launchers[gpus] += ["--num_processes", str(gpus)]
    runs = {}
    for processes, launcher in launchers.items():
        output_dir = root / f"eval-{processes}-processes"
        start = time.perf_counter()
        completed = subprocess.run(
            launcher + options + ["--output_dir", str(output_dir)], cwd=REPO_ROOT, capture_output=True, text=True
        )
        seconds = time.perf_counter() - start
        if completed.returncode != 0:
            raise UserError(f"the {processes}-process evaluation failed: {completed.stderr[-2000:]}")
        samples = read_samples(output_dir / SAMPLES_FILE)
        tokens = sum(sample["num_tokens"] for sample in samples)
        runs[processes] = {
            "seconds": round(seconds, 2),
            "tokens_per_second": round(tokens / seconds, 1),
            "token_ids": [sample["token_ids"] for sample in samples],
        }
    one, every = runs[1], runs[gpus]
    return {
        "gpus": gpus,
        "seconds": {"1 process": one["seconds"], f"{gpus} processes": every["seconds"]},
        "tokens_per_second": {"1 process": one["tokens_per_second"], f"{gpus} processes": every["tokens_per_second"]},
        "speedup": round(one["seconds"] / every["seconds"], 2),
        "same_samples": one["token_ids"] == every["token_ids"],
    }


def run_part(gpu: bool, function, *args):
    """`function(*args)`; on a GPU in a process of its own (`run_apart`), which gives back the GPU memory it held when
    it ends. vLLM starts an engine only where `gpu_memory_utilization` (0.9) of the GPU is free, and the step's
    weights, AdamW states and colocated engine, or an evaluation's engine, kept by this process would take it."""
    return run_apart(function, *args) if gpu else function(*args)


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(GPUCheckConfig).parse_args_into_dataclasses(argv)
    gpu = torch.cuda.is_available()
    if config.full_size and not gpu:
        raise UserError("--full_size true needs a CUDA GPU: on CPU run --full_size false (the tiny model)")
    if config.eval_problems > len(PROBLEMS):
        raise UserError(f"eval_problems is at most {len(PROBLEMS)}, the stand-in problems there are")
    if config.model and not Path(config.model, "config.json").is_file():
        raise UserError(f"--model {config.model} is not a local checkpoint (no config.json): pass its directory")
    with tempfile.TemporaryDirectory(prefix="thinkprune-gpu-check-") as tmp:
        root = Path(tmp)
        # With --model only the problems are used: the stand-in is then written tiny, in a moment.
        checkpoint, problems = write_stand_ins(root, config.seed, full_size=config.full_size and not config.model)
        checkpoint = Path(config.model) if config.model else checkpoint
        step = run_part(gpu, train_one_step, checkpoint, problems, root / "round", config, gpu)
        backends = ["vllm", "transformers"] if gpu and vllm_available() else ["transformers", "transformers"]
        runs = [
            run_part(gpu, evaluate_with, name, checkpoint, problems, root / f"eval-{i}", config, gpu)
            for i, name in enumerate(backends)
        ]
        scaling = data_parallel_scaling(checkpoint, problems, root, config) if torch.cuda.device_count() > 1 else None
    agree = runs[0]["finished"] == runs[1]["finished"] and runs[0]["num_tokens"] == runs[1]["num_tokens"]
    report = {
        "format": REPORT_FORMAT,
        "device": torch.cuda.get_device_name() if gpu else f"cpu ({os.cpu_count()} cores)",
        "model": config.model
        or ("R1-Distill-Qwen-1.5B config, random weights" if config.full_size else "tiny R1-style stand-in"),
        "train_step": step,
        "evaluation": {"backends": backends, "runs": runs, "finished_and_tokens_agree": agree},
        "data_parallel": scaling,  # null with fewer than two GPUs
        "peak_rss_mb": peak_rss_mb(),
        "platform": platform.platform(),
        "versions": library_versions(),
    }
    print(json.dumps(report, indent=2))
    if config.output:
        write_json_atomic(Path(config.output), report)
    if not agree:
        print("error: the two backends disagree on finished flags or token counts (see the report)", file=sys.stderr)
        sys.exit(1)
    return report


if __name__ == "__main__":
    main()
