"""scripts/benchmark_data_parallel.py on a tiny run: both sides run, draw the same samples, and the report is written."""

import json

import pytest

from scripts.benchmark_data_parallel import main


@pytest.mark.slow
def test_two_processes_and_one_are_timed_on_the_same_samples(tiny_checkpoint, tmp_path):
    output = tmp_path / "data_parallel.json"
    report = main(
        ["--model", str(tiny_checkpoint), "--num_problems", "2", "--num_samples", "2", "--max_new_tokens", "4"]
        + ["--repeats", "1", "--output", str(output)]
    )
    assert report["samples"] == 4 and report["same_samples"] is True
    assert set(report["seconds"]) == {"1 process x 2 threads", "2 processes x 1 thread"}
    assert report["merge_seconds"] > 0 and report["speedup_2_processes"] > 0
    assert json.loads(output.read_text()) == json.loads(json.dumps(report))
