"""scripts/time_quick_start.py: the Quick start round's training time, with its spread, one file per torch build."""

import json
import sys

import pytest
import torch

from scripts import time_quick_start
from scripts.time_quick_start import index, main, summarize


def run(seconds, build="2.13.0+cpu"):
    return {"train_seconds": seconds, "wall_seconds": seconds + 11, "versions": {"torch": build}}


def test_the_spread_and_the_runs_within_the_criterion():
    summary = summarize([run(149.0), run(163.5), run(151.2)])
    assert summary == {
        "median_train_seconds": 151.2,
        "train_seconds_range": {"min": 149.0, "max": 163.5},
        "runs_within_criterion": 1,
    }


def test_each_torch_build_gets_its_file_and_a_row_in_the_index(tmp_path, monkeypatch):
    times = iter([149.0, 160.0, 170.0, 172.0])
    monkeypatch.setattr(time_quick_start, "run_once", lambda scratch, args: run(next(times), torch.__version__))
    for build in ("2.13.0+cpu", "2.14.1+cu130"):  # the script run with each environment's Python
        monkeypatch.setattr(torch, "__version__", build)
        report = main(["--repeats", "2", "--results_dir", str(tmp_path)])

    assert report["summary"]["median_train_seconds"] == 171.0
    assert json.loads((tmp_path / "torch-2.13.0+cpu.json").read_text())["summary"]["runs_within_criterion"] == 1
    rows = index(tmp_path).splitlines()[-2:]
    assert rows[0].startswith("| [2.13.0+cpu](torch-2.13.0+cpu.json) |") and rows[0].endswith(
        "| 2 | 154.5 s | 149.0-160.0 s | 1 of 2 |"
    )
    assert rows[1].endswith("| 2 | 171.0 s | 170.0-172.0 s | 0 of 2 |")
    assert (tmp_path / "README.md").read_text() == index(tmp_path)


def test_a_failed_round_or_no_runs_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit):
        main(["--repeats", "0", "--results_dir", str(tmp_path)])
    assert "--repeats is how many runs to time" in capsys.readouterr().err

    monkeypatch.setattr(time_quick_start, "QUICK_START", ["false"])
    with pytest.raises(SystemExit):
        main(["--repeats", "1", "--results_dir", str(tmp_path)])
    error = capsys.readouterr().err
    assert "the Quick start round failed (exit status 1)" in error and error.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_rounds_of_another_torch_build_than_the_scripts_are_refused(tmp_path, monkeypatch, capsys):
    """Timed from another environment's Python, the rounds ran with the `accelerate` first on PATH: a report would
    name one torch build and time another."""
    monkeypatch.setattr(time_quick_start, "run_once", lambda scratch, args: run(100.0, "2.13.0+cpu"))
    monkeypatch.setattr(torch, "__version__", "2.14.1+cu130")
    with pytest.raises(SystemExit):
        main(["--repeats", "1", "--results_dir", str(tmp_path)])
    assert "the rounds ran with torch 2.13.0+cpu, this script with 2.14.1+cu130" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_the_rounds_run_with_this_interpreters_accelerate():
    assert time_quick_start.QUICK_START[:3] == [sys.executable, "-m", "accelerate.commands.launch"]


def test_a_rerun_keeps_the_earlier_measurements_of_its_build(tmp_path, monkeypatch):
    """Hosts of one description differ in speed: a new measurement does not erase the day's host before it."""
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    times = iter([160.0, 170.0, 100.0, 104.0, 90.0, 92.0])
    monkeypatch.setattr(time_quick_start, "run_once", lambda scratch, args: run(next(times)))
    for _ in range(3):
        report = main(["--repeats", "2", "--results_dir", str(tmp_path)])

    stored = json.loads((tmp_path / "torch-2.13.0+cpu.json").read_text())
    assert stored["summary"]["median_train_seconds"] == report["summary"]["median_train_seconds"] == 91.0
    assert [earlier["summary"]["median_train_seconds"] for earlier in stored["earlier"]] == [102.0, 165.0]
    assert not any("earlier" in earlier for earlier in stored["earlier"])
    rows = index(tmp_path).splitlines()[-3:]
    assert [row.split(" | ")[4] for row in rows] == ["91.0 s", "102.0 s", "165.0 s"]  # the latest first
    assert rows[0].split(" | ")[1] == stored["date"]
