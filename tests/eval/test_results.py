"""What results.md shows: the per-benchmark table with reflection words, a per-level table for benchmarks whose
problems have a difficulty level, and why a Δ pass@1 is `-` where it is."""

from eval.metrics import benchmark_metrics
from eval.results import (
    append_samples,
    levels_table,
    percent_change,
    read_samples,
    results_markdown,
    results_table,
)
from thinkprune.points import signed_points


CONFIG = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 512, "seed": 0, "backend": "transformers"}


def samples(levels, response="Wait, 2+2=4."):
    return [
        {"problem_index": index, "sample_index": 0, "correct": index % 2 == 0, "num_tokens": 10 * (index + 1)}
        | {"finished": True, "extracted_answer": None, "level": level, "response": response}
        for index, level in enumerate(levels)
    ]


def paired_benchmark(paired_problems: int, change: float | None) -> dict:
    return {
        "pass@1": 0.5, "pass@k": {"1": 0.5}, "mean_tokens": 100.0, "median_tokens": 90, "mean_tokens_correct": 80.0,
        "truncation_rate": 0.0, "num_problems": 10, "num_samples": 1, "aes": None, "pass@1_change": change,
        "pass@1_change_ci": None if change is None else [change - 0.1, change + 0.1], "paired_problems": paired_problems,
    }  # fmt: skip


def test_levels_get_their_own_table_in_numeric_order():
    results = {
        "model": "m",
        "config": CONFIG,
        "benchmarks": {
            "math500": benchmark_metrics(samples(["Level 10", "Level 2", 2, "Level 1"])),
            "aime24": benchmark_metrics(samples([None, None], response="So 4.")),
        },
    }
    markdown = results_markdown(results)

    assert "| reflection words |" in results_table(results)
    assert "| math500 | 4 x 1 |" in markdown and "| 25 | 20 | 0.0 | 1.0 | - | - |" in markdown
    assert "| aime24 | 2 x 1 |" in markdown and "| 15 | 10 | 0.0 | 0.0 | - | - |" in markdown
    assert "`wait`, `hmm`, `alternatively`" in markdown
    per_level = markdown.split("## Per difficulty level")[1]
    rows = [line for line in per_level.splitlines() if line.startswith("| math500 |")]
    assert [row.split(" | ")[1] for row in rows] == ["1", "2", "10"]
    assert rows[1].startswith("| math500 | 2 | 2 | 50.0 [") and rows[1].endswith("| 25 [20, 30] | 30 | 0.0 | 1.0 |")
    assert "| aime24 |" not in per_level


def test_no_level_table_without_levels():
    results = {"model": "m", "config": CONFIG, "benchmarks": {"aime24": benchmark_metrics(samples([None, None]))}}
    assert levels_table(results) == ""
    assert "Per difficulty level" not in results_markdown(results)


def test_a_change_without_problems_in_common_says_why():
    benchmarks = {"math500": paired_benchmark(10, 0.1), "aime24": paired_benchmark(0, None)}
    markdown = results_markdown(
        {"model": "m", "config": CONFIG, "reference": "outputs/base-eval", "benchmarks": benchmarks}
    )
    assert "| +10.0 [+0.0, +20.0] |" in markdown
    assert "Δ pass@1 is `-` for aime24: the reference's samples.jsonl holds none of the same problems" in markdown

    benchmarks = {"aime24": paired_benchmark(0, None)}
    without_reference = results_markdown({"model": "m", "config": CONFIG, "reference": None, "benchmarks": benchmarks})
    assert "Δ pass@1 is `-`" not in without_reference  # nothing to pair with: "-" needs no explanation


def test_a_change_prints_the_same_whichever_float_path_reached_it():
    # round 3 of the toy study: the paired mean of differences is 0.0925, the difference of the two means is not
    # exactly that, and the README (+9.2) and compare.py's table (+9.3) disagreed.
    difference_of_means = 0.9225 - 0.83
    assert difference_of_means != 0.0925
    assert signed_points(difference_of_means) == signed_points(0.0925) == "+9.2"
    assert percent_change({"pass@1_change": 0.0925, "pass@1_change_ci": [0.054, 0.128]}) == "+9.2 [+5.4, +12.8]"


def test_samples_whose_responses_hold_unicode_line_breaks_read_back_whole(tmp_path):
    """json.dumps(ensure_ascii=False) leaves U+2028, U+2029 and U+0085 as they are; str.splitlines breaks at them."""
    path = tmp_path / "samples.jsonl"
    samples = [{"problem_index": index, "response": f"a\u2028b\u2029c\x85d {index}"} for index in range(3)]
    append_samples(path, samples)
    assert read_samples(path) == samples
    # A line torn by a kill, even inside a character, is still the one dropped.
    path.write_bytes(path.read_bytes() + '{"response": "é'.encode()[:-1])
    assert read_samples(path) == samples


def test_samples_appended_after_a_line_torn_by_a_kill_read_back_whole(tmp_path):
    """What a resumed run does to samples.jsonl, a shard or budgets.jsonl after a kill mid-write."""
    path = tmp_path / "budgets.jsonl"
    first, second = [{"budget": 30, "answer": "4"}], [{"budget": 60, "answer": "5"}, {"budget": 90, "answer": "6"}]
    append_samples(path, first)
    path.write_bytes(path.read_bytes() + b'{"budget": 60, "ans')
    append_samples(path, second)
    assert read_samples(path) == first + second
    append_samples(path, [{"budget": 120, "answer": "7"}])  # a resume after it reads every line too
    assert read_samples(path)[-1] == {"budget": 120, "answer": "7"}
