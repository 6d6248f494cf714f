"""Do the toy study's verdicts against the iterative schedule survive other training seeds?

    python scripts/toy_seeds.py                   # seeds 42 (the study's), 1, 2 and 3
    python scripts/toy_seeds.py --seeds 42,1

The study (scripts/toy_study.py) trains every run once, with the recipes' seed (42), and its paired intervals cover
the evaluation's sampling only: a redraw of a training run can move a verdict of a few points (recipes/toy/README.md,
"One run is one draw"). This script trains, with other seeds, the iterative schedule (recipes/toy/schedule.yaml,
400 -> 300 -> 200) and the study's ablations that win or lose by a few points against it: one round straight at the
final limit with as many steps as the three rounds together (the paper's comparison), a too-tight final limit pruning
the schedule's round 2 (the failure mode), difficulty-aware limits, batch reward scaling + clip-higher, and the
automatic schedule (the round it keeps, with its decisions). `grade` truncation, whose loss is far outside what a
redraw moves, is left out. Every run gets `--seed` (rollout sampling, problem order, the automatic schedule's
measurement and validation problems), a variant starting from a round of the schedule starts from that seed's, and
the final rounds are evaluated as the study evaluates (the same held-out problems, the same evaluation seeds). Each
seed gives one paired change per variant, variant minus iterative, overall and per level. The recipes' seed reuses
the study's trained rounds (outputs/toy, outputs/toy-ablations/, outputs/toy-auto) when they are there; every other
seed trains under --output_root: about 40 min per seed on 2 CPU cores.

Writes --results_dir (results/toy/seeds/): summary.json and README.md (per variant and seed: both runs' pass@1 and
mean tokens, the paired change with its interval, overall and per level; across seeds: how many intervals lie above,
below or around 0, and the mean change).
"""

import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from transformers import HfArgumentParser

from eval.metrics import paired_change
from eval.results import percent_change
from scripts.toy_study import (
    ABLATIONS,
    AUTO_SCHEDULE,
    ToyStudyConfig,
    auto_decisions,
    automatic_summary,
    by_level,
    evaluate_model,
    guard_fired,
    read_run_samples,
)
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.records import RoundRecord
from train.schedule import AUTO_STATE, ScheduleConfig, run_schedule
from train.schedule import parse_args as parse_schedule_args


ITERATIVE = ("iterative schedule", "recipes/toy/schedule.yaml", [])
VARIANTS = (
    "one round at the final limit",
    "a too-tight final limit",
    "difficulty-aware limits",
    "batch reward scaling + clip-higher",
    "automatic schedule",
)
SCHEDULES = ABLATIONS | {"automatic schedule": (AUTO_SCHEDULE, [])}


@dataclass
class SeedsConfig:
    seeds: str = field(default="42,1,2,3", metadata={"help": "Training seeds, comma-separated; 42 is the study's."})
    num_samples: int = field(default=4, metadata={"help": "Evaluation samples per held-out problem."})
    batch_size: int = field(default=256, metadata={"help": "Responses generated at once by each evaluation."})
    output_root: str = field(default="outputs/toy-seeds", metadata={"help": "Where other seeds' rounds go."})
    results_dir: str = field(default="results/toy/seeds", metadata={"help": "Where the report goes."})


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds takes whole numbers separated by commas, e.g. 42,1,2; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds needs at least one seed and no seed twice, got {text!r}")
    return seeds


def recipe_seed(schedule: ScheduleConfig) -> int | None:
    return yaml.safe_load(Path(schedule.recipe).read_text()).get("seed")


def seed_schedule(schedule_file: str, seed: int, config: SeedsConfig) -> ScheduleConfig:
    """The schedule as `seed` runs it: the study's own for the recipe's seed, the rest under `config.output_root`,
    where a schedule starting from a round of the iterative one starts from that seed's."""
    schedule, _ = parse_schedule_args(["--config", schedule_file])
    if seed != recipe_seed(schedule):
        iterative, _ = parse_schedule_args(["--config", ITERATIVE[1]])
        seed_root = Path(config.output_root) / f"seed{seed}"
        parent = Path(schedule.model_name_or_path)
        if parent.parent == Path(iterative.output_root):
            schedule.model_name_or_path = str(seed_root / parent.parent.name / parent.name)
        schedule.output_root = str(seed_root / Path(schedule.output_root).name)
    return schedule


def train_rounds(schedule: ScheduleConfig, round_args: list[str], seed: int) -> list[Path]:
    # The recipe's seed runs with the study's own arguments: the automatic schedule refuses to resume otherwise.
    seed_args = [] if seed == recipe_seed(schedule) else ["--seed", str(seed)]
    rounds = run_schedule(schedule, [*round_args, *seed_args])
    for round_dir in rounds:
        trained_with = RoundRecord.read(round_dir).recipe.get("seed")
        if trained_with != seed:
            raise UserError(
                f"{round_dir} was trained with seed {trained_with}, not {seed}: remove it, or pass another "
                "--output_root"
            )
    return rounds


def final_model(schedule: ScheduleConfig, rounds: list[Path]) -> tuple[str, dict]:
    """The model a schedule ends with: its last round, or for the automatic schedule the round it keeps (the parent
    it started from when it keeps none), with its decisions."""
    if not schedule.auto:
        return str(rounds[-1]), {}
    decisions = auto_decisions(json.loads((Path(schedule.output_root) / AUTO_STATE).read_text()))
    kept = decisions["selected_round"]
    return (str(rounds[kept - 1]) if kept else schedule.model_name_or_path), decisions


def change_row(samples: list[dict], reference: list[dict]) -> dict:
    change = paired_change(samples, reference)
    return {"change": change["pass@1_change"], "change_ci": change["pass@1_change_ci"]}


def seed_row(seed: int, runs: dict[str, dict], samples: dict[str, list[dict]]) -> dict:
    """One seed: each run's pass@1, mean tokens and training time, and each variant's paired change from the
    iterative schedule."""
    iterative = samples[ITERATIVE[0]]
    iterative_levels = by_level(iterative)
    return {
        "seed": seed,
        "runs": runs,
        "changes": {
            variant: {
                **change_row(samples[variant], iterative),
                "levels": {
                    level: change_row(level_samples, iterative_levels[level])
                    for level, level_samples in by_level(samples[variant]).items()
                },
            }
            for variant in samples
            if variant != ITERATIVE[0]
        },
    }


def count_intervals(changes: list[dict]) -> tuple[int, int, int, float]:
    """Of paired changes ({"change", "change_ci"}, one per seed): how many intervals lie above 0, below 0 and around
    it, and the mean change."""
    above = sum(change["change_ci"][0] > 0 for change in changes)
    below = sum(change["change_ci"][1] < 0 for change in changes)
    return above, below, len(changes) - above - below, statistics.fmean(change["change"] for change in changes)


def tally(rows: list[dict], variant: str) -> dict:
    """How many seeds' intervals lie above 0 (the variant better), below (the iterative schedule better), or hold it."""
    above, below, around, mean_change = count_intervals([row["changes"][variant] for row in rows])
    return {"variant_better": above, "iterative_better": below, "no_difference": around, "mean_change": mean_change}


def interval_text(change: float, change_ci: list[float]) -> str:
    return percent_change({"pass@1_change": change, "pass@1_change_ci": change_ci})


def markdown_table(rows: list[dict], variant: str) -> str:
    levels = sorted({level for row in rows for level in row["changes"][variant]["levels"]}, key=float)
    lines = [
        f"| seed | {ITERATIVE[0]}: pass@1, tokens | {variant}: pass@1, tokens | Δ pass@1 [95% CI] | "
        + " | ".join(f"Δ level {level}" for level in levels)
        + " |",
        "|---|---|---|---|" + "---|" * len(levels),
    ]
    for row in rows:
        change = row["changes"][variant]
        cells = [
            f"{100 * row['runs'][label]['pass@1']:.1f}%, {row['runs'][label]['mean_tokens']:.1f}"
            for label in (ITERATIVE[0], variant)
        ]
        cells.append(interval_text(change["change"], change["change_ci"]))
        cells += [interval_text(**change["levels"][level]) if level in change["levels"] else "—" for level in levels]
        lines.append(f"| {row['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finding(variant: str, counts: dict, num_seeds: int) -> str:
    return (
        f"Over {num_seeds} training seeds, {variant} beat the iterative schedule in {counts['variant_better']} "
        f"(paired interval above 0), lost in {counts['iterative_better']} (below 0) and showed no difference in "
        f"{counts['no_difference']}; the mean change is {100 * counts['mean_change']:+.1f} points."
    )


def automatic_lines(rows: list[dict], variant: str) -> list[str]:
    """Per seed, the automatic schedule's own decisions: the limits it chose, what its guard watched, why it stopped
    and the round it kept (the one the table shows)."""
    decided = [(row["seed"], row["runs"][variant]["automatic"]) for row in rows if "automatic" in row["runs"][variant]]
    if not decided:
        return []
    fired = sum(guard_fired(auto) for _, auto in decided)
    return [
        *(f"- Seed {seed}: {automatic_summary(auto)}" for seed, auto in decided),
        "",
        f"Its accuracy guard stopped a round (kept an earlier one) at {fired} of {len(decided)} seeds.",
        "",
    ]


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(SeedsConfig).parse_args_into_dataclasses(args=argv)
    seeds = parse_seeds(config.seeds)
    results_dir = Path(config.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    evaluation = ToyStudyConfig(num_samples=config.num_samples, batch_size=config.batch_size)
    started = time.time()
    rows = []
    for seed in seeds:
        runs, samples = {}, {}
        for label, schedule_file, round_args in [ITERATIVE, *((v, *SCHEDULES[v]) for v in VARIANTS)]:
            schedule = seed_schedule(schedule_file, seed, config)
            rounds = train_rounds(schedule, list(round_args), seed)
            model, decisions = final_model(schedule, rounds)
            eval_name = "-".join(part for part in (Path(model).parent.name, Path(model).name) if part)
            eval_dir = Path(config.output_root) / f"seed{seed}" / "eval" / eval_name
            metrics = evaluate_model(model, eval_dir, evaluation, None)
            # From the records: the time of the training that made the rounds, reused or not.
            train_seconds = sum(RoundRecord.read(round_dir).train_seconds for round_dir in rounds)
            runs[label] = {
                "pass@1": metrics["pass@1"],
                "mean_tokens": metrics["mean_tokens"],
                "train_seconds": train_seconds,
                **({"automatic": decisions} if decisions else {}),
            }
            samples[label] = read_run_samples(eval_dir)
        rows.append(seed_row(seed, runs, samples))

    counts = {variant: tally(rows, variant) for variant in VARIANTS}
    summary = {
        "machine": machine_description(),
        "num_samples": config.num_samples,
        "seeds": rows,
        "tally": counts,
        "seconds": round(time.time() - started, 1),
    }
    write_json_atomic(results_dir / "summary.json", summary)
    report = [
        "# The toy study's verdicts over training seeds",
        "",
        f"Measured on {summary['machine']} by `python scripts/toy_seeds.py --seeds {config.seeds}` in "
        f"{summary['seconds']:.0f} s of wall-clock time, reusing the rounds the study or an earlier run had trained; "
        "training took "
        + ", ".join(
            f"{sum(r['train_seconds'] for r in row['runs'].values()):.0f} s for seed {row['seed']}" for row in rows
        )
        + ".",
        "",
        f"pass@1 and mean tokens over the held-out toy problems × {config.num_samples} samples; Δ is the variant minus "
        "the iterative schedule's last round, in points, paired on the same problems (bootstrap interval over "
        "problems: it covers the evaluation's sampling, the seeds show the training's).",
        "",
    ]
    for variant in VARIANTS:
        report += [
            f"## {variant}",
            "",
            markdown_table(rows, variant),
            "",
            finding(variant, counts[variant], len(rows)),
            "",
            *automatic_lines(rows, variant),
        ]
    write_text_atomic(results_dir / "README.md", "\n".join(report))
    print("\n".join(report))
    return summary


if __name__ == "__main__":
    main()
