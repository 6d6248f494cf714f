"""Benchmark loading: every storage format through the local override, column mapping, and bad sources."""

from pathlib import Path

import pytest

import eval.benchmarks
from eval.benchmarks import BENCHMARKS, TOY_TEST_PROBLEMS, load_benchmark, parse_mapping
from thinkprune.errors import UserError
from thinkprune.toy import make_problems


FIXTURES = Path(__file__).parents[1] / "fixtures" / "eval"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("aime24", [("Find $2+3$.", "5"), ("Find $10 \\cdot 7$.", "070")]),
        ("amc23", [("How many miles? Answer $27$.", "27"), ("What is one half?", "0.5")]),  # floats, `question`
        ("math500", [("Convert $(0,3)$ to polar.", "\\left( 3, \\frac{\\pi}{2} \\right)")]),
        ("olympiadbench", [("How many moves?", "2"), ("Find the ratio.", "\\frac{1}{2}")]),  # lists, list strings
        ("minerva", [("Find the image diameter in cm.", "1.6"), ("Give the answer as a fraction.", "\\frac{3}{4}")]),
    ],
)
def test_local_copies_map_to_problem_and_answer(name, expected):
    rows = load_benchmark(name, data_dir=str(FIXTURES))
    assert [(row["problem"], row["answer"]) for row in rows] == expected


def test_ids_come_from_the_source_when_it_has_them():
    assert [row["id"] for row in load_benchmark("math500", data_dir=str(FIXTURES))] == ["test/precalculus/807.json"]
    assert [row["id"] for row in load_benchmark("aime24", data_dir=str(FIXTURES))] == [60, 61]


def test_data_files_in_other_formats_and_column_overrides(tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"statement": ["What is 2 + 2?", "What is 3 + 3?"], "gold": [4.0, 6.0]})
    frame.to_parquet(tmp_path / "mine.parquet")
    frame.to_csv(tmp_path / "mine.csv", index=False)
    for path in (tmp_path / "mine.parquet", tmp_path / "mine.csv"):
        rows = load_benchmark("aime24", data_file=str(path), problem_column="statement", answer_column="gold")
        assert [(row["problem"], row["answer"]) for row in rows] == [("What is 2 + 2?", "4"), ("What is 3 + 3?", "6")]
        assert [row["id"] for row in rows] == [0, 1]


def test_limit_keeps_the_first_problems():
    assert [row["answer"] for row in load_benchmark("aime24", data_dir=str(FIXTURES), limit=1)] == ["5"]


def test_toy_benchmark_is_the_held_out_toy_problems():
    rows = load_benchmark("toy")
    assert len(rows) == TOY_TEST_PROBLEMS
    expected = make_problems("test", 200, seed=0)
    assert [(r["problem"], r["answer"]) for r in rows] == [(r["problem"], r["answer"]) for r in expected]


def test_difficulty_levels_come_along_as_display_strings(tmp_path, monkeypatch):
    assert [row["level"] for row in load_benchmark("math500", data_dir=str(FIXTURES))] == ["2"]  # the Hub's ints
    (tmp_path / "math.jsonl").write_text(
        '{"problem": "a", "answer": "1", "level": "Level 3"}\n{"problem": "b", "answer": "2", "level": "Level ?"}\n'
        '{"problem": "c", "answer": "3", "level": null}\n'
    )
    rows = load_benchmark("math500", data_file=str(tmp_path / "math.jsonl"))
    assert [row.get("level") for row in rows] == ["3", "Level ?", None]
    assert "level" not in rows[2]
    assert all("level" not in row for row in load_benchmark("aime24", data_dir=str(FIXTURES)))

    toy_rows = [
        {"problem": "What is 1 + 2?", "answer": "3", "level": 1},
        {"problem": "What is 10 + 2?", "answer": "12"},
    ]
    monkeypatch.setattr(eval.benchmarks, "make_problems", lambda split, count, seed: toy_rows)
    assert load_benchmark("toy") == [
        {"id": 0, "problem": "What is 1 + 2?", "answer": "3", "level": "1"},
        {"id": 1, "problem": "What is 10 + 2?", "answer": "12"},
    ]


def test_parse_mapping():
    assert parse_mapping("aime24=a.jsonl, minerva = m.parquet", "data_files") == {
        "aime24": "a.jsonl",
        "minerva": "m.parquet",
    }
    assert parse_mapping(None, "data_files") == {}
    with pytest.raises(UserError, match="unknown benchmark 'gsm8k'"):
        parse_mapping("gsm8k=x.jsonl", "data_files")
    with pytest.raises(UserError, match="BENCHMARK=VALUE"):
        parse_mapping("aime24", "data_files")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "gsm8k"}, "unknown benchmark 'gsm8k'"),
        ({"name": "amc23", "data_dir": str(FIXTURES / "bad")}, "no answer column"),
        ({"name": "aime24", "data_dir": str(FIXTURES / "bad")}, "row 0 has no gold answer"),
        ({"name": "math500", "data_dir": str(FIXTURES / "bad")}, "is empty"),
        ({"name": "minerva", "data_dir": str(FIXTURES / "bad")}, "no file for minerva"),
        ({"name": "aime24", "data_file": "nowhere/aime.jsonl"}, "does not exist"),
        ({"name": "aime24", "data_dir": "nowhere"}, "not a directory"),
        ({"name": "math500"}, "cannot load math500 from the Hub.*pass a local copy"),
    ],
)
def test_bad_sources_are_one_line_user_errors(kwargs, message, monkeypatch):
    import datasets
    import huggingface_hub

    # Offline for sure, even when huggingface_hub was imported before HF_HUB_OFFLINE was set (no retries).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match=message) as error:
        load_benchmark(**kwargs)
    assert "\n" not in str(error.value)


def test_shared_data_copies_load_through_the_override(shared_data):
    counts = {"aime24": 30, "amc23": 40, "math500": 500, "olympiadbench": 675, "minerva": 272}
    for name, count in counts.items():
        rows = load_benchmark(name, data_dir=str(shared_data / "benchmarks"))
        assert len(rows) == count, name
        assert all(row["problem"] and row["answer"] for row in rows), name
    assert load_benchmark("amc23", data_dir=str(shared_data / "benchmarks"))[0]["answer"] == "27"
    assert load_benchmark("minerva", data_dir=str(shared_data / "benchmarks"))[0]["answer"] == "1.6"
    assert load_benchmark("olympiadbench", data_dir=str(shared_data / "benchmarks"))[0]["answer"] == "2"


def test_every_benchmark_but_the_toy_has_a_hub_source():
    assert {name for name, b in BENCHMARKS.items() if b.hub_id is None} == {"toy"}
