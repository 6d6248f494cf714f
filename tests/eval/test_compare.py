"""The compare command: one Markdown table (Δ and AES against the first run) and a Pareto PNG."""

import json

import pytest

from eval.compare import Point, main, pareto_optimal
from eval.metrics import aes


def write_run(directory, model, benchmarks):
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
    assert "| aime24 | iter2k | 26.7 | -0.8 | 5,800 | -66.5% | 0.0 |" in rows[2]
    assert "amc23" not in table  # only benchmarks every run has
    average = [line for line in table.splitlines() if line.startswith("| average | 4k |")]
    assert average == [
        f"| average | 4k | 55.9 | +0.6 | 5,400 | -52.8% | 5.0 | {aes(0.559, 5400, 0.553, 11450):+.3f} |"
    ]
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
