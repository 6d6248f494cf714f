"""Files of an evaluation directory: `samples.jsonl` (appended as generations finish), `results.json`, `results.md`,
and with budgets `budgets.jsonl`.

`results.json`:

    {"model": "<path or id>", "config": {...}, "versions": {...}, "reference": "<dir or null>", "complete": true,
     "benchmarks": {"aime24": {"pass@1": 0.283, "pass@1_ci": [0.17, 0.40], "mean_tokens": 8123.4,
        "mean_tokens_ci": [7400.2, 8850.9], "pass@k": {"1": 0.283, "4": 0.41}, "maj@k": {"1": 0.283, "4": 0.33},
        "median_tokens": 7000, "mean_tokens_correct": 6000.1, "truncation_rate": 0.05, "mean_reflection_words": 41.2,
        "num_problems": 30, "num_samples": 16, "num_generated": 480, "expected_samples": 480, "complete": true,
        "dataset_id": "HuggingFaceH4/aime_2024", "aes": null, "pass@1_change": null, "pass@1_change_ci": null,
        "paired_problems": 0,
        "budgets": [{"budget": 4000, "mode": "truncate", "pass@1": 0.21, "pass@1_ci": [...], "mean_tokens": 3650.0,
                     "mean_tokens_ci": [...], "cut_rate": 0.8}, {"budget": 4000, "mode": "force", ...}]},
      "math500": {..., "levels": {"1": {"pass@1": 0.95, "pass@1_ci": [...], "mean_tokens": 2100.5,
        "mean_tokens_ci": [...], "mean_tokens_correct": 2050.0, "truncation_rate": 0.0, "mean_reflection_words": 9.5,
        "num_problems": 43, "num_generated": 688}, "2": {...}, ...}}}}

`complete` is false while a run (or a `--rescore` of one) lacks samples that run.json expects; `budgets` is there
only for a run with `--budgets` (`cut_rate`: the share of responses cut, or forced, at the budget); `levels` only
for a benchmark whose problems have a difficulty level, in level order. `mean_reflection_words` is the mean count per
response of `eval.metrics.REFLECTION_MARKERS` ("wait", "hmm", ...). `aes` and `pass@1_change` (with its paired
interval, over `paired_problems` problems both runs answered) are against `reference`, null without one.

Each line of `samples.jsonl` is one generation: benchmark, problem_index, sample_index, problem_id, problem,
answer (gold), level (null without one), response, num_tokens, finished, token_ids (the generated ids),
extracted_answer, correct. Each line of `budgets.jsonl` is one forced answer: benchmark, problem_index, sample_index,
budget, lead_in, answer_tokens (the allowance), answer (its text), answer_finished, forced_ids (the lead-in's and the
answer's ids).
"""

import json
import os
from pathlib import Path

from eval.metrics import REFLECTION_MARKERS, level_order
from thinkprune.errors import UserError
from thinkprune.files import write_text_atomic
from thinkprune.points import signed_points


RESULTS_FILE = "results.json"
RESULTS_MD_FILE = "results.md"
SAMPLES_FILE = "samples.jsonl"
BUDGETS_FILE = "budgets.jsonl"
RUN_FILE = "run.json"
SHARD_GLOB = "samples.rank-*-of-*.jsonl"


# What pairing two runs needs of each sample (eval.metrics.paired_change), per level too, and which sample it is (an
# unmerged run may hold copies): not the responses and their ids, which long-thinking runs make hundreds of MB per run
# once parsed.
OUTCOME_FIELDS = ("benchmark", "problem_index", "sample_index", "problem_id", "problem", "level", "correct")


def read_samples(path: Path, fields: tuple[str, ...] | None = None) -> list[dict]:
    """Every complete line of a samples file (only `fields` of each, when given); a line torn by a killed run (the
    last one) is dropped."""
    if not path.exists():
        return []
    # Split as bytes: str.splitlines also breaks at U+2028, U+0085 and the like, which a response may hold and
    # json.dumps(ensure_ascii=False) writes as they are.
    lines = path.read_bytes().splitlines()
    samples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
            samples.append(sample if fields is None else {key: sample.get(key) for key in fields})
        except ValueError as error:  # not JSON, or not UTF-8 (a line torn inside a character)
            if number == len(lines):
                break
            raise UserError(f"{path} line {number} is not JSON: fix or delete that line, then run again") from error
    return samples


def shard_paths(output_dir: Path) -> list[Path]:
    """The shards of a data-parallel run (eval.parallel) not merged yet, of any number of processes."""
    return sorted(output_dir.glob(SHARD_GLOB))


def read_all_samples(output_dir: Path, fields: tuple[str, ...] | None = None) -> list[dict]:
    """samples.jsonl and every shard, each (benchmark, problem, sample) once: the first copy found. `fields`, when
    given, hold those three."""
    key_fields = ("benchmark", "problem_index", "sample_index")
    unique = {}
    for path in [output_dir / SAMPLES_FILE, *shard_paths(output_dir)]:
        for sample in read_samples(path, fields):
            unique.setdefault(tuple(sample[key] for key in key_fields), sample)
    return list(unique.values())


def write_samples(path: Path, samples: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(sample, ensure_ascii=False) + "\n" for sample in samples))


def append_samples(path: Path, samples: list[dict]) -> None:
    """Append and flush to disk, so a kill loses at most the batch being generated. A line a kill tore at the end
    is dropped first: appended after, the next sample would run on from it, a broken line in the middle."""
    if path.exists() and path.stat().st_size:
        with path.open("rb") as handle:
            handle.seek(-1, os.SEEK_END)
            torn = handle.read(1) != b"\n"
        if torn:
            write_samples(path, read_samples(path))
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(sample, ensure_ascii=False) + "\n" for sample in samples)
        handle.flush()
        os.fsync(handle.fileno())


def load_results(path: str | Path) -> dict:
    """A results.json, given it or the directory holding it."""
    path = Path(path)
    path = path / RESULTS_FILE if path.is_dir() else path
    if not path.exists():
        raise UserError(f"no {RESULTS_FILE} at {path}: pass an evaluation output directory (run eval/evaluate.py)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: re-run the evaluation, or rescore it with --rescore") from error


def outcomes_by_benchmark(results_path: str | Path | None) -> dict[str, list[dict]]:
    """The graded samples of an evaluation run (given its directory or its results.json), per benchmark, with only
    their `OUTCOME_FIELDS`; {} for None."""
    if results_path is None:
        return {}
    path = Path(results_path)
    # A data-parallel run stopped before its merge holds part of its samples in shards.
    return group_by_benchmark(read_all_samples(path if path.is_dir() else path.parent, OUTCOME_FIELDS))


def group_by_benchmark(samples: list[dict]) -> dict[str, list[dict]]:
    grouped = {}
    for sample in samples:
        grouped.setdefault(sample["benchmark"], []).append(sample)
    return grouped


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _number(value, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def percent_interval(interval) -> str:
    """ "[77.3, 84.5]" from a [0.773, 0.845] interval; "" for results written before intervals were."""
    return "" if not interval else f" [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"


def tokens_interval(interval) -> str:
    return "" if not interval else f" [{interval[0]:,.0f}, {interval[1]:,.0f}]"


def percent_change(metrics: dict) -> str:
    """ "-0.2 [-0.6, +0.0]": the paired pass@1 change against the reference run, in points; "-" without one."""
    change, interval = metrics.get("pass@1_change"), metrics.get("pass@1_change_ci")
    if change is None:
        return "-"
    return f"{signed_points(change)} [{signed_points(interval[0])}, {signed_points(interval[1])}]"


def unpaired_note(results: dict) -> str:
    """Why Δ pass@1 is "-" on a benchmark although a reference run was given: pairing matches problems by id and
    text, and the reference's samples hold none of that benchmark's problems."""
    if not results.get("reference"):
        return ""
    unpaired = [name for name, metrics in results["benchmarks"].items() if metrics.get("paired_problems") == 0]
    if not unpaired:
        return ""
    return (
        f"Δ pass@1 is `-` for {', '.join(unpaired)}: the reference's samples.jsonl holds none of the same problems "
        "(matched by id and text); evaluate both runs on the same benchmark data.\n"
    )


def results_table(results: dict) -> str:
    """The per-benchmark Markdown table printed at the end of a run and written to results.md."""
    header = (
        "| benchmark | problems x samples | pass@1 (%) [95% CI] | pass@k (%) | maj@k (%) | mean tokens [95% CI] "
        "| median tokens | tokens (correct) | truncated (%) | reflection words | AES | Δ pass@1 (points) [95% CI] |"
    )
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    for name, metrics in results["benchmarks"].items():
        top_k = max(metrics["pass@k"], key=int)
        majority = metrics.get("maj@k", {}).get(top_k)
        aes = "-" if metrics.get("aes") is None else f"{metrics['aes']:+.3f}"
        lines.append(
            f"| {name} | {metrics['num_problems']} x {metrics['num_samples']} "
            f"| {_percent(metrics['pass@1'])}{percent_interval(metrics.get('pass@1_ci'))} "
            f"| {_percent(metrics['pass@k'][top_k])} (k={top_k}) | {_percent(majority)} (k={top_k}) "
            f"| {_number(metrics['mean_tokens'])}{tokens_interval(metrics.get('mean_tokens_ci'))} "
            f"| {_number(metrics['median_tokens'])} | {_number(metrics['mean_tokens_correct'])} "
            f"| {_percent(metrics['truncation_rate'])} | {_number(metrics.get('mean_reflection_words'), 1)} "
            f"| {aes} | {percent_change(metrics)} |"
        )
    return "\n".join(lines) + "\n"


def levels_table(results: dict) -> str:
    """pass@1 and length per difficulty level of every benchmark that has levels; "" when none has."""
    lines = [
        "| benchmark | level | problems | pass@1 (%) [95% CI] | mean tokens [95% CI] | tokens (correct) "
        "| truncated (%) | reflection words |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, metrics in results["benchmarks"].items():
        levels = metrics.get("levels", {})
        for level in sorted(levels, key=level_order):
            row = levels[level]
            lines.append(
                f"| {name} | {level} | {row['num_problems']} "
                f"| {_percent(row['pass@1'])}{percent_interval(row['pass@1_ci'])} "
                f"| {_number(row['mean_tokens'])}{tokens_interval(row['mean_tokens_ci'])} "
                f"| {_number(row['mean_tokens_correct'])} | {_percent(row['truncation_rate'])} "
                f"| {_number(row['mean_reflection_words'], 1)} |"
            )
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def budgets_table(results: dict) -> str:
    """Accuracy and mean tokens at each budget, truncated and forced, of every benchmark that has budgets."""
    lines = [
        "| benchmark | budget | mode | pass@1 (%) [95% CI] | mean tokens [95% CI] | cut or forced (%) |",
        "|---|---|---|---|---|---|",
    ]
    for name, metrics in results["benchmarks"].items():
        for row in metrics.get("budgets", []):
            lines.append(
                f"| {name} | {row['budget']:,} | {row['mode']} "
                f"| {_percent(row['pass@1'])}{percent_interval(row['pass@1_ci'])} "
                f"| {_number(row['mean_tokens'])}{tokens_interval(row['mean_tokens_ci'])} "
                f"| {_percent(row['cut_rate'])} |"
            )
    return "\n".join(lines) + "\n" if len(lines) > 2 else ""


def results_markdown(results: dict) -> str:
    config = results["config"]
    sampling = (
        f"temperature {config['temperature']}, top_p {config['top_p']}, max_new_tokens {config['max_new_tokens']}, "
        f"seed {config['seed']}, backend {config['backend']}"
    )
    reference = (
        f"\nAES and Δ pass@1 against `{results['reference']}`; Δ pass@1 pairs the two runs problem by problem, and "
        "its interval draws the same problems for both.\n"
        if results.get("reference")
        else ""
    )
    if note := unpaired_note(results):
        reference += f"\n{note}"
    if results.get("complete") is False:
        reference += "\n**Partial run**: some benchmarks lack samples (see `complete` in results.json); re-run the same command.\n"
    markdown = f"# Evaluation of `{results['model']}`\n\nSampling: {sampling}.\n{reference}\n{results_table(results)}"
    markdown += (
        "\nReflection words: mean count per response of "
        f"{', '.join(f'`{marker}`' for marker in REFLECTION_MARKERS)} (case-insensitive, whole words).\n"
    )
    if levels := levels_table(results):
        markdown += f"\n## Per difficulty level\n\n{levels}"
    if budgets := budgets_table(results):
        markdown += (
            "\n## Budget baselines\n\nThe same responses cut at each token budget: `truncate` grades the cut text, "
            f"`force` closes the thinking there with `{config.get('force_lead_in', '')!r}` and lets the model answer "
            f"in at most {config.get('force_answer_tokens')} tokens (counted).\n\n{budgets}"
        )
    return markdown
