"""The compare command: one Markdown table (Δ and AES against the first run, intervals, the budget baselines at
equal tokens, the same per difficulty level) and a Pareto PNG with the budget curves."""

import json

import pytest
from conftest import budget_rows

import eval.compare
from eval.compare import Point, main, pareto_optimal
from eval.metrics import aes
from eval.results import outcomes_by_benchmark


def level_row(accuracy, tokens, reflection):
    return {"pass@1": accuracy, "pass@1_ci": [accuracy - 0.1, accuracy + 0.1], "mean_tokens": tokens} | {
        "mean_tokens_ci": [tokens - 5, tokens + 5],
        "mean_tokens_correct": tokens,
        "truncation_rate": 0.0,
        "mean_reflection_words": reflection,
        "num_problems": 2,
        "num_generated": 8,
    }


def write_run(directory, model, benchmarks, budgets=None, intervals=False, levels=None):
    directory.mkdir(parents=True)
    results = {
        "model": model,
        "config": {},
        "versions": {},
        "benchmarks": {
            name: {
                "pass@1": acc,
                "pass@k": {"1": acc},
                "mean_tokens": tokens,
                "median_tokens": tokens,
                "mean_tokens_correct": tokens,
                "truncation_rate": trunc,
                "num_problems": 30,
                "num_samples": 16,
                "aes": None,
                **(
                    {"pass@1_ci": [acc - 0.1, acc + 0.1], "mean_tokens_ci": [tokens - 50, tokens + 50]}
                    if intervals
                    else {}
                ),
                **({"budgets": budget_rows(budgets[name])} if budgets and name in budgets else {}),
                **({"levels": {k: level_row(*v) for k, v in levels[name].items()}} if levels else {}),
            }
            for name, (acc, tokens, trunc) in benchmarks.items()
        },
    }
    (directory / "results.json").write_text(json.dumps(results))
    return str(directory)


@pytest.fixture
def runs(tmp_path):
    return [
        write_run(tmp_path / "base", "toy", {"aime24": (0.275, 17300, 0.2), "math500": (0.831, 5600, 0.05)}),
        write_run(tmp_path / "r1", "outputs/r1", {"aime24": (0.283, 8100, 0.1), "math500": (0.835, 2700, 0.0)}),
        write_run(
            tmp_path / "r2",
            "outputs/r2",
            {"aime24": (0.267, 5800, 0.0), "math500": (0.826, 1900, 0.0), "amc23": (0.649, 3300, 0.0)},
        ),
    ]


def test_compare_writes_table_and_plot(runs, tmp_path, capsys):
    out = tmp_path / "cmp"
    main(runs + ["--labels", "base,4k,iter2k", "--output", str(out)])

    table = (out / "comparison.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| aime24 |")]
    assert [row.split(" | ")[1] for row in rows] == ["base", "4k", "iter2k"]
    assert rows[0].endswith("| +0.000 |")  # the reference against itself
    expected = aes(0.267, 5800, 0.275, 17300)
    assert rows[2].endswith(f"| {expected:+.3f} |")
    assert "| aime24 | iter2k | 26.7 | - | -0.8 | 5,800 | - | -66.5% | 0.0 |" in rows[2]  # no intervals stored
    assert "amc23" not in table  # only benchmarks every run has
    average = [line for line in table.splitlines() if line.startswith("| average | 4k |")]
    assert average == [
        f"| average | 4k | 55.9 | - | +0.6 | 5,400 | - | -52.8% | 5.0 | - | {aes(0.559, 5400, 0.553, 11450):+.3f} |"
    ]
    assert "budget baselines" not in table and "Per difficulty level" not in table
    assert "| aime24 | base |" in capsys.readouterr().out

    png = (out / "pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_labels_must_match_directories(runs, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(runs + ["--labels", "a,b", "--output", str(tmp_path / "cmp")])
    assert exit_info.value.code == 2
    assert "2 labels for 3 directories" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()


def test_missing_results_is_a_user_error(runs, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([runs[0], str(tmp_path / "nothing"), "--output", str(tmp_path / "cmp")])
    assert "no results.json" in capsys.readouterr().err


def test_pareto_optimal():
    points = [Point(0.80, 120, 0), Point(0.85, 80, 0), Point(0.83, 50, 0), Point(0.70, 90, 0)]
    assert pareto_optimal(points) == [False, True, True, False]
    # Tied on both axes, apart on truncation: neither beats the other.
    assert pareto_optimal([Point(0.5, 100, 0.1), Point(0.5, 100, 0.2)]) == [True, True]


def test_budget_curves_are_drawn_and_runs_compared_at_equal_tokens(tmp_path, monkeypatch):
    curves = {
        "truncate": [(60, 0.30, 60), (100, 0.70, 95), (200, 0.80, 150)],
        "force": [(60, 0.20, 80), (100, 0.50, 120), (200, 0.78, 170)],
    }
    base = write_run(tmp_path / "base", "toy", {"toy": (0.81, 178, 0.04)}, {"toy": curves}, intervals=True)
    r1 = write_run(tmp_path / "r1", "outputs/toy/round1", {"toy": (0.78, 147, 0.02)}, intervals=True)
    r3 = write_run(tmp_path / "r3", "outputs/toy/round3", {"toy": (0.765, 100, 0.0)}, intervals=True)
    r9 = write_run(tmp_path / "r9", "outputs/toy/round9", {"toy": (0.5, 40, 0.0)})
    figures = []
    monkeypatch.setattr(eval.compare, "save_figure_atomic", lambda figure, path: figures.append(figure))

    table = eval.compare.compare([base, r1, r3, r9], ["base", "round 1", "round 3", "round 9"], str(tmp_path / "c"))

    assert "| toy | round 1 | 78.0 | [68.0, 88.0] | -3.0 | 147 | [97, 197] |" in table
    baseline = table.split("## Against the budget baselines")[1]
    # round 3 at 100 tokens: truncated base 0.70 + (0.80 - 0.70) * 5 / 55, forced base 0.20 + 0.30 * 20 / 40.
    truncated, forced = 0.70 + 0.10 * 5 / 55, 0.35
    assert f"| toy | round 3 | 76.5 | 100 | base | {100 * truncated:.1f} | {100 * forced:.1f} | +41.5 |" in baseline
    assert "| toy | round 9 | 50.0 | 40 | base | - | - | - |" in baseline  # below every budget: nothing measured
    assert "| toy | base |" not in baseline  # the baseline is not compared with itself

    (figure,) = figures
    (axis,) = figure.axes
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axis.get_lines()}
    assert lines["base, truncated"] == ([60, 95, 150], [30.0, 70.0, 80.0])
    assert lines["base, forced"] == ([80, 120, 170], [20.0, 50.0, 78.0])
    assert len(axis.collections) == 4  # one point per run
    assert figure.texts[0].get_text().startswith("Accuracy vs length")


def test_runs_on_the_same_spot_share_one_label(tmp_path, monkeypatch):
    """Pruned rounds that reached a floor plot on one spot: one label naming both, not two printed over each other."""
    base = write_run(tmp_path / "base", "toy", {"toy": (1.0, 219.2, 0.0)})
    r2 = write_run(tmp_path / "r2", "outputs/toy/round2", {"toy": (0.9975, 65.119, 0.0)})
    r3 = write_run(tmp_path / "r3", "outputs/toy/round3", {"toy": (0.9975, 65.109, 0.0)})
    figures = []
    monkeypatch.setattr(eval.compare, "save_figure_atomic", lambda figure, path: figures.append(figure))

    eval.compare.compare([base, r2, r3], ["base", "round 2", "round 3"], str(tmp_path / "c"))

    (axis,) = figures[0].axes
    assert sorted(text.get_text() for text in axis.texts) == ["base", "round 2, round 3"]
    assert len(axis.collections) == 3  # every run still has its point


def write_samples(directory, correct_by_problem, problems=None, levels=None):
    lines = [
        {"benchmark": "toy", "problem_index": p, "sample_index": s, "problem_id": p, "problem": f"{p} + 1"}
        | {"level": levels[p] if levels else None, "correct": bool(c), "num_tokens": 10, "response": "..."}
        | {"token_ids": [7] * 10}
        for p, row in enumerate(correct_by_problem)
        for s, c in enumerate(row)
        if problems is None or p in problems
    ]
    (directory / "samples.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_the_pass_at_1_change_gets_a_paired_interval_when_both_runs_samples_are_there(tmp_path):
    base = write_run(tmp_path / "base", "toy", {"toy": (1.0, 219, 0.0)}, intervals=True)
    pruned = write_run(tmp_path / "r3", "outputs/toy/round3", {"toy": (0.9975, 65, 0.0)}, intervals=True)
    subset = write_run(tmp_path / "half", "outputs/toy/half", {"toy": (1.0, 65, 0.0)})
    no_samples = write_run(tmp_path / "r9", "outputs/toy/round9", {"toy": (0.5, 40, 0.0)})
    others = write_run(tmp_path / "other", "outputs/toy/other", {"toy": (1.0, 60, 0.0)})
    write_samples(tmp_path / "base", [[1] * 4] * 200)
    write_samples(tmp_path / "r3", [[1] * 4] * 3 + [[0, 1, 1, 1]] + [[1] * 4] * 66 + [[1, 1, 0, 1]] + [[1] * 4] * 129)
    write_samples(tmp_path / "half", [[1] * 4] * 200, problems=range(100))
    write_samples(tmp_path / "other", [[1] * 4] * 300, problems=range(200, 300))

    table = eval.compare.compare([base, pruned, subset, no_samples, others], None, str(tmp_path / "c"))

    # Only the outcomes are kept in memory: a long-thinking run's responses and ids weigh hundreds of MB.
    (outcome, *_) = outcomes_by_benchmark(tmp_path / "base" / "results.json")["toy"]
    assert set(outcome) == {"benchmark", "problem_index", "sample_index", "problem_id", "problem", "level", "correct"}

    outcomes = [outcomes_by_benchmark(directory) for directory in (base, pruned)]
    intervals, unpaired = eval.compare.paired_intervals(outcomes, ["toy"], ["base", "r3"], [base, pruned])
    low = 100 * intervals[1]["toy"][0]
    assert unpaired == []
    assert -0.7 < low < -0.2
    assert f"| toy | r3 | 99.8 | [89.8, 109.8] | -0.2 [{low:+.1f}, +0.0] | 65 |" in table
    assert "| toy | half | 100.0 | - | +0.0 | 65 |" in table  # other problems: no paired interval
    assert "| toy | r9 | 50.0 | - | -50.0 | 40 |" in table
    assert "| toy | base | 100.0 | [90.0, 110.0] | +0.0 | 219 |" in table
    # Every missing interval says why, in the printed table and in comparison.md.
    assert "- toy, half: 100 problems in common, of its 100 and base's 200\n" in table
    assert f"- toy, r9: no samples of it in {no_samples}\n" in table
    assert "- toy, other: no problem in common with base (matched by id and text)\n" in table
    assert "- toy, r3" not in table
    assert "- toy, other: no problem in common" in (tmp_path / "c" / "comparison.md").read_text()


def test_levels_are_compared_level_by_level_with_paired_intervals(tmp_path, monkeypatch):
    monkeypatch.setattr(eval.compare, "save_figure_atomic", lambda figure, path: None)
    levels = [1, 1, 2, 2, 3, 3]
    base = write_run(
        tmp_path / "base",
        "toy",
        {"toy": (0.9, 120, 0.0)},
        levels={"toy": {"1": (1.0, 60, 2.0), "2": (1.0, 120, 4.0), "3": (0.75, 180, 6.0)}},
    )
    pruned = write_run(
        tmp_path / "r1",
        "outputs/toy/round1",
        {"toy": (0.8, 60, 0.0)},
        levels={"toy": {"3": (0.5, 90, 0.5), "1": (1.0, 30, 0.0), "2": (0.875, 60, 0.25)}},
    )
    write_samples(tmp_path / "base", [[1] * 4] * 4 + [[1, 1, 1, 0]] * 2, levels=levels)
    write_samples(tmp_path / "r1", [[1] * 4] * 3 + [[1, 1, 1, 0]] + [[1, 0, 1, 0]] * 2, levels=levels)

    table = eval.compare.compare([base, pruned], ["base", "round 1"], str(tmp_path / "c"))

    per_level = table.split("## Per difficulty level")[1]
    rows = [line for line in per_level.splitlines() if line.startswith("| toy |")]
    assert [tuple(row.split(" | ")[1:3]) for row in rows] == [
        ("1", "base"),
        ("1", "round 1"),
        ("2", "base"),
        ("2", "round 1"),
        ("3", "base"),
        ("3", "round 1"),
    ]
    assert rows[0] == "| toy | 1 | base | 100.0 | [90.0, 110.0] | +0.0 | 60 | [55, 65] | +0.0% | 0.0 | 2.0 |"
    assert rows[1].endswith("| 100.0 | [90.0, 110.0] | +0.0 [+0.0, +0.0] | 30 | [25, 35] | -50.0% | 0.0 | 0.0 |")
    assert rows[5].startswith("| toy | 3 | round 1 | 50.0 | [40.0, 60.0] | -25.0 [-25.0, -25.0] | 90 |")
    assert rows[3].startswith("| toy | 2 | round 1 | 87.5 | [77.5, 97.5] | -12.5 [-25.0, +0.0] |")
    # Only the levels every run has, and only where every run has levels.
    partial = write_run(tmp_path / "r2", "r2", {"toy": (0.8, 60, 0.0)}, levels={"toy": {"2": (1.0, 50, 0.0)}})
    table = eval.compare.compare([base, pruned, partial], None, str(tmp_path / "c"))
    rows = [line for line in table.split("## Per difficulty level")[1].splitlines() if line.startswith("| toy |")]
    assert [row.split(" | ")[1] for row in rows] == ["2"] * 3
    no_levels = write_run(tmp_path / "r3", "r3", {"toy": (0.8, 60, 0.0)})
    assert "Per difficulty level" not in eval.compare.compare([base, no_levels], None, str(tmp_path / "c"))
