"""Does the toy study's verdict on the paper's comparison survive other training seeds?

    python scripts/toy_seeds.py                   # seeds 42 (the study's), 1 and 2: about 25 min on 2 cores
    python scripts/toy_seeds.py --seeds 42,1,2,3

The study (scripts/toy_study.py) trains every run once, with the recipes' seed (42), and its paired intervals cover
the evaluation's sampling only: a redraw of a training run can move a verdict of a few points (recipes/toy/README.md,
"One run is one draw"). This script repeats the paper's comparison with other seeds: the iterative schedule
(recipes/toy/schedule.yaml, 400 -> 300 -> 200) against one round straight at the final limit with as many steps as
the three rounds together (the study's ablation), both trained with `--seed` (rollout sampling, problem order,
initialization of anything random) and their final rounds evaluated as the study evaluates (the same held-out
problems, the same evaluation seeds). Each seed gives one paired change, one round minus iterative, overall and per
level. The recipes' seed reuses the study's trained rounds (outputs/toy, outputs/toy-ablations/one_round) when they
are there; every other seed trains under --output_root.

Writes --results_dir (results/toy/seeds/): summary.json and README.md (per seed: both runs' pass@1 and mean tokens,
the paired change with its interval, overall and per level; across seeds: how many intervals lie above, below or
around 0, and the mean change).
"""

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
from scripts.toy_study import ABLATIONS, ToyStudyConfig, by_level, evaluate_model, read_run_samples
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.records import RoundRecord
from train.schedule import parse_args as parse_schedule_args
from train.schedule import run_schedule


ITERATIVE = ("iterative schedule", "recipes/toy/schedule.yaml", [])
ONE_ROUND = ("one round at the final limit", *ABLATIONS["one round at the final limit"])


@dataclass
class SeedsConfig:
    seeds: str = field(default="42,1,2", metadata={"help": "Training seeds, comma-separated; 42 is the study's."})
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


def train_final_round(schedule_file: str, round_args: list[str], seed: int, config: SeedsConfig) -> Path:
    """The schedule's last round trained with `seed`: the study's own rounds for the recipe's seed, the rest under
    `config.output_root`."""
    schedule, _ = parse_schedule_args(["--config", schedule_file])
    if seed != yaml.safe_load(Path(schedule.recipe).read_text()).get("seed"):
        schedule.output_root = str(Path(config.output_root) / f"seed{seed}" / Path(schedule.output_root).name)
    rounds = run_schedule(schedule, [*round_args, "--seed", str(seed)])
    for round_dir in rounds:
        trained_with = RoundRecord.read(round_dir).recipe.get("seed")
        if trained_with != seed:
            raise UserError(
                f"{round_dir} was trained with seed {trained_with}, not {seed}: remove it, or pass another "
                "--output_root"
            )
    return rounds[-1]


def change_row(samples: list[dict], reference: list[dict]) -> dict:
    change = paired_change(samples, reference)
    return {"change": change["pass@1_change"], "change_ci": change["pass@1_change_ci"]}


def seed_row(seed: int, metrics: dict[str, dict], samples: dict[str, list[dict]], seconds: float) -> dict:
    """One seed: each run's pass@1 and mean tokens, and one round's paired change from the iterative schedule."""
    iterative, one_round = samples[ITERATIVE[0]], samples[ONE_ROUND[0]]
    return {
        "seed": seed,
        "runs": {label: {key: run[key] for key in ("pass@1", "mean_tokens")} for label, run in metrics.items()},
        **change_row(one_round, iterative),
        "levels": {
            level: change_row(level_samples, by_level(iterative)[level])
            for level, level_samples in by_level(one_round).items()
        },
        "seconds": round(seconds, 1),
    }


def tally(rows: list[dict]) -> dict:
    """How many seeds' intervals lie above 0 (one round better), below (iterative better), or hold it."""
    above = sum(row["change_ci"][0] > 0 for row in rows)
    below = sum(row["change_ci"][1] < 0 for row in rows)
    return {
        "one_round_better": above,
        "iterative_better": below,
        "no_difference": len(rows) - above - below,
        "mean_change": statistics.fmean(row["change"] for row in rows),
    }


def interval_text(change: float, change_ci: list[float]) -> str:
    return percent_change({"pass@1_change": change, "pass@1_change_ci": change_ci})


def markdown_table(rows: list[dict]) -> str:
    levels = sorted({level for row in rows for level in row["levels"]}, key=float)
    lines = [
        f"| seed | {ITERATIVE[0]}: pass@1, tokens | {ONE_ROUND[0]}: pass@1, tokens | Δ pass@1, one round − iterative "
        "[95% CI] | " + " | ".join(f"Δ level {level}" for level in levels) + " |",
        "|---|---|---|---|" + "---|" * len(levels),
    ]
    for row in rows:
        runs = [row["runs"][label] for label in (ITERATIVE[0], ONE_ROUND[0])]
        cells = [f"{100 * run['pass@1']:.1f}%, {run['mean_tokens']:.1f}" for run in runs]
        cells.append(interval_text(row["change"], row["change_ci"]))
        cells += [interval_text(**row["levels"][level]) if level in row["levels"] else "—" for level in levels]
        lines.append(f"| {row['seed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def finding(counts: dict, num_seeds: int) -> str:
    return (
        f"Over {num_seeds} training seeds, one round at the final limit beat the iterative schedule in "
        f"{counts['one_round_better']} (paired interval above 0), lost in {counts['iterative_better']} (below 0) and "
        f"showed no difference in {counts['no_difference']}; the mean change is "
        f"{100 * counts['mean_change']:+.1f} points."
    )


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
        seed_started = time.time()
        metrics, samples = {}, {}
        for label, schedule_file, round_args in (ITERATIVE, ONE_ROUND):
            final_round = train_final_round(schedule_file, list(round_args), seed, config)
            eval_dir = (
                Path(config.output_root) / f"seed{seed}" / "eval" / f"{final_round.parent.name}-{final_round.name}"
            )
            metrics[label] = evaluate_model(str(final_round), eval_dir, evaluation, None)
            samples[label] = read_run_samples(eval_dir)
        rows.append(seed_row(seed, metrics, samples, time.time() - seed_started))

    counts = tally(rows)
    summary = {
        "machine": machine_description(),
        "num_samples": config.num_samples,
        "seeds": rows,
        "tally": counts,
        "seconds": round(time.time() - started, 1),
    }
    write_json_atomic(results_dir / "summary.json", summary)
    report = [
        "# The paper's comparison over training seeds",
        "",
        f"Measured on {summary['machine']} by `python scripts/toy_seeds.py --seeds {config.seeds}` in "
        f"{summary['seconds']:.0f} s (rounds already trained by the study are reused).",
        "",
        markdown_table(rows),
        "",
        "pass@1 and mean tokens over the held-out toy problems × "
        f"{config.num_samples} samples; Δ is one round minus the iterative schedule's last round, in points, paired on "
        "the same problems (bootstrap interval over problems: it covers the evaluation's sampling, the seeds show "
        "the training's).",
        "",
        finding(counts, len(rows)),
        "",
    ]
    write_text_atomic(results_dir / "README.md", "\n".join(report))
    print("\n".join(report))
    return summary


if __name__ == "__main__":
    main()
