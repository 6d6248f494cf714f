"""Compare evaluation runs side by side: one Markdown table and a Pareto plot (accuracy vs mean tokens).

    python eval/compare.py eval_results/base eval_results/round1 eval_results/round2 eval_results/round3 \\
        --labels base,4k,3k,2k --output eval_results/comparison

Writes `comparison.md` (pass@1 and mean tokens with their 95% intervals, truncation rate, reflection words per
response and AES per benchmark and run; AES and the changes are against the FIRST directory, the pass@1 change with a
paired interval) and `pareto.png` (one panel per benchmark plus their average; every run a point, Pareto-optimal runs
filled). "average" is the mean over the benchmarks every run has, as the paper averages AIME24, AMC23 and MATH500.
Benchmarks with difficulty levels (MATH500, the toy) get the same comparison per level, on the levels every run has:
where did a run lose accuracy, and where did it save its tokens?

A run evaluated with `--budgets` (the base, typically) also brings its budget curves: accuracy against mean tokens
with its responses truncated at each budget, and budget-forced. They are drawn as lines beside the points, and
`comparison.md` gives, for every other run, the baseline's accuracy at that run's own mean tokens (interpolated
between budgets): does pruning beat simply cutting the original's thinking, at equal tokens?
"""

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.figure import Figure
from transformers import HfArgumentParser

from eval.budgets import MODES
from eval.metrics import aes, group_by_problem, level_label, level_order, paired_change
from eval.results import load_results, outcomes_by_benchmark, percent_interval, tokens_interval
from thinkprune.budget import interpolate
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import save_figure_atomic, write_text_atomic
from thinkprune.points import signed_points


AVERAGE = "average"


@dataclass
class CompareConfig:
    labels: str | None = field(
        default=None, metadata={"help": "Comma-separated run names, one per directory (default: directory names)."}
    )
    output: str = field(default="eval_results/comparison", metadata={"help": "Where comparison.md/pareto.png go."})


@dataclass(frozen=True)
class Point:
    accuracy: float
    mean_tokens: float
    truncation_rate: float
    # 95% intervals; None for an average over benchmarks, and in results written before intervals were.
    accuracy_ci: tuple[float, float] | None = None
    tokens_ci: tuple[float, float] | None = None
    # Mean reflection words per response; None for budget rows, and in results written before they were counted.
    reflection_words: float | None = None


# A run's budget curves on one benchmark: {mode: [(budget, Point), ...]} in budget order.
Curves = dict[str, list[tuple[int, Point]]]


def point_of(metrics: dict) -> Point:
    accuracy_ci, tokens_ci = metrics.get("pass@1_ci"), metrics.get("mean_tokens_ci")
    return Point(
        metrics["pass@1"],
        metrics["mean_tokens"],
        metrics.get("truncation_rate", metrics.get("cut_rate", 0.0)),
        tuple(accuracy_ci) if accuracy_ci else None,
        tuple(tokens_ci) if tokens_ci else None,
        metrics.get("mean_reflection_words"),
    )


def average_point(points: list[Point]) -> Point:
    reflection = [p.reflection_words for p in points]
    return Point(
        *(statistics.fmean(getattr(p, f) for p in points) for f in ("accuracy", "mean_tokens", "truncation_rate")),
        reflection_words=None if None in reflection else statistics.fmean(reflection),
    )


def curves_of(metrics: dict) -> Curves:
    return {
        mode: [(row["budget"], point_of(row)) for row in metrics.get("budgets", []) if row["mode"] == mode]
        for mode in MODES
        if any(row["mode"] == mode for row in metrics.get("budgets", []))
    }


def average_curves(curves: list[Curves]) -> Curves:
    """The curves averaged over benchmarks, at the budgets and modes every benchmark has."""
    averaged = {}
    for mode in set.intersection(*(set(c) for c in curves)) if curves else ():
        budgets = set.intersection(*({budget for budget, _ in c[mode]} for c in curves))
        averaged[mode] = [
            (budget, average_point([point for c in curves for b, point in c[mode] if b == budget]))
            for budget in sorted(budgets)
        ]
    return {mode: averaged[mode] for mode in MODES if averaged.get(mode)}


def collect(results: list[dict]) -> tuple[list[str], list[dict[str, Point]], list[dict[str, Curves]]]:
    """Per run {benchmark: Point} and {benchmark: Curves}, with the average over the benchmarks every run has."""
    common = [name for name in results[0]["benchmarks"] if all(name in r["benchmarks"] for r in results)]
    if not common:
        raise UserError("the runs share no benchmark: compare directories evaluated on the same benchmarks")
    runs, curves = [], []
    for result in results:
        points = {name: point_of(result["benchmarks"][name]) for name in common}
        run_curves = {name: curves_of(result["benchmarks"][name]) for name in common}
        if len(common) > 1:
            points[AVERAGE] = average_point([points[name] for name in common])
            run_curves[AVERAGE] = average_curves([run_curves[name] for name in common])
        runs.append(points)
        curves.append(run_curves)
    return common + ([AVERAGE] if len(common) > 1 else []), runs, curves


def collect_levels(results: list[dict], names: list[str]) -> list[dict[tuple[str, str], Point]]:
    """Per run {(benchmark, level): Point}, on the benchmarks where every run has levels and the levels every run has,
    in level order; [] when there are none."""
    runs = [{} for _ in results]
    for name in names:
        levels = [result["benchmarks"].get(name, {}).get("levels") or {} for result in results]
        for level in sorted(set.intersection(*(set(run_levels) for run_levels in levels)), key=level_order):
            for points, run_levels in zip(runs, levels):
                points[(name, level)] = point_of(run_levels[level])
    return runs if runs[0] else []


def outcomes_by_level(outcomes: dict[str, list[dict]]) -> dict[tuple[str, str], list[dict]]:
    """A run's outcomes per (benchmark, level), for those that have a level."""
    grouped = {}
    for name, samples in outcomes.items():
        for sample in samples:
            if (level := level_label(sample.get("level"))) is not None:
                grouped.setdefault((name, level), []).append(sample)
    return grouped


def paired_intervals(
    outcomes: list[dict], keys: list, labels: list[str], result_dirs: list[str]
) -> tuple[list[dict], list[str]]:
    """Per run and key (a benchmark, or a benchmark and a level), the paired 95% interval of its pass@1 change against
    the first run (eval.metrics' `paired_change`), where both runs' samples are on disk and hold the same problems;
    and, for every other run and key, why it has none."""
    intervals, missing = [{} for _ in outcomes], []
    for key in keys:
        if key == AVERAGE:  # the average over benchmarks has no samples of its own
            continue
        reference = outcomes[0].get(key, [])
        reference_problems = len(group_by_problem(reference))
        for index in range(1, len(outcomes)):
            mine = outcomes[index].get(key, [])
            change = paired_change(mine, reference)
            paired, mine_problems = change["paired_problems"], len(group_by_problem(mine))
            if not reference:
                missing.append(f"{key}, {labels[index]}: {labels[0]} has no samples of it in {result_dirs[0]}")
            elif not mine:
                missing.append(f"{key}, {labels[index]}: no samples of it in {result_dirs[index]}")
            elif not paired:
                missing.append(
                    f"{key}, {labels[index]}: no problem in common with {labels[0]} (matched by id and text)"
                )
            elif paired == mine_problems == reference_problems:
                intervals[index][key] = change["pass@1_change_ci"]
            else:
                missing.append(
                    f"{key}, {labels[index]}: {paired} problems in common, of its {mine_problems} and "
                    f"{labels[0]}'s {reference_problems}"
                )
    return intervals, missing


def run_cells(point: Point, base: Point, paired: list[float] | None) -> str:
    """A run's cells against the reference's point: pass@1, its interval, the change, mean tokens, ... reflection words."""
    change = (point.mean_tokens - base.mean_tokens) / base.mean_tokens if base.mean_tokens else None
    paired_text = f" [{signed_points(paired[0])}, {signed_points(paired[1])}]" if paired else ""
    reflection = "-" if point.reflection_words is None else f"{point.reflection_words:.1f}"
    return (
        f"| {100 * point.accuracy:.1f} | {percent_interval(point.accuracy_ci).strip() or '-'} "
        f"| {signed_points(point.accuracy - base.accuracy)}{paired_text} | {point.mean_tokens:,.0f} "
        f"| {tokens_interval(point.tokens_ci).strip() or '-'} | {'-' if change is None else f'{100 * change:+.1f}%'} "
        f"| {100 * point.truncation_rate:.1f} | {reflection} |"
    )


def comparison_table(
    labels: list[str],
    names: list[str],
    runs: list[dict[str, Point]],
    change_intervals: list[dict[str, list[float]]],
) -> str:
    lines = [
        "| benchmark | run | pass@1 (%) | 95% CI | Δ pass@1 (points) [paired 95% CI] | mean tokens | 95% CI | Δ tokens "
        "| truncated (%) | reflection words | AES |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        base = runs[0][name]
        for index, (label, points) in enumerate(zip(labels, runs)):
            point = points[name]
            score = aes(point.accuracy, point.mean_tokens, base.accuracy, base.mean_tokens)
            paired = change_intervals[index].get(name)  # the reference against itself: none
            lines.append(
                f"| {name} | {label} {run_cells(point, base, paired)} {'-' if score is None else f'{score:+.3f}'} |"
            )
    return "\n".join(lines) + "\n"


def levels_comparison_table(
    labels: list[str], runs: list[dict[tuple[str, str], Point]], change_intervals: list[dict[tuple, list[float]]]
) -> str:
    lines = [
        "| benchmark | level | run | pass@1 (%) | 95% CI | Δ pass@1 (points) [paired 95% CI] | mean tokens | 95% CI "
        "| Δ tokens | truncated (%) | reflection words |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, level in runs[0]:
        base = runs[0][(name, level)]
        for index, (label, points) in enumerate(zip(labels, runs)):
            paired = change_intervals[index].get((name, level))
            lines.append(f"| {name} | {level} | {label} {run_cells(points[(name, level)], base, paired)}")
    return "\n".join(lines) + "\n"


def at_equal_tokens(point: Point, curves: Curves) -> dict[str, float | None]:
    """Per mode, the accuracy of a budget curve at the point's mean tokens (None outside the measured range)."""
    return {
        mode: interpolate([(p.mean_tokens, p.accuracy) for _, p in curve], point.mean_tokens)
        for mode, curve in curves.items()
    }


def baseline_rows(labels, names, runs, curves) -> list[dict]:
    """Every run against the budget curves of every other run that has them, benchmark by benchmark."""
    rows = []
    for baseline, baseline_curves in zip(labels, curves):
        for name in names:
            if not baseline_curves[name]:
                continue
            for label, points in zip(labels, runs):
                if label != baseline:
                    accuracy = at_equal_tokens(points[name], baseline_curves[name])
                    rows.append(
                        {"benchmark": name, "run": label, "baseline": baseline, "point": points[name], **accuracy}
                    )
    return rows


def baseline_table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | run | pass@1 (%) | mean tokens | baseline | truncated at these tokens (%) "
        "| forced at these tokens (%) | run − forced (points) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        point, truncated, forced = row["point"], row.get("truncate"), row.get("force")
        lines.append(
            f"| {row['benchmark']} | {row['run']} | {100 * point.accuracy:.1f} | {point.mean_tokens:,.0f} "
            f"| {row['baseline']} | {'-' if truncated is None else f'{100 * truncated:.1f}'} "
            f"| {'-' if forced is None else f'{100 * forced:.1f}'} "
            f"| {'-' if forced is None else signed_points(point.accuracy - forced)} |"
        )
    return "\n".join(lines) + "\n"


def pareto_optimal(points: list[Point]) -> list[bool]:
    """True for points no other point beats (fewer or equal tokens and higher or equal accuracy, one strictly)."""

    def dominates(a: Point, b: Point) -> bool:
        # On the two axes alone: runs tied on both, apart in truncation or intervals, beat neither.
        a_axes, b_axes = (a.mean_tokens, -a.accuracy), (b.mean_tokens, -b.accuracy)
        return a_axes != b_axes and all(ours <= theirs for ours, theirs in zip(a_axes, b_axes, strict=True))

    return [not any(dominates(other, point) for other in points) for point in points]


def pareto_plot(labels, names, runs, curves, path: Path) -> None:
    """One panel per benchmark: every run a point (filled when Pareto-optimal), budget curves as lines."""
    fig = Figure(figsize=(4.8 * len(names), 4.4), dpi=120)
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        color = 1
        for label, run_curves in zip(labels, curves):
            for mode, curve in run_curves[name].items():
                xs, ys = [p.mean_tokens for _, p in curve], [100 * p.accuracy for _, p in curve]
                style = "--" if mode == "truncate" else "-"
                ax.plot(xs, ys, style, marker=".", color=f"C{color}", label=f"{label}, {mode}d", zorder=1)
                for budget, x, y in zip((b for b, _ in curve), xs, ys):
                    # Budgets under the forced curve, above the truncated one: the two rarely cross.
                    offset = (0, -9) if mode == "force" else (0, 4)
                    ax.annotate(
                        f"{budget}",
                        (x, y),
                        textcoords="offset points",
                        xytext=offset,
                        fontsize=6,
                        color=f"C{color}",
                        ha="center",
                    )
                color += 1
        points = [run[name] for run in runs]
        # Runs on the same spot (pruned rounds at a floor) share one label instead of printing over each other.
        spots: dict[tuple[int, float], tuple[float, float, list[str], list[bool]]] = {}
        for point, label, optimal in zip(points, labels, pareto_optimal(points)):
            x, y = point.mean_tokens, 100 * point.accuracy
            ax.scatter(x, y, s=50, zorder=2, color="C0", facecolors="C0" if optimal else "white")
            spot = spots.setdefault((round(x), round(y, 1)), (x, y, [], []))
            spot[2].append(label)
            spot[3].append(optimal)
        for x, y, spot_labels, optimal in spots.values():
            # Dominated runs labelled below their point: near an optimal one at the same accuracy, labels would meet.
            offset = (5, 5) if any(optimal) else (5, -12)
            ax.annotate(", ".join(spot_labels), (x, y), textcoords="offset points", xytext=offset, fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("mean response tokens")
        ax.set_ylabel("pass@1 (%)")
        ax.grid(alpha=0.3)
        ax.margins(0.1)
        if color > 1:
            ax.legend(fontsize=7, loc="lower right", title="budget baselines (numbers: budgets)", title_fontsize=7)
    # Short lines: one panel is narrow, and a long title is cut at both edges.
    fig.suptitle("Accuracy vs length\n(points: runs, filled if Pareto-optimal; up-left is better)", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, path)


def compare(result_dirs: list[str], labels: list[str] | None, output: str) -> str:
    """Write comparison.md and pareto.png for `result_dirs` (the first is the reference); returns the tables."""
    if len(result_dirs) < 1:
        raise UserError("pass at least one evaluation directory")
    labels = labels or [Path(d.rstrip("/")).name for d in result_dirs]
    if len(labels) != len(result_dirs):
        raise UserError(f"{len(labels)} labels for {len(result_dirs)} directories: give one label per directory")
    results = [load_results(d) for d in result_dirs]
    names, runs, curves = collect(results)
    outcomes = [outcomes_by_benchmark(directory) for directory in result_dirs]
    intervals, unpaired = paired_intervals(outcomes, names, labels, result_dirs)
    table = comparison_table(labels, names, runs, intervals)
    if unpaired:
        table += "\nNo paired interval (the same problems' samples of both runs are needed):\n" + "".join(
            f"- {reason}\n" for reason in unpaired
        )
    if level_runs := collect_levels(results, [name for name in names if name != AVERAGE]):
        # A level without an interval belongs to a benchmark listed above: its reasons are not repeated per level.
        level_intervals, _ = paired_intervals(
            [outcomes_by_level(run) for run in outcomes], list(level_runs[0]), labels, result_dirs
        )
        table += (
            "\n## Per difficulty level\n\nThe same comparison on each level's problems (Δ against "
            f"{labels[0]} on the same level).\n\n{levels_comparison_table(labels, level_runs, level_intervals)}"
        )
    if rows := baseline_rows(labels, names, runs, curves):
        table += (
            "\n## Against the budget baselines\n\nThe baseline's accuracy at each run's own mean tokens, "
            "interpolated between its budgets (`-` outside them): its responses truncated there, and "
            f"budget-forced.\n\n{baseline_table(rows)}"
        )
    runs_list = "\n".join(f"- {label}: `{r['model']}` ({d})" for label, r, d in zip(labels, results, result_dirs))
    output_dir = Path(output)
    markdown = (
        f"# Accuracy vs length\n\nRuns:\n{runs_list}\n\nΔ and AES against {labels[0]}; 95% intervals are "
        "bootstrapped over problems. The paired interval of Δ pass@1 draws the same problems for both runs (where "
        f"both runs' samples are there): an interval holding 0 means no measurable change.\n\n{table}\n"
        "![Pareto plot](pareto.png)\n"
    )
    write_text_atomic(output_dir / "comparison.md", markdown)
    pareto_plot(labels, names, runs, curves, output_dir / "pareto.png")
    return table


@exit_on_user_error
def main(argv: list[str] | None = None) -> str:
    parser = HfArgumentParser(CompareConfig)
    parser.add_argument("result_dirs", nargs="+", help="Evaluation output directories; the first is the reference.")
    config, extra = parser.parse_args_into_dataclasses(argv)
    labels = [label.strip() for label in config.labels.split(",")] if config.labels else None
    table = compare(extra.result_dirs, labels, config.output)
    print(f"{table}\nWrote {config.output}/comparison.md and {config.output}/pareto.png")
    return table


if __name__ == "__main__":
    main()
