"""Compare evaluation runs side by side: one Markdown table and a Pareto plot (accuracy vs mean tokens).

    python eval/compare.py eval_results/base eval_results/round1 eval_results/round2 eval_results/round3 \\
        --labels base,4k,3k,2k --output eval_results/comparison

Writes `comparison.md` (pass@1, mean tokens, truncation rate and AES per benchmark and run; AES and the changes are
against the FIRST directory) and `pareto.png` (one panel per benchmark plus their average; runs joined in the order
given, Pareto-optimal runs filled). "average" is the mean over the benchmarks every run has, as the paper averages
AIME24, AMC23 and MATH500.
"""

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.figure import Figure
from transformers import HfArgumentParser

from eval.metrics import aes
from eval.results import load_results
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import save_figure_atomic, write_text_atomic


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


def collect(results: list[dict]) -> tuple[list[str], list[dict[str, Point]]]:
    """Per run {benchmark: Point}, with the average over the benchmarks every run has."""
    common = [name for name in results[0]["benchmarks"] if all(name in r["benchmarks"] for r in results)]
    if not common:
        raise UserError("the runs share no benchmark: compare directories evaluated on the same benchmarks")
    runs = []
    for result in results:
        points = {
            name: Point(m["pass@1"], m["mean_tokens"], m["truncation_rate"])
            for name, m in result["benchmarks"].items()
            if name in common
        }
        if len(common) > 1:
            points[AVERAGE] = Point(
                *(statistics.fmean(getattr(points[n], f) for n in common) for f in Point.__annotations__)
            )
        runs.append(points)
    return common + ([AVERAGE] if len(common) > 1 else []), runs


def comparison_table(labels: list[str], names: list[str], runs: list[dict[str, Point]]) -> str:
    lines = [
        "| benchmark | run | pass@1 (%) | Δ pass@1 (points) | mean tokens | Δ tokens | truncated (%) | AES |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        base = runs[0][name]
        for label, points in zip(labels, runs):
            point = points[name]
            score = aes(point.accuracy, point.mean_tokens, base.accuracy, base.mean_tokens)
            change = (point.mean_tokens - base.mean_tokens) / base.mean_tokens if base.mean_tokens else None
            lines.append(
                f"| {name} | {label} | {100 * point.accuracy:.1f} | {100 * (point.accuracy - base.accuracy):+.1f} "
                f"| {point.mean_tokens:,.0f} | {'-' if change is None else f'{100 * change:+.1f}%'} "
                f"| {100 * point.truncation_rate:.1f} | {'-' if score is None else f'{score:+.3f}'} |"
            )
    return "\n".join(lines) + "\n"


def pareto_optimal(points: list[Point]) -> list[bool]:
    """True for points no other point beats (fewer or equal tokens and higher or equal accuracy, one strictly)."""

    def dominates(a: Point, b: Point) -> bool:
        return a.mean_tokens <= b.mean_tokens and a.accuracy >= b.accuracy and a != b

    return [not any(dominates(other, point) for other in points) for point in points]


def pareto_plot(labels: list[str], names: list[str], runs: list[dict[str, Point]], path: Path) -> None:
    fig = Figure(figsize=(4.2 * len(names), 3.8), dpi=120)
    axes = fig.subplots(1, len(names), squeeze=False)
    for ax, name in zip(axes[0], names):
        points = [run[name] for run in runs]
        xs, ys = [p.mean_tokens for p in points], [100 * p.accuracy for p in points]
        ax.plot(xs, ys, color="0.6", linewidth=1, zorder=1)
        for x, y, label, optimal in zip(xs, ys, labels, pareto_optimal(points)):
            ax.scatter(x, y, s=50, zorder=2, color="C0", facecolors="C0" if optimal else "white")
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        ax.set_title(name)
        ax.set_xlabel("mean response tokens")
        ax.set_ylabel("pass@1 (%)")
        ax.grid(alpha=0.3)
        ax.margins(0.15)
    # Two short lines: one panel is narrow, and a long title is cut at both edges.
    fig.suptitle("Accuracy vs length\n(filled: Pareto-optimal; up-left is better)", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, path)


def compare(result_dirs: list[str], labels: list[str] | None, output: str) -> str:
    """Write comparison.md and pareto.png for `result_dirs` (the first is the reference); returns the table."""
    if len(result_dirs) < 1:
        raise UserError("pass at least one evaluation directory")
    labels = labels or [Path(d.rstrip("/")).name for d in result_dirs]
    if len(labels) != len(result_dirs):
        raise UserError(f"{len(labels)} labels for {len(result_dirs)} directories: give one label per directory")
    results = [load_results(d) for d in result_dirs]
    names, runs = collect(results)
    table = comparison_table(labels, names, runs)
    runs_list = "\n".join(f"- {label}: `{r['model']}` ({d})" for label, r, d in zip(labels, results, result_dirs))
    output_dir = Path(output)
    markdown = (
        f"# Accuracy vs length\n\nRuns:\n{runs_list}\n\nΔ and AES against {labels[0]}.\n\n{table}\n"
        "![Pareto plot](pareto.png)\n"
    )
    write_text_atomic(output_dir / "comparison.md", markdown)
    pareto_plot(labels, names, runs, output_dir / "pareto.png")
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
