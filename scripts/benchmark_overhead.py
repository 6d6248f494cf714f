"""What our round costs over a bare trl GRPOTrainer run with the same model, data, limit, steps and seed.

    python scripts/benchmark_overhead.py
    # steadier on a machine shared with other processes (both sides get the same thread count)
    python scripts/benchmark_overhead.py --threads 1
    # any train/round.py override applies to both sides
    python scripts/benchmark_overhead.py --config recipes/toy/round.yaml --max_steps 20 --token_limit 90

Each run is a fresh process, and the two sides alternate (which one goes first flips every repeat):
- `thinkprune`: `python train/round.py` with the recipe, i.e. our whole round: the data pipeline (load the problems,
  render the round's prompts, drop over-long ones), the ThinkPrune reward (every rollout graded with math-verify),
  then the checkpoint, trainer log, round record and model card;
- `bare_trl`: what a plain trl script does: the same GRPOConfig (parsed from the same recipe and overrides), the same
  model loaded the same way, the same prompt rows read from a .jsonl file, a trivial reward of the same shape (1.0
  when a rollout ended on EOS), then `save_model`. (`python scripts/benchmark_overhead.py bare ...` is that side's
  entry point; the benchmark runs it itself.)
Same seed and data order, so the first step's rollouts are identical on both sides (the report checks their mean
length); later
steps differ because the rewards, hence the updates, differ, so the report gives each side's mean completion length.

Writes `<output_dir>/overhead.json` and `<output_dir>/overhead.md`: median wall-clock and CPU seconds (the process
and its threads: steadier on a shared machine) of each side with their min-max, their ratios (goal: <= 1.10) with the
min-max of the repeats' own ratios (a re-run can move the ratio by more than the difference it shows: read it with
that spread), and the load average seen.
"""

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import load_dataset
from transformers import HfArgumentParser, set_seed
from trl import GRPOTrainer

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.paths import REPO_ROOT
from thinkprune.records import TRAINER_LOG
from thinkprune.toy import resolve_model_name
from train.round import DEFAULT_RECIPE, library_versions, parse_args, prepare_dataset


REPORT_FORMAT = "thinkprune-overhead/1"
GOAL = 1.10
SIDES = ("thinkprune", "bare_trl")
BARE_COMMAND = "bare"
DEFAULT_MAX_STEPS = 10


@dataclass
class OverheadConfig:
    config: str = field(default=str(DEFAULT_RECIPE), metadata={"help": "The round recipe (YAML) both sides run."})
    repeats: int = field(default=5, metadata={"help": "Timed runs of each side, alternating."})
    threads: int | None = field(
        default=None, metadata={"help": "CPU threads of every run (OMP_NUM_THREADS; default: torch's)."}
    )
    output_dir: str = field(default="results/overhead", metadata={"help": "Where overhead.json and .md go."})


def finished_reward(eos_token_ids: set[int]):
    """The bare side's reward: the ThinkPrune reward's signature and finished test, without grading."""

    def finished(completions, completion_ids, **kwargs) -> list[float]:
        return [float(bool(ids) and ids[-1] in eos_token_ids) for ids in completion_ids]

    return finished


@exit_on_user_error
def bare_trl_run(prompts_file: str, argv: list[str]) -> None:
    """A plain trl GRPO run under the round's own config, on prompt rows already written to `prompts_file`."""
    args, training_args = parse_args(argv)
    # The two GRPOConfig values train/round.py derives from the limit: without them the configs would differ.
    training_args.max_completion_length = args.token_limit
    training_args.mask_truncated_completions = False
    set_seed(training_args.seed)
    tokenizer = load_tokenizer(args.model_name_or_path)
    model = load_model(args.model_name_or_path, dtype=args.dtype)
    eos_token_ids = model.generation_config.eos_token_id
    eos_token_ids = set(eos_token_ids if isinstance(eos_token_ids, list) else [eos_token_ids])
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=finished_reward((eos_token_ids | {tokenizer.eos_token_id}) - {None}),
        args=training_args,
        train_dataset=load_dataset("json", data_files=prompts_file, split="train"),
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(training_args.output_dir)
    write_json_atomic(Path(training_args.output_dir) / TRAINER_LOG, trainer.state.log_history)


def write_prompts(argv: list[str], path: Path) -> int:
    """The round's prompt rows, built once by our data pipeline, as the bare side's .jsonl; returns their number."""
    args, training_args = parse_args(argv)
    dataset, _ = prepare_dataset(args, training_args.seed, load_tokenizer(args.model_name_or_path))
    dataset.to_json(str(path))
    return len(dataset)


def side_command(side: str, argv: list[str], prompts_file: Path, output_dir: Path) -> list[str]:
    script = [str(REPO_ROOT / "train" / "round.py")] if side == "thinkprune" else [__file__, BARE_COMMAND]
    extra = [str(prompts_file)] if side == "bare_trl" else []
    return [sys.executable, *script, *extra, *argv, "--output_dir", str(output_dir)]


def timed_run(command: list[str], env: dict) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds of the process and its threads) of one run; UserError if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        print(completed.stderr[-5000:], file=sys.stderr)
        raise UserError(f"a benchmark run failed (exit status {completed.returncode}): {' '.join(command)}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def step_log(output_dir: Path) -> tuple[list[float], list[float], float]:
    """(mean completion length of every step, seconds of every step, the whole training loop's seconds)."""
    log = json.loads((output_dir / TRAINER_LOG).read_text())
    steps = [entry for entry in log if "completions/mean_length" in entry]
    train_runtime = next(entry["train_runtime"] for entry in log if "train_runtime" in entry)
    return (
        [entry["completions/mean_length"] for entry in steps],
        [entry["step_time"] for entry in steps],
        train_runtime,
    )


def spread(values) -> dict[str, float]:
    values = list(values)
    return {"min": round(min(values), 3), "max": round(max(values), 3)}


def repeat_ratios(runs: list[dict], measure: str) -> list[float]:
    by_repeat = {(run["repeat"], run["side"]): run[measure] for run in runs}
    repeats = sorted({run["repeat"] for run in runs})
    return [by_repeat[repeat, "thinkprune"] / by_repeat[repeat, "bare_trl"] for repeat in repeats]


def summarize(runs: list[dict]) -> dict:
    measures = ("wall_seconds", "cpu_seconds", "step_seconds", "step_seconds_per_token", "fixed_seconds")
    medians = {
        measure: {side: statistics.median(run[measure] for run in runs if run["side"] == side) for side in SIDES}
        for measure in measures
    }
    ranges = {
        measure: {side: spread(run[measure] for run in runs if run["side"] == side) for side in SIDES}
        for measure in ("wall_seconds", "cpu_seconds")
    }
    ratios = {measure: values["thinkprune"] / values["bare_trl"] for measure, values in medians.items()}
    loads = [run["load_average_1min"] for run in runs]
    return {
        "median_wall_seconds": medians["wall_seconds"],
        "median_cpu_seconds": medians["cpu_seconds"],
        "range_wall_seconds": ranges["wall_seconds"],
        "range_cpu_seconds": ranges["cpu_seconds"],
        "ratio_wall": round(ratios["wall_seconds"], 3),
        "ratio_cpu": round(ratios["cpu_seconds"], 3),
        # Each repeat runs both sides back to back: the spread of their ratios is how far a re-run can move it.
        "ratio_wall_range": spread(repeat_ratios(runs, "wall_seconds")),
        "ratio_cpu_range": spread(repeat_ratios(runs, "cpu_seconds")),
        # Inside the training loop: one step's seconds, and per generated token (the two sides' rollouts differ after
        # the first step, and generation time follows their length).
        "median_step_seconds": medians["step_seconds"],
        "ratio_per_step": round(ratios["step_seconds"], 3),
        "ratio_per_step_per_token": round(ratios["step_seconds_per_token"], 3),
        # Outside it: start-up (imports, model, data), then saving, the record, plots and the card.
        "median_fixed_seconds": medians["fixed_seconds"],
        "goal": GOAL,
        "within_goal": ratios["wall_seconds"] <= GOAL,
        "mean_completion_length": {
            side: statistics.mean(run["mean_completion_length"] for run in runs if run["side"] == side)
            for side in SIDES
        },
        "first_step_lengths_match": all(
            len({run["first_step_mean_length"] for run in runs if run["repeat"] == repeat}) == 1
            for repeat in {run["repeat"] for run in runs}
        ),
        "load_average_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
    }


def span(values: dict[str, float], number_format: str) -> str:
    return f"{values['min']:{number_format}}-{values['max']:{number_format}}"


def markdown(report: dict) -> str:
    setup, summary = report["setup"], report["summary"]
    wall, cpu, lengths = (
        summary["median_wall_seconds"],
        summary["median_cpu_seconds"],
        summary["mean_completion_length"],
    )
    wall_range, cpu_range = summary["range_wall_seconds"], summary["range_cpu_seconds"]
    ratio_wall_range, ratio_cpu_range = summary["ratio_wall_range"], summary["ratio_cpu_range"]
    load = summary["load_average_1min"]
    step, fixed = summary["median_step_seconds"], summary["median_fixed_seconds"]
    verdict = "met" if summary["within_goal"] else "NOT met"
    if summary["within_goal"] and ratio_wall_range["max"] > summary["goal"]:
        verdict += f", but not in every repeat (their ratios span {span(ratio_wall_range, '.3f')}x)"
    # Each run's own threads count in the load average: only a load above them means other jobs competed.
    threads = report["machine"]["threads"]
    own_load = threads if isinstance(threads, int) else report["machine"]["cpu_count"]
    load_note = (
        "It was shared with other jobs, so wall-clock times are noisy"
        if load["median"] > own_load + 0.5
        else "No more than the runs' own threads: no other job competed"
    )
    return f"""# Overhead of a ThinkPrune round over a bare trl GRPOTrainer run

`{report["command"]}`

Recipe `{setup["recipe"]}` on `{setup["model_name_or_path"]}` (`{setup["model_path"]}`), {setup["num_prompts"]} \
prompts. GRPO steps: \
{setup["max_steps"]}, each of {setup["rollouts_per_step"]} rollouts ({setup["num_generations"]} per prompt); limit: \
{setup["token_limit"]} tokens; seed: {setup["seed"]}. Runs of each side: {report["repeats"]}, alternating, each a \
fresh process.

Median (min-max over the repeats); a ratio's min-max is that of each repeat's own ratio.

| side | wall s | CPU s | mean completion tokens |
|---|---:|---:|---:|
| ThinkPrune round (`train/round.py`) | {wall["thinkprune"]:.1f} ({span(wall_range["thinkprune"], ".1f")}) | \
{cpu["thinkprune"]:.1f} ({span(cpu_range["thinkprune"], ".1f")}) | {lengths["thinkprune"]:.1f} |
| bare trl GRPOTrainer, EOS-only reward | {wall["bare_trl"]:.1f} ({span(wall_range["bare_trl"], ".1f")}) | \
{cpu["bare_trl"]:.1f} ({span(cpu_range["bare_trl"], ".1f")}) | {lengths["bare_trl"]:.1f} |
| **ratio** | **{summary["ratio_wall"]:.3f}x** ({span(ratio_wall_range, ".3f")}) | \
{summary["ratio_cpu"]:.3f}x ({span(ratio_cpu_range, ".3f")}) | |

Split: inside the training loop and outside it.

| side | median step s | fixed s (start-up, save, record, card) |
|---|---:|---:|
| ThinkPrune round | {step["thinkprune"]:.2f} | {fixed["thinkprune"]:.1f} |
| bare trl | {step["bare_trl"]:.2f} | {fixed["bare_trl"]:.1f} |
| **ratio** | **{summary["ratio_per_step"]:.3f}x** ({summary["ratio_per_step_per_token"]:.3f}x per generated token) | \
{fixed["thinkprune"] - fixed["bare_trl"]:+.1f} s |

Goal: wall-clock ratio <= {summary["goal"]:.2f}x: **{verdict}**. Same first-step mean completion length on both sides \
(same model, data, config and seed, so the same first rollouts): {"yes" if summary["first_step_lengths_match"] else "NO"}.

The ratio covers everything our round adds to trl: loading the problems and rendering the round's prompts, grading \
every rollout with math-verify, and writing the trainer log, round record and model card. Later steps generate \
different rollouts on the two sides (different rewards give different updates): compare the completion lengths above.

Machine: {report["machine"]["cpu_count"]} CPUs ({report["machine"]["platform"]}), torch threads per run: \
{threads}. The 1-minute load average was {load["min"]:.2f} to {load["max"]:.2f} (median {load["median"]:.2f}) \
during the runs. {load_note}; the sides were interleaved and medians are reported. CPU time is the steadier of the \
two measures.
"""


def run_sides(config: OverheadConfig, overrides: list[str], work: Path) -> tuple[list[str], int, list[dict]]:
    """Time both sides, alternating; returns the round arguments they ran, the number of prompts and the runs."""
    # Every run reads this copy: an edit of the recipe while the benchmark runs cannot make the runs differ.
    recipe = shutil.copy(config.config, work / "recipe.yaml")
    # Every step logged, nothing saved midway: the same on both sides, and the log gives each step's lengths.
    round_argv = [
        "--config",
        str(recipe),
        "--max_steps",
        str(DEFAULT_MAX_STEPS),
        *overrides,
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
    ]
    num_prompts = write_prompts(round_argv, work / "prompts.jsonl")
    env = dict(os.environ, **({"OMP_NUM_THREADS": str(config.threads)} if config.threads else {}))
    runs = []
    for repeat in range(config.repeats):
        # Alternate which side goes first, so that a warming (or loaded) machine favours neither.
        for side in SIDES if repeat % 2 == 0 else SIDES[::-1]:
            output_dir = work / f"{side}-{repeat}"
            load = os.getloadavg()[0]
            wall, cpu = timed_run(side_command(side, round_argv, work / "prompts.jsonl", output_dir), env)
            lengths, step_seconds, train_seconds = step_log(output_dir)
            runs.append(
                {
                    "side": side,
                    "repeat": repeat,
                    "wall_seconds": round(wall, 2),
                    "cpu_seconds": round(cpu, 2),
                    "first_step_mean_length": lengths[0],
                    "mean_completion_length": statistics.mean(lengths),
                    "step_seconds": round(statistics.mean(step_seconds), 3),
                    "step_seconds_per_token": statistics.mean(step_seconds) / statistics.mean(lengths),
                    "fixed_seconds": round(wall - train_seconds, 2),
                    "load_average_1min": round(load, 2),
                }
            )
            print(
                f"repeat {repeat + 1}/{config.repeats} {side}: {wall:.1f} s wall, {cpu:.1f} s CPU, "
                f"{statistics.mean(lengths):.1f} mean completion tokens, load {load:.2f}",
                file=sys.stderr,
            )
            shutil.rmtree(output_dir)
    return round_argv, num_prompts, runs


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    config, overrides = HfArgumentParser(OverheadConfig).parse_args_into_dataclasses(
        argv, return_remaining_strings=True
    )
    if config.repeats < 1:
        raise UserError(f"repeats must be at least 1, got {config.repeats}")
    if not Path(config.config).is_file():
        raise UserError(f"recipe file {config.config} does not exist: pass --config recipes/<model>/<recipe>.yaml")
    with tempfile.TemporaryDirectory(prefix="thinkprune-overhead-") as work:
        round_argv, num_prompts, runs = run_sides(config, overrides, Path(work))
        args, training_args = parse_args(round_argv)

    report = {
        "format": REPORT_FORMAT,
        "command": " ".join(["python scripts/benchmark_overhead.py", *argv]),
        "repeats": config.repeats,
        "setup": {
            "recipe": os.path.relpath(config.config),  # relative to where the command ran, like its arguments
            "model_name_or_path": args.model_name_or_path,
            "model_path": os.path.relpath(resolve_model_name(args.model_name_or_path)),
            "dataset_name": args.dataset_name,
            "num_prompts": num_prompts,
            "token_limit": args.token_limit,
            "max_steps": training_args.max_steps,
            "num_generations": training_args.num_generations,
            "rollouts_per_step": training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps,
            "seed": training_args.seed,
        },
        "summary": summarize(runs),
        "runs": runs,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "threads": config.threads or "torch default",
        },
        "versions": library_versions(),
    }
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / "overhead.json", report)
    write_text_atomic(output_dir / "overhead.md", markdown(report))
    summary = report["summary"]
    print(
        f"ThinkPrune round / bare trl: {summary['ratio_wall']:.3f}x wall-clock, {summary['ratio_cpu']:.3f}x CPU "
        f"(goal <= {GOAL}x); per step {summary['ratio_per_step']:.3f}x ({summary['ratio_per_step_per_token']:.3f}x per "
        f"token), fixed {summary['median_fixed_seconds']['thinkprune']:.1f} s vs "
        f"{summary['median_fixed_seconds']['bare_trl']:.1f} s: {output_dir / 'overhead.md'}"
    )
    return report


if __name__ == "__main__":
    if sys.argv[1:2] == [BARE_COMMAND]:
        bare_trl_run(sys.argv[2], sys.argv[3:])
    else:
        main()
