"""Rollouts that teach, measured on the toy: plain GRPO against the solved-problem filter, dynamic sampling and both.

    python scripts/dynamic_sampling_study.py                 # the toy schedule, 4 variants, 120 s per round
    python scripts/dynamic_sampling_study.py --quick         # wiring check: 1 round, a few seconds, 8 problems
    python scripts/dynamic_sampling_study.py --seed 1        # the same study with another training seed

Every variant runs the same schedule (recipes/toy/schedule.yaml: 400 -> 300 -> 200 tokens) from the same base, each
round stopped by the same wall-clock budget (`--seconds_per_round`, train/round.py's `max_train_seconds`; `max_steps`
is raised so that time, not steps, ends a round) on the same `--num_train_problems` (480): what each variant buys
for the same time on the same cores.

- plain GRPO: the toy recipe as it is;
- offline filter: `filter_solved_problems` drops, before each round, the problems the parent solved in none or all
  of 4 samples under the round's limit (that measurement runs before training: reported apart, not in the budget);
- online dynamic sampling: `dynamic_sampling`, at most `dynamic_sampling_max_rounds` (3) generation rounds a step;
- both.

The final round of each is evaluated on the held-out toy benchmark (pass@1 with its interval, its paired change
against plain GRPO, mean tokens, per difficulty level where the toy has levels). Written to --results_dir
(results/toy/dynamic_sampling/): summary.json, README.md (the table, and eval/compare.py's comparison with per-level
paired intervals in comparison.md), curves.png (reward and the share of all-equal groups against training time).

One study is one training seed (the recipe's), and a redraw of a toy training run can move a verdict by a few points
(recipes/toy/README.md, "One run is one draw"). `--seed N` runs the study again with training seed N into seed<N>/
under --output_root and --results_dir, and every run then writes seeds.md and seeds.json to --results_dir: each
variant's paired change against plain GRPO at every seed run so far with the same settings, and how many of those
intervals lie above, below or around 0.
"""

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.figure import Figure
from transformers import HfArgumentParser

from eval.compare import compare
from eval.evaluate import EvalConfig, evaluate
from scripts.toy_seeds import count_intervals, interval_text, recipe_seed
from thinkprune.errors import exit_on_user_error
from thinkprune.files import save_figure_atomic, write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.points import signed_points
from thinkprune.records import RoundRecord, read_trainer_log
from train.schedule import parse_args as parse_schedule_args
from train.schedule import run_schedule


VARIANTS = {
    "plain GRPO": [],
    "offline filter": ["--filter_solved_problems", "true"],
    "dynamic sampling": ["--dynamic_sampling", "true"],
    "filter + dynamic sampling": ["--filter_solved_problems", "true", "--dynamic_sampling", "true"],
}


@dataclass
class StudyConfig:
    schedule: str = field(default="recipes/toy/schedule.yaml", metadata={"help": "The schedule every variant runs."})
    seconds_per_round: float = field(default=120.0, metadata={"help": "Wall-clock training budget of every round."})
    max_steps: int = field(default=1000, metadata={"help": "Step cap of a round (set high: time ends a round)."})
    num_train_problems: int = field(
        default=480,
        metadata={
            "help": "Training problems of every variant's rounds: the filter measures all of them before each round "
            "(the toy recipe's 2000 would take minutes per round on 2 cores); a 120 s toy round sees about 160."
        },
    )
    num_samples: int = field(default=4, metadata={"help": "Evaluation samples per held-out problem."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N held-out problems."})
    quick: bool = field(
        default=False,
        metadata={"help": "Wiring check: the schedule's first round only, 5 s per round, 8 problems, 1 sample."},
    )
    seed: int | None = field(
        default=None,
        metadata={
            "help": "Training seed of every round in place of the recipe's; the rounds and the report go to "
            "seed<N>/ under --output_root and --results_dir."
        },
    )
    output_root: str = field(default="outputs/toy-dynamic-sampling", metadata={"help": "Where the rounds go."})
    results_dir: str = field(default="results/toy/dynamic_sampling", metadata={"help": "Where the report goes."})


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-").replace("--", "-")


def training_summary(round_dirs: list[Path]) -> dict:
    """Per variant, over its rounds: steps, the mean share of all-equal groups (trl's frac_reward_zero_std, over
    every generated group; dynamic sampling also its trained share), the mean time per step, the filter's counts and
    dynamic sampling's totals."""
    records = [RoundRecord.read(round_dir) for round_dir in round_dirs]
    entries = [entry for round_dir in round_dirs for entry in read_trainer_log(round_dir) if "reward" in entry]

    def mean(key):
        values = [entry[key] for entry in entries if key in entry]
        return sum(values) / len(values) if values else None

    return {
        "steps": [record.global_step for record in records],
        "train_seconds": [record.train_seconds for record in records],
        "mean_step_seconds": mean("step_time"),
        "frac_reward_zero_std_generated": mean("frac_reward_zero_std"),
        # What the optimizer saw: dynamic sampling trains only on varied groups unless its rounds ran out.
        "frac_reward_zero_std_trained": (
            mean("dynamic_sampling/frac_trained_zero_std")
            if any("dynamic_sampling/frac_trained_zero_std" in entry for entry in entries)
            else mean("frac_reward_zero_std")
        ),
        "mean_reward": mean("reward"),
        "problem_filter": [record.problem_filter for record in records],
        "measure_seconds": sum((record.problem_filter or {}).get("measure_seconds", 0) for record in records),
        "dynamic_sampling": [record.dynamic_sampling for record in records],
    }


def plot_curves(variants: dict[str, list[Path]], path: Path) -> None:
    """Reward and the share of all-equal groups against training time, rounds chained."""
    figure = Figure(figsize=(11, 3.6), dpi=100)
    reward_axis, zero_std_axis = figure.subplots(1, 2)
    for label, round_dirs in variants.items():
        elapsed, times, rewards, zero_std = 0.0, [], [], []
        for round_dir in round_dirs:
            for entry in read_trainer_log(round_dir):
                if "reward" not in entry:
                    continue
                elapsed += entry.get("step_time", 0.0)
                times.append(elapsed)
                rewards.append(entry["reward"])
                zero_std.append(entry.get("dynamic_sampling/frac_trained_zero_std", entry["frac_reward_zero_std"]))
        reward_axis.plot(times, rewards, linewidth=1.5, label=label)
        zero_std_axis.plot(times, zero_std, linewidth=1.5, label=label)
    reward_axis.set_title("mean reward of the generated rollouts")
    zero_std_axis.set_title("share of all-equal groups trained on")
    for axis in (reward_axis, zero_std_axis):
        axis.set_xlabel("training seconds (rounds chained)")
        axis.grid(alpha=0.3)
    reward_axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure_atomic(figure, path)


def number(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| variant | pass@1 [95% CI] | Δ vs plain [95% CI] | mean tokens | all-equal groups generated / trained "
        "| steps | s per step | filter: measure s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        low, high = row["pass@1_ci"]
        change = row["pass@1_change"]
        change_text = "—"
        if change is not None and row["pass@1_change_ci"]:
            change_low, change_high = row["pass@1_change_ci"]
            change_text = f"{signed_points(change)} [{signed_points(change_low)}, {signed_points(change_high)}]"
        training = row["training"]
        lines.append(
            f"| {row['variant']} | {100 * row['pass@1']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] | {change_text} "
            f"| {row['mean_tokens']:.1f} | {number(training['frac_reward_zero_std_generated'], '.2f')} / "
            f"{number(training['frac_reward_zero_std_trained'], '.2f')} | {' + '.join(map(str, training['steps']))} "
            f"| {number(training['mean_step_seconds'], '.2f')} | {training['measure_seconds']:.0f} |"
        )
    return "\n".join(lines)


def run_variant(label: str, options: list[str], config: StudyConfig) -> list[Path]:
    schedule, _ = parse_schedule_args(["--config", config.schedule])
    schedule.output_root = str(Path(config.output_root) / slug(label))
    if config.quick:
        schedule.token_limits = schedule.token_limits[:1]
    budget = ["--max_train_seconds", str(config.seconds_per_round), "--max_steps", str(config.max_steps)]
    budget += ["--num_train_problems", str(config.num_train_problems)]
    seed = [] if config.seed is None else ["--seed", str(config.seed)]
    return run_schedule(schedule, [*budget, *seed, *options])


SETTINGS = ("schedule", "seconds_per_round", "quick", "num_samples")


def seed_summaries(results_dir: Path, settings: dict) -> dict[int, dict]:
    """The studies under `results_dir` (its own and its seed<N>/ folders) run with `settings`, by training seed."""
    studies = {}
    for path in [results_dir / "summary.json", *sorted(results_dir.glob("seed*/summary.json"))]:
        if path.exists():
            summary = json.loads(path.read_text())
            if all(summary.get(key) == value for key, value in settings.items()):
                # A study written before the seed was recorded ran with its recipe's.
                schedule, _ = parse_schedule_args(["--config", summary["schedule"]])
                studies[summary.get("seed", recipe_seed(schedule))] = summary
    return studies


def seeds_report(studies: dict[int, dict]) -> tuple[dict, str]:
    """Each variant at every seed: pass@1 and mean tokens, its paired change against plain GRPO, and the tally."""
    variants = [row["variant"] for row in next(iter(studies.values()))["rows"]]
    rows = {seed: {row["variant"]: row for row in study["rows"]} for seed, study in studies.items()}
    lines = [
        "| variant | " + " | ".join(f"seed {seed}" for seed in studies) + " | above / below / around 0 | mean Δ |",
        "|---|" + "---|" * len(studies) + "---|---|",
    ]
    tallies = {}
    for variant in variants:
        cells = []
        for seed in studies:
            row = rows[seed][variant]
            cell = (
                f"{100 * row['pass@1']:.1f}%, {row['mean_tokens']:.0f} tokens, {sum(row['training']['steps'])} steps"
            )
            if row["pass@1_change"] is not None:
                cell += f": {interval_text(row['pass@1_change'], row['pass@1_change_ci'])}"
            cells.append(cell)
        if variant == variants[0]:
            lines.append(f"| {variant} | " + " | ".join(cells) + " | — | — |")
            continue
        changes = [
            {"change": rows[seed][variant]["pass@1_change"], "change_ci": rows[seed][variant]["pass@1_change_ci"]}
            for seed in studies
        ]
        above, below, around, mean_change = count_intervals(changes)
        tallies[variant] = {"above": above, "below": below, "around": around, "mean_change": mean_change}
        lines.append(
            f"| {variant} | " + " | ".join(cells) + f" | {above} / {below} / {around} | {signed_points(mean_change)} |"
        )
    return {"seeds": list(studies), "tally": tallies}, "\n".join(lines)


def write_seeds_report(results_dir: Path, summary: dict) -> None:
    studies = seed_summaries(results_dir, {key: summary[key] for key in SETTINGS})
    tallies, table = seeds_report(studies)
    write_json_atomic(results_dir / "seeds.json", {"settings": {key: summary[key] for key in SETTINGS}, **tallies})
    report = [
        "# Rollouts that teach, over training seeds",
        "",
        f"Every study in this folder run with the same settings (`{summary['schedule']}`, "
        f"{summary['seconds_per_round']:g} s of training per round, {summary['num_samples']} samples per held-out "
        "problem), one per training seed: [the recipe's seed](README.md) and `--seed N` in seed<N>/. Each cell: "
        "pass@1, mean tokens, the training steps that fit in the time (they depend on the machine's speed as "
        "much as on the variant) and, for a variant, its paired change against plain GRPO at that seed in points "
        "[95% bootstrap interval over problems: the evaluation's sampling; the seeds show the training's]. The "
        "tally counts the seeds whose interval lies above 0 (the variant better), below (plain GRPO better) or "
        "around it.",
        "",
        table,
        "",
    ]
    write_text_atomic(results_dir / "seeds.md", "\n".join(report))


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(StudyConfig).parse_args_into_dataclasses(args=argv)
    if config.quick:
        config.seconds_per_round, config.limit, config.num_samples = 5.0, config.limit or 8, 1
    schedule, _ = parse_schedule_args(["--config", config.schedule])
    seed = recipe_seed(schedule) if config.seed is None else config.seed
    results_dir = Path(config.results_dir)
    if config.seed is not None:
        config.output_root = str(Path(config.output_root) / f"seed{config.seed}")
        results_dir = results_dir / f"seed{config.seed}"
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    variants = {label: run_variant(label, options, config) for label, options in VARIANTS.items()}
    eval_dirs, rows = {}, []
    for label, round_dirs in variants.items():
        eval_dir = Path(config.output_root) / "eval" / slug(label)
        reference = eval_dirs.get("plain GRPO")
        results = evaluate(
            EvalConfig(
                model=str(round_dirs[-1]),
                benchmarks="toy",
                num_samples=config.num_samples,
                limit=config.limit,
                output_dir=str(eval_dir),
                reference=str(reference) if reference else None,
                backend="transformers",
            )
        )
        eval_dirs[label] = eval_dir
        metrics = results["benchmarks"]["toy"]
        rows.append(
            {
                "variant": label,
                "options": VARIANTS[label],
                "pass@1": metrics["pass@1"],
                "pass@1_ci": metrics["pass@1_ci"],
                "pass@1_change": metrics.get("pass@1_change"),
                "pass@1_change_ci": metrics.get("pass@1_change_ci"),
                "mean_tokens": metrics["mean_tokens"],
                "levels": metrics.get("levels", {}),
                "training": training_summary(round_dirs),
            }
        )
    compare([str(eval_dirs[label]) for label in variants], list(variants), str(results_dir))
    plot_curves(variants, results_dir / "curves.png")

    summary = {
        "machine": machine_description(),
        "schedule": config.schedule,
        "seed": seed,
        "seconds_per_round": config.seconds_per_round,
        "quick": config.quick,
        "num_samples": config.num_samples,
        "rows": rows,
        "study_seconds": round(time.time() - started, 1),
    }
    write_json_atomic(results_dir / "summary.json", summary)
    report = [
        "# Rollouts that teach: the solved-problem filter and dynamic sampling on the toy",
        "",
        f"Measured on {summary['machine']}: `{config.schedule}`, training seed {seed}, every round stopped after "
        f"{config.seconds_per_round:g} s of training; the study took {summary['study_seconds']:.0f} s"
        + (" (--quick: a wiring check, not a measurement)." if config.quick else "."),
        "",
        markdown_table(rows),
        "",
        "Δ pass@1 is in points against plain GRPO on the same problems (a paired bootstrap interval). All-equal "
        "groups: trl's frac_reward_zero_std over the groups generated, and the share of the groups trained on "
        "(the same for runs without dynamic sampling). The filter's measurement of each parent is outside the "
        "rounds' time budget and shown apart. Per difficulty level, with paired intervals: "
        "[comparison.md](comparison.md).",
        "",
        "![Reward and all-equal groups against training time](curves.png)",
        "",
    ]
    write_text_atomic(results_dir / "README.md", "\n".join(report))
    write_seeds_report(Path(config.results_dir), summary)
    print("\n".join(report))
    return summary


if __name__ == "__main__":
    main()
