"""scripts/update_readme.py: README.md's toy results are what results/toy/summary.json says."""

import json
from pathlib import Path

import pytest

from scripts.update_readme import BEGIN, END, main, toy_block


REPO_ROOT = Path(__file__).resolve().parents[2]
SUMMARY = REPO_ROOT / "results" / "toy" / "summary.json"


def row(run, limit, pass_at_1, change, mean_tokens):
    return {
        "run": run,
        "token_limit": limit,
        "pass@1": pass_at_1,
        "pass@1_change": None if change is None else change[0],
        "pass@1_change_ci": None if change is None else list(change[1:]),
        "mean_tokens": mean_tokens,
    }


SUMMARY_ROWS = [row("toy base (SFT)", None, 0.8, None, 200.0), row("round 1", 350, 0.79, (-0.01, -0.03, 0.0), 80.0)]
TOY_SUMMARY = {"machine": "x86_64, 2 CPU cores", "rows": SUMMARY_ROWS}


def test_the_readme_shows_the_committed_summary():
    """Stale when summary.json was regenerated without `python scripts/update_readme.py`."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    assert readme[start:end] == toy_block(json.loads(SUMMARY.read_text(encoding="utf-8")))


def test_the_block_holds_every_round_the_headline_and_the_testbed_verdict_when_there_is_one():
    summary = TOY_SUMMARY
    without = toy_block(summary)
    assert "| base | — | 80.0% | — | 200.0 |" in without
    assert "| round 1 | 350 | 79.0% | -1.0 [-3.0, +0.0] | 80.0 |" in without
    assert "from 200.0 to 80.0 tokens (40% of the base's) at pass@1 80.0% → 79.0%" in without
    assert "held-out problems (x86_64, 2 CPU cores):" in without and "testbed" not in without
    testbed = [
        {"criterion": "base pass@1 between 55% and 90%", "measured": "80.0%", "met": True},
        {"criterion": "shipped in at most 20 MB", "measured": "25.0 MB", "met": False},
    ]
    with_testbed = toy_block({**summary, "testbed": testbed})
    assert (
        "meets 1 of the 2 testbed criteria fixed before any pruning; not met: shipped in at most 20 MB."
        in with_testbed
    )
    ablation = row("one round at the final limit (200)", 200, 0.7, (-0.1, -0.2, 0.0), 90.0)
    ablation |= {"vs_schedule": -0.09, "vs_schedule_ci": [-0.15, -0.02]}
    with_ablations = toy_block({**summary, "ablations": [ablation]})
    assert (
        "- **one round at the final limit (200)**: 70.0% at 90.0 tokens against the fixed schedule's 79.0% at 80.0: "
        "-9.0 [-15.0, -2.0] points: less accurate than the fixed schedule." in with_ablations
    )


def test_only_the_block_changes_and_check_fails_on_a_stale_readme(tmp_path, capsys):
    summary, readme = tmp_path / "summary.json", tmp_path / "README.md"
    summary.write_text(json.dumps(TOY_SUMMARY))
    readme.write_text(f"# Title\n\nbefore\n\n{BEGIN}\nold table\n{END}\n\nafter\n")
    paths = ["--readme", str(readme), "--summary", str(summary)]

    with pytest.raises(SystemExit) as stale:
        main([*paths, "--check"])
    assert stale.value.code == 1 and "is stale" in capsys.readouterr().err

    assert main(paths) is True
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text and toy_block(TOY_SUMMARY) in text
    assert main([*paths, "--check"]) is False and main(paths) is False


def test_a_readme_without_the_markers_is_refused_and_left_as_it_was(tmp_path, capsys):
    summary, readme = tmp_path / "summary.json", tmp_path / "README.md"
    summary.write_text(json.dumps(TOY_SUMMARY))
    readme.write_text("# Title\n")
    with pytest.raises(SystemExit) as refused:
        main(["--readme", str(readme), "--summary", str(summary)])
    assert refused.value.code == 2 and "has no toy-results block" in capsys.readouterr().err
    assert readme.read_text() == "# Title\n"
