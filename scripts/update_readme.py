"""Write the toy's results into README.md from results/toy/summary.json, so the README never states a figure the
study did not write.

    python scripts/update_readme.py            # after `python scripts/toy_study.py`
    python scripts/update_readme.py --check    # exit 1 if README.md's block differs from what would be written

Only the text between the two markers below changes; a README without them is refused.
"""

import argparse
import json
import sys
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from eval.results import percent_change
from scripts.toy_study import findings
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_text_atomic


BEGIN = "<!-- toy-results:begin: written by `python scripts/update_readme.py` from results/toy/summary.json -->"
END = "<!-- toy-results:end -->"


def results_table(rows: list[dict]) -> str:
    lines = [
        "| run | limit | pass@1 | Δ pass@1 vs base [paired 95% CI] | mean tokens |",
        "|---|---|---|---|---|",
    ]
    for index, row in enumerate(rows):
        run = "base" if index == 0 else row["run"]
        change = "—" if row["pass@1_change"] is None else percent_change(row)
        lines.append(
            f"| {run} | {row['token_limit'] or '—'} | {100 * row['pass@1']:.1f}% | {change} | {row['mean_tokens']:.1f} |"
        )
    return "\n".join(lines)


def headline(rows: list[dict]) -> str:
    base, last = rows[0], rows[-1]
    share = last["mean_tokens"] / base["mean_tokens"]
    return (
        f"After {len(rows) - 1} rounds the mean response went from {base['mean_tokens']:.1f} to "
        f"{last['mean_tokens']:.1f} tokens ({100 * share:.0f}% of the base's) at pass@1 {100 * base['pass@1']:.1f}% → "
        f"{100 * last['pass@1']:.1f}% ({percent_change(last)} points, paired 95% interval)."
    )


def testbed_line(testbed: list[dict]) -> str:
    met = sum(criterion["met"] for criterion in testbed)
    missed = [criterion["criterion"] for criterion in testbed if not criterion["met"]]
    line = f"The toy base meets {met} of the {len(testbed)} testbed criteria fixed before any pruning"
    return line + (f"; not met: {'; '.join(missed)}." if missed else ".")


def toy_block(summary: dict) -> str:
    """The README's toy results: the main table, the headline, the testbed verdict where the study wrote one, and
    what the study shows (scripts/toy_study.py `findings`)."""
    lines = [
        BEGIN,
        "",
        f"On the toy, as `python scripts/toy_study.py` measured it on held-out problems ({summary['machine']}):",
        "",
        results_table(summary["rows"]),
        "",
        headline(summary["rows"]),
    ]
    if summary.get("testbed"):
        lines.append(testbed_line(summary["testbed"]))
    lines += [
        "",
        "What it shows (paired 95% intervals in brackets; tables, curves and per-level views in "
        "[results/toy/README.md](results/toy/README.md)):",
        "",
    ]
    lines += findings(summary, detailed=False)
    return "\n".join(lines + ["", END])


def replace_block(readme: str, block: str) -> str:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise UserError(f"README.md has no toy-results block: put the lines {BEGIN!r} and {END!r} where it belongs")
    return readme[:start] + block + readme[end + len(END) :]


@exit_on_user_error
def main(argv: list[str] | None = None) -> bool:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readme", default=str(REPO_ROOT / "README.md"))
    parser.add_argument("--summary", default=str(REPO_ROOT / "results" / "toy" / "summary.json"))
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if the README is stale")
    args = parser.parse_args(argv)

    summary_path, readme_path = Path(args.summary), Path(args.readme)
    if not summary_path.is_file():
        raise UserError(f"{summary_path} does not exist: run `python scripts/toy_study.py` first")
    readme = readme_path.read_text(encoding="utf-8")
    updated = replace_block(readme, toy_block(json.loads(summary_path.read_text(encoding="utf-8"))))
    if args.check:
        if updated != readme:
            print(f"{readme_path} is stale: run `python scripts/update_readme.py`", file=sys.stderr)
            sys.exit(1)
        return False
    if updated != readme:
        write_text_atomic(readme_path, updated)
        print(f"updated the toy results in {readme_path}")
    return updated != readme


if __name__ == "__main__":
    main()
