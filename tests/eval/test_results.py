"""What results.md shows: the per-benchmark table with reflection words, and a per-level table for benchmarks whose
problems have a difficulty level."""

from eval.metrics import benchmark_metrics
from eval.results import levels_table, results_markdown, results_table


CONFIG = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 512, "seed": 0, "backend": "transformers"}


def samples(levels, response="Wait, 2+2=4."):
    return [
        {"problem_index": index, "sample_index": 0, "correct": index % 2 == 0, "num_tokens": 10 * (index + 1)}
        | {"finished": True, "extracted_answer": None, "level": level, "response": response}
        for index, level in enumerate(levels)
    ]


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
