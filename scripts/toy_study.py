"""Reproduce the toy ThinkPrune study end to end and write the report to results/toy/.

    python scripts/toy_study.py                 # the 3-round schedule + evaluation of each (9-11 min on 2 cores)
    python scripts/toy_study.py --ablations     # also (40-42 min more): one round at the final limit, a too-tight
                                                # limit, `grade` truncation, batch scaling, difficulty-aware limits,
                                                # the automatic schedule

Builds the toy long-thinker (cached), runs the schedule (finished rounds are reused), evaluates the base and every
round on the held-out toy benchmark (several samples per problem; finished evaluations are reused), evaluates the
base's budget baselines (its responses truncated, and budget-forced, at `--budgets`), and writes:

- results/toy/README.md   the table: limit, pass@1 (95% interval), its change from the base (paired interval), mean
                          tokens, truncation rate, tokens per correct answer, AES vs the base, training wall time;
                          what the study shows, in words read off the figures (`findings`, also in the README); the
                          testbed's criteria; the base's budget table; the verdict: each round against the forced
                          (and the truncated) base at equal tokens; the ablations, each paired against the fixed
                          schedule overall and per level; the schedules compared (rounds, limits, final accuracy and
                          length, time training and measuring) and why the automatic schedule stopped; per level,
                          what was pruned and what each round's limit paid its parent's responses
- results/toy/summary.json  the same numbers, machine-readable
- results/toy/pareto.png  accuracy vs mean tokens: the rounds as points, the base's budget curves as lines
                          (eval/compare.py)
- results/toy/training_curves.png  reward, finished rate and mean completion length per step, all rounds chained
"""

import filecmp
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.figure import Figure
from transformers import HfArgumentParser
from transformers.utils import SAFE_WEIGHTS_NAME

from eval.budgets import parse_budgets
from eval.compare import at_equal_tokens, compare, curves_of, point_of
from eval.evaluate import EvalConfig, evaluate
from eval.metrics import level_label, paired_change
from eval.results import SAMPLES_FILE, budgets_table, percent_change, read_samples
from scripts.time_quick_start import CRITERION_SECONDS
from thinkprune.budget import FORCE_ANSWER_TOKENS
from thinkprune.errors import exit_on_user_error
from thinkprune.files import save_figure_atomic, write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.paths import REPO_ROOT, TOY_CHECKPOINTS
from thinkprune.points import signed_points
from thinkprune.records import RoundRecord, model_reference, read_trainer_log
from thinkprune.toy import TOY_RECORD, anatomy, ensure_toy_base, parse_operands, restates_as_read
from train.schedule import AUTO_STATE, run_schedule
from train.schedule import parse_args as parse_schedule_args


SMOOTHING_STEPS = 5
QUICK_START_CRITERION = "the Quick start round (recipes/toy/round.yaml) trains in at most 150 s on 2 cores"
QUICK_START_TIMINGS = REPO_ROOT / "results" / "toy" / "quick_start"
# Each ablation: its schedule and the round arguments every round of it gets.
ABLATIONS = {
    # The paper's comparison: as many GRPO steps as the three rounds together, all at the final limit.
    "one round at the final limit": ("recipes/toy/schedule_one_round.yaml", ["--max_steps", "120"]),
    # The failure mode: a last round whose limit is below what the hardest level's work needs.
    "a too-tight final limit": ("recipes/toy/schedule_too_tight.yaml", []),
    "`grade` truncation": ("recipes/toy/schedule_grade.yaml", []),
    "batch reward scaling + clip-higher": ("recipes/toy/schedule_batch_scaling.yaml", []),
    "difficulty-aware limits": ("recipes/toy/schedule_difficulty.yaml", []),
}
AUTO_SCHEDULE = "recipes/toy/schedule_auto.yaml"
PAIRED_CHANGE_NOTE = (
    "Δ pass@1 is in points against the base on the same problems; its interval draws the same problems for both "
    "runs (a paired bootstrap), so an interval holding 0 means no measurable change."
)


@dataclass
class ToyStudyConfig:
    schedule: str = field(default="recipes/toy/schedule.yaml", metadata={"help": "The main schedule."})
    ablations: bool = field(default=False, metadata={"help": "Also run and evaluate the ablation schedules."})
    num_samples: int = field(default=4, metadata={"help": "Samples per held-out problem."})
    batch_size: int = field(
        default=256,
        metadata={
            "help": "Responses generated at once by each evaluation. The toy is small: on a 2-core CPU 256 at once "
            "ran faster than the harness's default 64 (results/eval_throughput/harness-*.json)."
        },
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N held-out problems."})
    budgets: str = field(
        default="50,75,100,125,150,200,250,300",
        metadata={
            "help": "Token budgets of the base's baselines (truncated and forced): span the rounds' lengths. Half "
            "and a quarter of the base's mean tokens are added (the testbed's forcing checks)."
        },
    )
    eval_root: str = field(default="outputs/toy-eval", metadata={"help": "Where evaluation runs are kept."})
    results_dir: str = field(default="results/toy", metadata={"help": "Where the report is written."})


def evaluate_model(
    model: str,
    output_dir: Path,
    config: ToyStudyConfig,
    reference: Path | None,
    budgets: str | None = None,
    max_new_tokens: int | None = None,
) -> dict:
    results = evaluate(
        EvalConfig(
            model=model,
            benchmarks="toy",
            num_samples=config.num_samples,
            limit=config.limit,
            output_dir=str(output_dir),
            reference=str(reference) if reference else None,
            backend="transformers",
            batch_size=config.batch_size,
            budgets=budgets,
            max_new_tokens=max_new_tokens,
        )
    )
    return results["benchmarks"]["toy"]


def evaluate_with_forcing(
    model: str, output_dir: Path, config: ToyStudyConfig, max_new_tokens: int | None = None
) -> tuple[dict, dict]:
    """A base measured as the testbed needs it: its responses, then those responses cut at `config.budgets` and at
    half and a quarter of their own mean tokens (the forcing checks). Returns the metrics and those two budgets."""
    unforced = evaluate_model(model, output_dir, config, None, max_new_tokens=max_new_tokens)
    forcing = {"half": round(unforced["mean_tokens"] / 2), "quarter": round(unforced["mean_tokens"] / 4)}
    chosen = parse_budgets(config.budgets) if config.budgets else []
    budgets = ",".join(map(str, sorted({*chosen, *forcing.values()})))
    return evaluate_model(model, output_dir, config, None, budgets, max_new_tokens), forcing


def row(label: str, limit, metrics: dict, train_seconds) -> dict:
    pass_at_1 = metrics["pass@1"]
    return {
        "run": label,
        "token_limit": limit,
        "pass@1": pass_at_1,
        "pass@1_ci": metrics["pass@1_ci"],
        "pass@1_change": metrics.get("pass@1_change"),
        "pass@1_change_ci": metrics.get("pass@1_change_ci"),
        "mean_tokens": metrics["mean_tokens"],
        "truncation_rate": metrics["truncation_rate"],
        "tokens_per_correct": metrics["mean_tokens"] / pass_at_1 if pass_at_1 else None,
        "aes": metrics.get("aes"),
        "train_seconds": train_seconds,
    }


def markdown_table(rows: list[dict]) -> str:
    def number(value, fmt):
        return "—" if value is None else format(value, fmt)

    lines = [
        "| run | limit | pass@1 [95% CI] | Δ pass@1 vs base [95% CI] | mean tokens | truncated | tokens per correct "
        "| AES vs base | train time |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["pass@1_ci"]
        change = "—" if r["pass@1_change"] is None else percent_change(r)
        lines.append(
            f"| {r['run']} | {r['token_limit'] or '—'} | {100 * r['pass@1']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] "
            f"| {change} | {r['mean_tokens']:.1f} "
            f"| {100 * r['truncation_rate']:.1f}% | {number(r['tokens_per_correct'], '.1f')} "
            f"| {number(r['aes'], '+.2f')} | {number(r['train_seconds'], '.0f')} s |"
        )
    return "\n".join(lines)


def budget_verdict(base_metrics: dict, rows: list[dict]) -> list[dict]:
    """Each round against the base's budget curves at the round's own mean tokens (interpolated between budgets):
    the forced and the truncated base's accuracy there, and the round's lead over each, in points."""
    curves = curves_of(base_metrics)
    verdict = []
    for r in rows:
        baseline = at_equal_tokens(point_of(r), curves)
        verdict.append(
            {
                "run": r["run"],
                "pass@1": r["pass@1"],
                "mean_tokens": r["mean_tokens"],
                **{f"{mode}d_base": value for mode, value in baseline.items()},
                **{
                    f"lead_over_{mode}d": None if value is None else r["pass@1"] - value
                    for mode, value in baseline.items()
                },
            }
        )
    return verdict


def verdict_sentence(entry: dict, mode: str) -> str:
    """e.g. "round 3 (76.5% at 100 tokens) beats the forced base at the same tokens (19.9%) by 56.6 points"."""
    baseline, lead = entry.get(f"{mode}d_base"), entry.get(f"lead_over_{mode}d")
    head = f"{entry['run']} ({100 * entry['pass@1']:.1f}% at {entry['mean_tokens']:.0f} tokens)"
    if baseline is None:
        return f"{head}: outside the {mode}d base's measured budgets"
    points = round(100 * lead, 1)  # judged as printed: a lead that shows as 0.0 points is a tie
    outcome = "beats" if points > 0 else "loses to" if points < 0 else "ties with"
    return f"{head} {outcome} the {mode}d base at the same tokens ({100 * baseline:.1f}%)" + (
        f" by {abs(points):.1f} points" if points else ""
    )


def tally(verdict: list[dict], mode: str) -> str:
    """e.g. "3 of 3" rounds ahead of the base's `mode` curve, among the rounds within its measured budgets."""
    leads = [v[f"lead_over_{mode}d"] for v in verdict if v.get(f"lead_over_{mode}d") is not None]
    return f"{sum(round(100 * lead, 1) > 0 for lead in leads)} of {len(leads)}"


def verdict_markdown(verdict: list[dict], base_metrics: dict) -> list[str]:
    lines = [
        "## Budget baselines: is pruning better than cutting the base's thinking?",
        "",
        "The base's own responses cut at each budget: `truncate` grades the cut text; `force` closes the thinking "
        "there and lets the toy write its answer sentence (at most "
        f"{FORCE_ANSWER_TOKENS} tokens, counted). 95% intervals bootstrapped over problems.",
        "",
        budgets_table({"benchmarks": {"toy": base_metrics}}),
        f"**Verdict.** At equal mean tokens, {tally(verdict, 'force')} pruned rounds are more accurate than the "
        f"budget-forced base, and {tally(verdict, 'truncate')} than the truncated base (each base curve "
        "interpolated at the round's mean tokens; a round outside a curve's measured budgets is not counted):",
        "",
    ]
    for entry in verdict:
        lines.append(f"- {verdict_sentence(entry, 'force')}; {verdict_sentence(entry, 'truncate')}.")
    return lines + [""]


# ---------------------------------------------------------------------------------------------------------------
# The testbed: what the toy base must show for the study to mean anything, and what each run pruned
# ---------------------------------------------------------------------------------------------------------------

SAMPLE_FIELDS = ("problem_index", "problem_id", "problem", "answer", "level", "response", "num_tokens", "correct")


def read_run_samples(eval_dir: Path) -> list[dict]:
    return read_samples(eval_dir / SAMPLES_FILE, SAMPLE_FIELDS)


def by_level(samples: list[dict]) -> dict[str, list[dict]]:
    grouped = defaultdict(list)
    for sample in samples:
        grouped[level_label(sample["level"])].append(sample)
    return dict(sorted(grouped.items(), key=lambda item: float(item[0])))


def mean_or_none(values) -> float | None:
    """The mean, or None for no values: a build that answers no problem of a level right is reported, not a crash."""
    values = list(values)
    return statistics.fmean(values) if values else None


def ratio_text(numerator: float | None, denominator: float | None) -> str:
    """`a / b = Nx`, or why there is no ratio."""
    if numerator is None or denominator is None:
        return "no correct response to measure it on"
    return f"{numerator:.1f} / {denominator:.1f} = {numerator / denominator:.2f}x"


def shortest_correct(samples: list[dict]) -> list[int]:
    """Each problem's shortest correct response, in tokens (problems without a correct one left out)."""
    shortest = {}
    for sample in samples:
        if sample["correct"]:
            key = sample["problem_id"]
            shortest[key] = min(shortest.get(key, sample["num_tokens"]), sample["num_tokens"])
    return list(shortest.values())


def box_accuracy(samples: list[dict]) -> dict:
    """How often the first and the last answer boxed while thinking are right, over the responses that boxed one."""
    first, last = [], []
    for sample in samples:
        boxes = anatomy(sample["response"], parse_operands(sample["problem"]))["boxes"]
        if boxes:
            first.append(boxes[0] == sample["answer"])
            last.append(boxes[-1] == sample["answer"])
    return {"first": mean_or_none(first), "last": mean_or_none(last), "responses": len(first)}


def pruned_anatomy(samples: list[dict]) -> dict:
    """What the responses kept: the necessary work done completely (one pass with every addition right), how many
    re-checks, and how often the thinking was closed (not cut by the limit)."""
    parts = [anatomy(sample["response"], parse_operands(sample["problem"])) for sample in samples]
    return {
        "work_complete": statistics.fmean(p["work_complete"] for p in parts),
        "mean_rechecks": statistics.fmean(p["rechecks"] for p in parts),
        "closed": statistics.fmean(p["closed"] for p in parts),
    }


def overthinking_profile(samples: list[dict], misreads_nines: bool = False) -> list[dict]:
    """Per level, what the mean / shortest-correct ratio is made of. A problem's shortest correct response is a
    single pass only when one of its samples both stops after its first pass and has that pass right; otherwise it
    is a response with re-checks. So: how often a response stops after one pass, how often that pass is right, how
    many re-checks the others make, and the mean and mean shortest correct tokens; and how often a response restated
    the numbers as its traces (made with `misreads_nines`) do, without which no pass can be right."""
    profile = []
    for level, level_samples in by_level(samples).items():
        rechecks = [anatomy(s["response"], parse_operands(s["problem"]))["rechecks"] for s in level_samples]
        one_pass = [s["correct"] for s, count in zip(level_samples, rechecks) if count == 0]
        others = [count for count in rechecks if count]
        profile.append(
            {
                "level": level,
                "responses": len(level_samples),
                "one_pass_share": len(one_pass) / len(level_samples),
                "one_pass_accuracy": mean_or_none(one_pass),
                "rechecks_when_rechecking": mean_or_none(others),
                "mean_tokens": statistics.fmean(s["num_tokens"] for s in level_samples),
                "mean_shortest_correct": mean_or_none(shortest_correct(level_samples)),
                "restated_share": statistics.fmean(
                    restates_as_read(s["response"], parse_operands(s["problem"]), misreads_nines)
                    for s in level_samples
                ),
            }
        )
    return profile


def overthinking_table(profile: list[dict]) -> str:
    def shown(value, fmt="{:.1f}"):
        return "—" if value is None else fmt.format(value)

    def percent(share):
        return shown(None if share is None else 100 * share, "{:.1f}%")

    lines = [
        "| level | stops after one pass | that pass right | re-checks when re-checking | mean tokens "
        "| mean shortest correct | ratio | restates the numbers as its traces do |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in profile:
        shortest = p["mean_shortest_correct"]
        ratio = None if shortest is None else p["mean_tokens"] / shortest
        lines.append(
            f"| {p['level']} | {percent(p['one_pass_share'])} | {percent(p['one_pass_accuracy'])} "
            f"| {shown(p['rechecks_when_rechecking'], '{:.2f}')} | {p['mean_tokens']:.1f} | {shown(shortest)} "
            f"| {shown(ratio, '{:.2f}x')} | {percent(p['restated_share'])} |"
        )
    return "\n".join(lines)


def level_rows(
    label: str, samples: list[dict], base_samples: list[dict], schedule_samples: list[dict] | None = None
) -> list[dict]:
    """Per level: pass@1, its paired change from the base on the same problems, tokens and what was pruned; for an
    ablation also its paired change from the fixed schedule's final round, so a loss shows on the level it hit."""
    base_levels = by_level(base_samples)
    schedule_levels = by_level(schedule_samples) if schedule_samples is not None else None
    rows = []
    for level, level_samples in by_level(samples).items():
        problems = defaultdict(list)
        for sample in level_samples:
            problems[sample["problem_id"]].append(bool(sample["correct"]))
        rows.append(
            {
                "run": label,
                "level": level,
                "pass@1": statistics.fmean(statistics.fmean(outcomes) for outcomes in problems.values()),
                **paired_change(level_samples, base_levels.get(level, [])),
                "mean_tokens": statistics.fmean(sample["num_tokens"] for sample in level_samples),
                **pruned_anatomy(level_samples),
                **(
                    against_schedule(level_samples, schedule_levels.get(level, []))
                    if schedule_levels is not None
                    else {}
                ),
            }
        )
    return rows


def level_table(rows: list[dict]) -> str:
    lines = [
        "| run | level | pass@1 | Δ pass@1 vs base [95% CI] | Δ pass@1 vs the fixed schedule [95% CI] | mean tokens "
        "| work done completely | re-checks per response | thinking closed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['level']} | {100 * r['pass@1']:.1f}% | {percent_change(r)} | {vs_schedule_change(r)} "
            f"| {r['mean_tokens']:.1f} | {100 * r['work_complete']:.1f}% | {r['mean_rechecks']:.2f} "
            f"| {100 * r['closed']:.1f}% |"
        )
    return "\n".join(lines)


def vs_schedule_change(row: dict) -> str:
    """An ablation's paired change from the fixed schedule, as the tables print it; "—" for any other run."""
    if row.get("vs_schedule") is None:
        return "—"
    return percent_change({"pass@1_change": row["vs_schedule"], "pass@1_change_ci": row["vs_schedule_ci"]})


def reward_within_limit(parent_samples: list[dict], limit: int) -> dict[str, float]:
    """Per level, the share of the parent's held-out responses that are correct within `limit` tokens: what a
    round's rollouts earn under zero truncation, as far as the parent's responses at evaluation tell. A level near
    0 gives every group of rollouts the same reward 0, hence no advantage and no gradient from that level."""
    return {
        level: statistics.fmean(bool(s["correct"]) and s["num_tokens"] <= limit for s in level_samples)
        for level, level_samples in by_level(parent_samples).items()
    }


def limit_reach_rows(label: str, evaluated: list[tuple], samples_by_model: dict[str, list[dict]]) -> list[dict]:
    """`reward_within_limit` for each round of a schedule against its parent's responses, where the parent was
    evaluated and the reward is zero truncation's at one limit for every problem (not `grade`, not
    difficulty-aware limits)."""
    rows = []
    for round_dir, record, _, eval_dir in evaluated:
        parent = samples_by_model.get(model_reference(record.parent))
        if parent is not None and record.truncation == "zero" and not record.difficulty:
            rows.append(
                {
                    "run": f"{label}, round {record.round}",
                    "token_limit": record.token_limit,
                    "levels": reward_within_limit(parent, record.token_limit),
                }
            )
        samples_by_model[model_reference(str(round_dir))] = read_run_samples(eval_dir)
    return rows


def limit_reach_table(rows: list[dict]) -> str:
    levels = sorted({level for r in rows for level in r["levels"]}, key=float)
    lines = [
        "| round | limit | " + " | ".join(f"level {level}" for level in levels) + " |",
        "|---|---|" + "---|" * len(levels),
    ]
    for r in rows:
        shares = " | ".join(f"{100 * r['levels'][level]:.1f}%" if level in r["levels"] else "—" for level in levels)
        lines.append(f"| {r['run']} | {r['token_limit']} | {shares} |")
    return "\n".join(lines)


def against_schedule(samples: list[dict], schedule_samples: list[dict]) -> dict:
    """An ablation's pass@1 minus the fixed schedule's final round's, paired on the same problems."""
    change = paired_change(samples, schedule_samples)
    return {"vs_schedule": change["pass@1_change"], "vs_schedule_ci": change["pass@1_change_ci"]}


def schedule_comparison_table(ablation_rows: list[dict], schedule_row_: dict) -> str:
    lines = [
        "| run | pass@1 | mean tokens | Δ pass@1 vs the fixed schedule [paired 95% CI] | Δ mean tokens |",
        "|---|---|---|---|---|",
    ]
    for r in ablation_rows:
        lines.append(
            f"| {r['run']} | {100 * r['pass@1']:.1f}% | {r['mean_tokens']:.1f} | {vs_schedule_change(r)} "
            f"| {r['mean_tokens'] - schedule_row_['mean_tokens']:+.1f} |"
        )
    return "\n".join(lines)


# What each ablation was expected to show, fixed with the toy's design before any ablation ran: which way its
# change from the fixed schedule should point (-1 below it), and on which levels.
EXPECTED = {
    "one round at the final limit": (
        -1,
        "all",
        "the paper's finding: iterative rounds keep accuracy better than one round straight at the final limit",
    ),
    "a too-tight final limit": (-1, "hardest", "the failure mode: a measurable loss, on the hardest level"),
}


def direction(change: float | None, interval: list[float] | None) -> int:
    """+1 or -1 where the paired 95% interval excludes 0 (as printed: a bound that shows as 0.0 holds it), else 0."""
    if change is None:
        return 0
    low, high = (round(100 * bound, 1) for bound in interval)
    return 1 if low > 0 else -1 if high < 0 else 0


def compared(change: float | None, interval: list[float] | None, other: str) -> str:
    """e.g. "+2.9 [+0.8, +5.1] points: more accurate than the fixed schedule"."""
    if change is None:
        return f"no problem in common with {other}"
    verdict = {
        1: f"more accurate than {other}",
        -1: f"less accurate than {other}",
        0: f"no measurable difference from {other}",
    }
    pair = {"pass@1_change": change, "pass@1_change_ci": interval}
    return f"{percent_change(pair)} points: {verdict[direction(change, interval)]}"


def ablation_finding(
    ablation: dict,
    label: str,
    schedule: dict,
    levels: list[dict],
    limit_reach: list[dict] | None = None,
    detailed: bool = True,
) -> str:
    """One ablation against the fixed schedule in a sentence: overall and on the easiest and hardest levels, paired;
    what its limits paid its parents on the hardest level; and whether what it was expected to show (EXPECTED) came
    out. Not `detailed` (the README's): a level only where its change is measurable or the expectation is judged on
    it, the limits only where it is."""
    mine = {r["level"]: r for r in levels if r["run"] == label and "vs_schedule" in r}
    easiest, hardest = (min(mine, key=float), max(mine, key=float)) if mine else (None, None)
    text = (
        f"**{ablation['run']}**: {100 * ablation['pass@1']:.1f}% at {ablation['mean_tokens']:.1f} tokens against the "
        f"fixed schedule's {100 * schedule['pass@1']:.1f}% at {schedule['mean_tokens']:.1f}: "
        f"{compared(ablation['vs_schedule'], ablation['vs_schedule_ci'], 'the fixed schedule')}"
    )
    judged_by_level = label in EXPECTED and EXPECTED[label][1] == "hardest"
    for name, level in (("easiest", easiest), ("hardest", hardest)):
        measurable = level is not None and direction(mine[level]["vs_schedule"], mine[level]["vs_schedule_ci"])
        if not (detailed or measurable or (name == "hardest" and judged_by_level)):
            continue
        if level is not None and len(mine) > 1:
            text += (
                f"; {name} level ({level}) {compared(mine[level]['vs_schedule'], mine[level]['vs_schedule_ci'], 'it')}"
            )
    text += "."
    if detailed or judged_by_level:
        text += reach_clause(limit_reach or [], label)
    if label in EXPECTED:
        sign, where, claim = EXPECTED[label]
        row = ablation if where == "all" or hardest is None else mine[hardest]
        held = direction(row["vs_schedule"], row["vs_schedule_ci"]) == sign
        text += f" Expected, {claim}: {'it shows' if held else 'it does not show'} on this toy."
    return text


def reach_clause(limit_reach: list[dict], label: str) -> str:
    """What each of a schedule's limits paid its parent's responses on the hardest level (`limit_reach_rows`)."""
    rounds = [r for r in limit_reach if r["run"].startswith(f"{label}, round ")]
    if not rounds:
        return ""
    hardest = max((level for r in rounds for level in r["levels"]), key=float)
    paid = " → ".join(f"{100 * r['levels'].get(hardest, 0.0):.1f}% at {r['token_limit']}" for r in rounds)
    return (
        f" On level {hardest}, its limits pay {paid} of the parent's responses (correct within the limit, as "
        "evaluated)."
    )


def findings(summary: dict, detailed: bool = True) -> list[str]:
    """What the study shows, one bullet per question the study was built to answer, each read off summary.json's
    figures and paired intervals: the same sentences whichever way they come out. Not `detailed`: the README's
    shorter form, per-level figures only where they are measurable or a verdict rests on them."""
    base, schedule = summary["rows"][0], summary["rows"][-1]
    share = schedule["mean_tokens"] / base["mean_tokens"]
    aim_met = share <= 0.5 and round(100 * schedule["pass@1_change"], 1) >= -2
    bullets = [
        f"**The fixed schedule** ({len(summary['rows']) - 1} rounds, limits "
        f"{' → '.join(str(r['token_limit']) for r in summary['rows'][1:])}): {100 * share:.0f}% of the base's mean "
        f"tokens at {compared(schedule['pass@1_change'], schedule['pass@1_change_ci'], 'the base')} (aim: at most "
        f"50% of the tokens, at most 2 points lost): {'met' if aim_met else 'not met'}."
        + (reach_clause(summary.get("limit_reach", []), "fixed schedule") if detailed else ""),
    ]
    if summary.get("verdict"):
        bullets.append(
            f"**Pruning against cutting the base's thinking** at equal mean tokens: "
            f"{tally(summary['verdict'], 'force')} rounds more accurate than the budget-forced base, "
            f"{tally(summary['verdict'], 'truncate')} than the truncated base."
        )
    for ablation in summary.get("ablations", []):
        label = next((name for name in [*ABLATIONS, "automatic schedule"] if ablation["run"].startswith(name)), None)
        if label is not None and "vs_schedule" in ablation:
            bullets.append(
                ablation_finding(
                    ablation, label, schedule, summary.get("levels", []), summary.get("limit_reach"), detailed
                )
            )
    if summary.get("auto"):
        auto = summary["auto"]
        fired = guard_fired(auto)
        bullets.append(
            f"**The automatic schedule's accuracy guard** {'stopped a round' if fired else 'did not fire'}. "
            + automatic_summary(auto)
        )
    if summary.get("levels"):
        bullets.append(pruned_finding(summary["levels"]))
    return [f"- {bullet}" for bullet in bullets]


def pruned_finding(levels: list[dict]) -> str:
    """What the pruned models dropped on the hardest level, and where that leaves them: at the one-pass floor."""
    hardest = max((r["level"] for r in levels), key=float)
    final_runs = [r for r in levels if r["level"] == hardest and r["run"] != "base"]
    at_floor = [r["run"] for r in final_runs if r["mean_rechecks"] < 0.05]
    base_row = next(r for r in levels if r["level"] == hardest and r["run"] == "base")
    head = (
        f"**What was pruned**, on the hardest level (level {hardest}): the base makes {base_row['mean_rechecks']:.2f} "
        f"re-checks per response in {base_row['mean_tokens']:.1f} tokens; {len(at_floor)} of the {len(final_runs)} "
        "pruned models make fewer than 0.05"
    )
    if not at_floor:
        return head + "."
    complete = ", ".join(f"{100 * r['work_complete']:.1f}%" for r in final_runs if r["run"] in at_floor)
    return (
        f"{head} ({', '.join(at_floor)}), their necessary work done completely in {complete} of responses (base "
        f"{100 * base_row['work_complete']:.1f}%). Once the re-checks are gone a response is one pass, whose length "
        "the problem fixes: past that floor a limit has nothing left to prune, so the runs that reach it differ in "
        "accuracy, not length."
    )


def criterion_row(criterion: str, measured: str, met: bool) -> dict:
    return {"criterion": criterion, "measured": measured, "met": bool(met)}


def testbed_properties(samples: list[dict], metrics: dict, forcing: dict) -> list[dict]:
    """The properties issue #22 asks of the toy base's responses, each measured on the held-out set against its
    criterion."""
    levels = by_level(samples)
    easy, hard = next(iter(levels)), list(levels)[-1]
    level_metrics = metrics["levels"]
    shortest = {level: mean_or_none(shortest_correct(level_samples)) for level, level_samples in levels.items()}
    forced = {row["budget"]: row["pass@1"] for row in metrics["budgets"] if row["mode"] == "force"}
    base, mean_tokens = metrics["pass@1"], metrics["mean_tokens"]
    all_shortest = mean_or_none(shortest_correct(samples))
    boxes = box_accuracy(levels[hard])
    easy_ci, hard_ci = level_metrics[easy]["pass@1_ci"], level_metrics[hard]["pass@1_ci"]

    lengths = ", ".join(
        f"level {level} {'no correct response' if t is None else f'{t:.1f}'}" for level, t in shortest.items()
    )
    boxes_measured = boxes["first"] is not None
    return [
        criterion_row(
            "at least 3 levels whose necessary reasoning differs in length (mean shortest correct response)",
            f"{len(levels)} levels: {lengths} tokens",
            len(levels) >= 3
            and None not in shortest.values()
            and list(shortest.values()) == sorted(set(shortest.values())),
        ),
        *(
            criterion_row(
                f"forced at {name} its mean tokens ({budget}) loses at least {points} points",
                f"{100 * base:.1f}% → {100 * forced[budget]:.1f}% ({signed_points(forced[budget] - base)} points)",
                base - forced[budget] >= points / 100,
            )
            for name, budget, points in (("half", forcing["half"], 10), ("a quarter of", forcing["quarter"], 25))
        ),
        criterion_row(
            "the hardest level's shortest correct response is at least twice the easiest's",
            ratio_text(shortest[hard], shortest[easy]),
            None not in (shortest[hard], shortest[easy]) and shortest[hard] >= 2 * shortest[easy],
        ),
        criterion_row(
            "mean response at least twice the mean shortest correct response",
            ratio_text(mean_tokens, all_shortest),
            all_shortest is not None and mean_tokens >= 2 * all_shortest,
        ),
        criterion_row(
            "hardest level: the last box is right at least 5 points more often than the first",
            f"first {100 * boxes['first']:.1f}% → last {100 * boxes['last']:.1f}% ({boxes['responses']} responses)"
            if boxes_measured
            else "no response boxed an answer",
            boxes_measured and boxes["last"] - boxes["first"] >= 0.05,
        ),
        criterion_row("base pass@1 between 55% and 90%", f"{100 * base:.1f}%", 0.55 <= base <= 0.90),
        criterion_row(
            "hardest level clearly below the easiest (95% intervals apart)",
            f"level {hard} {100 * level_metrics[hard]['pass@1']:.1f}% [{100 * hard_ci[0]:.1f}, "
            f"{100 * hard_ci[1]:.1f}] vs level {easy} {100 * level_metrics[easy]['pass@1']:.1f}% "
            f"[{100 * easy_ci[0]:.1f}, {100 * easy_ci[1]:.1f}]",
            hard_ci[1] < easy_ci[0],
        ),
    ]


def quick_start_criterion(first_round: RoundRecord, timings_dir: Path = QUICK_START_TIMINGS) -> dict:
    """The Quick start round's training time against its limit. This study's round 1 is one draw of a time that
    moves by a tenth between runs: where scripts/time_quick_start.py timed the same torch build several times, their
    median decides."""
    torch_version = first_round.versions.get("torch")
    measured = f"{first_round.train_seconds:.0f} s (round 1 of the schedule, torch {torch_version})"
    timings = timings_dir / f"torch-{torch_version}.json"
    if not timings.is_file():
        return criterion_row(QUICK_START_CRITERION, measured, first_round.train_seconds <= CRITERION_SECONDS)
    report = json.loads(timings.read_text())
    median, span = report["summary"]["median_train_seconds"], report["summary"]["train_seconds_range"]
    return criterion_row(
        QUICK_START_CRITERION,
        f"median {median:.0f} s over {len(report['runs'])} runs ({span['min']:.0f}-{span['max']:.0f} s, "
        f"scripts/time_quick_start.py); this study's {measured}",
        median <= CRITERION_SECONDS,
    )


def build_properties(build: dict) -> list[dict]:
    """The toy base's build against issue #22's limits: its SFT time and its size on disk."""
    return [
        criterion_row(
            "built by `python -m thinkprune.toy` in at most 60 min on 2 cores",
            f"{build['train_seconds'] / 60:.1f} min of SFT",
            build["train_seconds"] <= 3600,
        ),
        criterion_row("shipped in at most 20 MB", f"{build['size_mb']:.1f} MB", build["size_mb"] <= 20),
    ]


def testbed_table(properties: list[dict]) -> str:
    lines = ["| criterion | measured | met |", "|---|---|---|"]
    lines += [f"| {p['criterion']} | {p['measured']} | {'yes' if p['met'] else '**no**'} |" for p in properties]
    return "\n".join(lines)


def plot_level_pareto(level_rows_: list[dict], path: Path) -> None:
    """Accuracy vs mean tokens on each level: every run a point."""
    levels = sorted({r["level"] for r in level_rows_}, key=float)
    figure = Figure(figsize=(4.6 * len(levels), 4.2), dpi=110)
    for axis, level in zip(figure.subplots(1, len(levels), squeeze=False)[0], levels):
        for r in (r for r in level_rows_ if r["level"] == level):
            axis.scatter(r["mean_tokens"], 100 * r["pass@1"], s=30, color="C0" if r["run"] == "base" else "C1")
            axis.annotate(
                r["run"], (r["mean_tokens"], 100 * r["pass@1"]), fontsize=6, xytext=(3, 3), textcoords="offset points"
            )
        axis.set_title(f"level {level}")
        axis.set_xlabel("mean response tokens")
        axis.set_ylabel("pass@1 (%)")
        axis.grid(alpha=0.3)
    figure.suptitle("Accuracy vs length per level (up-left is better)", fontsize=9)
    figure.tight_layout()
    save_figure_atomic(figure, path)


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and up to `window - 1` before it (fewer at the start)."""
    return [sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def schedule_row(label: str, evaluated: list[tuple], kept: int | None, metrics: dict, decision_seconds: float) -> dict:
    """A schedule as a whole: its rounds and limits, the round it keeps (None: none, it keeps its first parent) and
    that model's evaluation, `metrics`, and where its time went."""
    records = [record for _, record, _, _ in evaluated]
    train_seconds = sum(record.train_seconds for record in records)
    return {
        "schedule": label,
        "rounds": len(records),
        "limits": " → ".join(str(record.token_limit) for record in records),
        "kept_round": kept,
        "pass@1": metrics["pass@1"],
        "mean_tokens": metrics["mean_tokens"],
        "train_seconds": train_seconds,
        "decision_seconds": decision_seconds,
        "total_seconds": train_seconds + decision_seconds,
    }


def schedules_table(rows: list[dict]) -> str:
    lines = [
        "| schedule | rounds | limits | kept round | pass@1 | mean tokens | train time | measuring + validating | total |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['schedule']} | {r['rounds']} | {r['limits']} | {r['kept_round'] or 'none (the base)'} "
            f"| {100 * r['pass@1']:.1f}% "
            f"| {r['mean_tokens']:.1f} | {r['train_seconds']:.0f} s | {r['decision_seconds']:.0f} s "
            f"| {r['total_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def automatic_rows(evaluated: list[tuple], auto: dict, base_metrics: dict) -> tuple[dict, dict]:
    """The automatic schedule's ablation row and schedule row: the round it keeps (the last within its accuracy
    tolerance) or, when it keeps none, the base it started from."""
    kept = auto["selected_round"]
    train_seconds = sum(record.train_seconds for _, record, _, _ in evaluated)
    if kept:
        _, record, metrics, _ = evaluated[kept - 1]
        limits = " → ".join(str(r.token_limit) for _, r, _, _ in evaluated[:kept])
        ablation = row(f"automatic schedule ({limits})", record.token_limit, metrics, train_seconds)
    else:
        metrics = base_metrics
        ablation = row("automatic schedule (no round kept: the base)", None, metrics, train_seconds)
    return ablation, schedule_row("automatic", evaluated, kept, metrics, auto["seconds"])


def guard_fired(auto: dict) -> bool:
    """Whether the automatic schedule's accuracy guard stopped a round: it kept one before its last, or none."""
    return auto["selected_round"] != len(auto["token_limits"])


def automatic_summary(auto: dict) -> str:
    kept = (
        f"It keeps round {auto['selected_round']}, the last within its accuracy tolerance of the base's validation "
        "accuracy."
        if auto["selected_round"]
        else "No round stayed within its accuracy tolerance: it keeps the base, whose figures the tables show."
    )
    accuracies = " → ".join(f"{100 * accuracy:.1f}%" for accuracy in auto["validation_accuracy"])
    return (
        f"The automatic schedule stopped: {auto['stop_reason']}. {kept} Its validation accuracy, the base's then each "
        f"round's ({' → '.join(map(str, auto['token_limits']))} tokens): {accuracies}."
    )


def auto_state(schedule_file: str) -> dict:
    schedule, _ = parse_schedule_args(["--config", schedule_file])
    return json.loads((Path(schedule.output_root) / AUTO_STATE).read_text())


def auto_decisions(state: dict) -> dict:
    """The automatic schedule's own account (its state file): why it stopped, the round it keeps, the seconds spent
    measuring, and the validations its guard watched."""
    summaries = [state["first_parent"]] + [
        entry[key]
        for entry in state["rounds"]
        for key in ("measurement", "validation", "next_measurement")
        if key in entry
    ]
    validated = [entry for entry in state["rounds"] if "validation" in entry]
    return {
        "stop_reason": state["stop_reason"],
        "selected_round": state["selected_round"],
        "seconds": sum(summary["seconds"] for summary in summaries),
        # What the guard watched: the first parent's validation, then each round's, at the limit it trained under.
        "token_limits": [entry["token_limit"] for entry in validated],
        "validation_accuracy": [state["first_parent"]["accuracy"], *(e["validation"]["accuracy"] for e in validated)],
        "validation_mean_tokens": [
            state["first_parent"]["mean_tokens"],
            *(entry["validation"]["mean_tokens"] for entry in validated),
        ],
    }


def finished_before(record: RoundRecord, started: float) -> bool:
    return datetime.fromisoformat(record.finished_at).timestamp() < started


def previous_summary(results_dir: Path) -> dict:
    summary = results_dir / "summary.json"
    return json.loads(summary.read_text()) if summary.is_file() else {}


def ablation_seconds(records: list[RoundRecord], previous: dict, started: float, study_done: float) -> float | None:
    """The ablations' wall-clock time: this run's if it trained them all, the earlier run's if it reused them all."""
    reused = [finished_before(record, started) for record in records]
    if records and not any(reused):
        return round(time.time() - study_done, 1)
    return previous.get("ablation_seconds") if records and all(reused) else None


def plot_chained_curves(round_dirs: list[Path], path: Path) -> None:
    """Reward, finished rate and mean completion length per step, rounds one after the other, each limit dashed."""
    figure = Figure(figsize=(14, 3.4), dpi=100)
    reward_axis, finished_axis, length_axis = figure.subplots(1, 3)
    offset = 0
    for index, round_dir in enumerate(round_dirs, start=1):
        log = read_trainer_log(round_dir)
        limit = RoundRecord.read(round_dir).token_limit
        points = [entry for entry in log if "reward" in entry]
        steps = [offset + entry["step"] for entry in points]
        for axis, key, label in (
            (reward_axis, "reward", f"round {index}"),
            (finished_axis, "thinkprune/finished_rate", None),
            (length_axis, "completions/mean_length", None),
        ):
            values = [entry[key] for entry in points]
            # One step is 32 rollouts: its mean is noisy, so each step is a faint dot and the trend a running mean.
            (line,) = axis.plot(steps, running_mean(values, SMOOTHING_STEPS), linewidth=2, label=label)
            axis.plot(steps, values, "o", markersize=2.5, alpha=0.35, color=line.get_color())
        last_step = offset + max((entry.get("step", 0) for entry in log), default=0)
        length_axis.hlines(limit, offset, last_step, colors="gray", linestyles="--", linewidth=1)
        offset = last_step
    reward_axis.set_title(f"reward (finished and correct), running mean of {SMOOTHING_STEPS}")
    # The reward's two parts move apart: sampled at temperature 1.0 the toy miscopies some sums whatever the limit,
    # while the share cut by the limit is what each round removes.
    finished_axis.set_title("rollouts finished within the limit")
    length_axis.set_title("mean completion tokens (dashed: limit)")
    for axis in (reward_axis, finished_axis, length_axis):
        axis.set_xlabel("step (rounds chained)")
        axis.grid(alpha=0.3)
    reward_axis.legend(fontsize=8)
    figure.tight_layout()
    save_figure_atomic(figure, path)


def shipped_round(round_dir: Path, shipped_root: Path = TOY_CHECKPOINTS) -> dict | None:
    """Whether the schedule's round is the one shipped under the same name, weight file byte for byte: the demo
    and the card then show the model this study measured. None when nothing is shipped under that name."""
    shipped = shipped_root / Path(round_dir).name
    if not (shipped / SAFE_WEIGHTS_NAME).is_file():
        return None
    identical = filecmp.cmp(Path(round_dir) / SAFE_WEIGHTS_NAME, shipped / SAFE_WEIGHTS_NAME, shallow=False)
    where = shipped.relative_to(REPO_ROOT) if shipped.is_relative_to(REPO_ROOT) else shipped
    return {"path": str(where), "identical": identical}


def shipped_sentence(shipped: dict) -> str:
    if shipped["identical"]:
        return (
            f"The schedule's last round is the shipped `{shipped['path']}` byte for byte (the same "
            f"{SAFE_WEIGHTS_NAME}): the demo serves the model measured here."
        )
    return (
        f"The schedule's last round differs from the shipped `{shipped['path']}` ({SAFE_WEIGHTS_NAME}): the demo "
        "serves another model than the one measured here."
    )


def run_and_evaluate(
    schedule_file: str, config: ToyStudyConfig, base_eval: Path, round_args: list[str] = ()
) -> list[tuple]:
    """(round dir, round record, toy metrics, eval dir) per round of a schedule, trained and evaluated as needed."""
    schedule, _ = parse_schedule_args(["--config", schedule_file])
    rounds = run_schedule(schedule, list(round_args))
    evaluated = []
    for round_dir in rounds:
        eval_dir = Path(config.eval_root) / f"{Path(schedule.output_root).name}-{round_dir.name}"
        metrics = evaluate_model(str(round_dir), eval_dir, config, base_eval)
        evaluated.append((round_dir, RoundRecord.read(round_dir), metrics, eval_dir))
    return evaluated


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    (config,) = HfArgumentParser(ToyStudyConfig).parse_args_into_dataclasses(args=argv)
    results_dir, eval_root = Path(config.results_dir), Path(config.eval_root)
    results_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()

    base = ensure_toy_base()
    build = json.loads((base / TOY_RECORD).read_text())
    base_eval = eval_root / "base"
    base_metrics, forcing = evaluate_with_forcing("toy", base_eval, config)
    rows = [row("toy base (SFT)", None, base_metrics, build["train_seconds"])]
    main_rounds = run_and_evaluate(config.schedule, config, base_eval)
    for _, record, metrics, _ in main_rounds:
        rows.append(row(f"round {record.round}", record.token_limit, metrics, record.train_seconds))
    labels = ["base"] + [f"round {record.round}" for _, record, _, _ in main_rounds]
    compare([str(base_eval)] + [str(eval_dir) for *_, eval_dir in main_rounds], labels, str(results_dir))
    plot_chained_curves([round_dir for round_dir, *_ in main_rounds], results_dir / "training_curves.png")

    base_samples = read_run_samples(base_eval)
    size_mb = sum(path.stat().st_size for path in base.iterdir()) / 2**20
    testbed = testbed_properties(base_samples, base_metrics, forcing) + build_properties({**build, "size_mb": size_mb})
    testbed.append(quick_start_criterion(main_rounds[0][1]))
    per_level = level_rows("base", base_samples, base_samples)
    for label, (*_, eval_dir) in zip(labels[1:], main_rounds):
        per_level += level_rows(label, read_run_samples(eval_dir), base_samples)
    samples_by_model = {"toy": base_samples}
    limit_reach = limit_reach_rows("fixed schedule", main_rounds, samples_by_model)

    shipped = shipped_round(main_rounds[-1][0])
    verdict = budget_verdict(base_metrics, rows[1:])
    study_done = time.time()
    study_seconds = round(study_done - started, 1)
    # Rounds reused from an earlier run: that run's times are the measure, not this run's few seconds.
    previous = previous_summary(results_dir)
    if all(finished_before(record, started) for _, record, _, _ in main_rounds):
        study_seconds = previous.get("study_seconds") or study_seconds
    ablation_rows, ablation_records, schedule_rows, auto = [], [], [], None
    if config.ablations:
        schedule_rows.append(
            schedule_row("fixed (the schedule above)", main_rounds, len(main_rounds), main_rounds[-1][2], 0.0)
        )
        schedule_samples = read_run_samples(main_rounds[-1][3])
        for label, (schedule_file, round_args) in ABLATIONS.items():
            evaluated = run_and_evaluate(schedule_file, config, base_eval, round_args)
            ablation_records += [r for _, r, _, _ in evaluated]
            _, record, metrics, eval_dir = evaluated[-1]
            samples = read_run_samples(eval_dir)
            per_level += level_rows(label, samples, base_samples, schedule_samples)
            limit_reach += limit_reach_rows(label, evaluated, samples_by_model)
            train_seconds = sum(r.train_seconds for _, r, _, _ in evaluated)
            limits = " → ".join(str(r.token_limit) for _, r, _, _ in evaluated)
            ablation_rows.append(
                row(f"{label} ({limits})", record.token_limit, metrics, train_seconds)
                | against_schedule(samples, schedule_samples)
            )
            if label == "difficulty-aware limits":
                measured = sum(r.difficulty["measure_seconds"] for _, r, _, _ in evaluated)
                schedule_rows.append(schedule_row(label, evaluated, len(evaluated), metrics, measured))
        evaluated = run_and_evaluate(AUTO_SCHEDULE, config, base_eval)
        ablation_records += [r for _, r, _, _ in evaluated]
        limit_reach += limit_reach_rows("automatic schedule", evaluated, samples_by_model)
        auto = auto_decisions(auto_state(AUTO_SCHEDULE))
        auto_ablation, auto_schedule = automatic_rows(evaluated, auto, base_metrics)
        kept_samples = (
            read_run_samples(evaluated[auto["selected_round"] - 1][3]) if auto["selected_round"] else base_samples
        )
        ablation_rows.append(auto_ablation | against_schedule(kept_samples, schedule_samples))
        schedule_rows.append(auto_schedule)
        if auto["selected_round"]:
            per_level += level_rows("automatic schedule", kept_samples, base_samples, schedule_samples)

    summary = {
        "machine": machine_description(),
        "python": sys.version.split()[0],
        "num_samples": config.num_samples,
        "testbed": testbed,
        "forcing_budgets": forcing,
        "rows": rows,
        "levels": per_level,
        "ablations": ablation_rows,
        "limit_reach": limit_reach,
        "shipped_round": shipped,
        "budgets": base_metrics["budgets"],
        "verdict": verdict,
        "schedules": schedule_rows,
        "auto": auto,
        "study_seconds": study_seconds,
        "ablation_seconds": ablation_seconds(ablation_records, previous, started, study_done),
    }
    write_json_atomic(results_dir / "summary.json", summary)
    timing = f"The study (schedule and evaluations) took {study_seconds:.0f} s of wall-clock time"
    if summary["ablation_seconds"]:
        timing += f", the ablations {summary['ablation_seconds']:.0f} s more"
    report = [
        "# Toy ThinkPrune study",
        "",
        f"Measured on {summary['machine']}. {timing}.",
        "",
        markdown_table(rows),
        "",
        PAIRED_CHANGE_NOTE + (f" {shipped_sentence(shipped)}" if shipped else ""),
        "",
        "## What the study shows",
        "",
        *findings(summary),
        "",
        "Every run here is one training run, with the recipes' seed: `python scripts/toy_seeds.py` trains the "
        "iterative schedule and its variants again with other seeds ([seeds/README.md](seeds/README.md)).",
        "",
    ]
    report += [
        "## The testbed: what the toy base shows before any pruning",
        "",
        "Measured on the base's held-out responses; the criteria were fixed before any pruning ran on this toy.",
        "",
        testbed_table(testbed),
        "",
    ]
    report += verdict_markdown(verdict, base_metrics)
    if ablation_rows:
        report += ["## Ablations (final round of each)", "", markdown_table(ablation_rows), ""]
        report += [
            "Each ablation's final round against the fixed schedule's (round 3 above), paired on the same problems:",
            "",
            schedule_comparison_table(ablation_rows, rows[-1]),
            "",
        ]
        report += [
            "## Schedules compared",
            "",
            schedules_table(schedule_rows),
            "",
            automatic_summary(auto) + " Train time is the GRPO rounds; "
            "measuring + validating is the automatic schedule's measurements of each parent and validations of "
            "each round, and the difficulty-aware rounds' measurements of their parent on every training problem.",
            "",
        ]
    plot_level_pareto(per_level, results_dir / "pareto_levels.png")
    report += [
        "## Per level: accuracy, length and what was pruned",
        "",
        'Δ pass@1 against the base on the same level\'s problems (paired bootstrap). "Work done completely": one '
        "pass in the response with every addition right (the necessary steps, kept complete), however the response "
        'ended; "re-checks": passes started after the first; "thinking closed": `</think>` written, not cut by the '
        "limit.",
        "",
        level_table(per_level),
        "",
        "![Pareto per level](pareto_levels.png)",
        "",
        "## Could each limit pay? The parent's responses that a round's reward pays",
        "",
        "Per level, the share of each round's parent's held-out responses (sampled at evaluation, temperature "
        f"{EvalConfig.temperature}; training samples at 1.0) that are correct within the round's limit: what its "
        "rollouts earn under zero truncation. Where it is near 0, every rollout of the level earns 0, so the level gives no "
        "advantage and no gradient: the limit neither rewards nor punishes it. Rounds with `grade` truncation or "
        "difficulty-aware limits are left out (their reward is not this one), as are rounds whose parent was not "
        "evaluated.",
        "",
        limit_reach_table(limit_reach),
        "",
    ]
    report += ["![Pareto](pareto.png)", "", "![Training curves](training_curves.png)", ""]
    write_text_atomic(results_dir / "README.md", "\n".join(report))
    print("\n".join(report))
    return summary


if __name__ == "__main__":
    main()
