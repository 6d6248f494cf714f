"""Limits from measurements instead of guesses: what the automatic schedule and difficulty-aware limits decide with.

- `measure`: sample a model's responses to some problems (the round's sampling, a token budget) and record, per
  problem, every response's length, whether it finished (ended with EOS) and whether it is correct.
- `choose_limit`: the next round's limit from the lengths of the finished, correct responses: the smallest length
  within which `percentile`% of them fit, never above the limit the model was measured under, never below a floor.
- `should_stop`: after a round, stop when its validation accuracy fell more than `tolerance` below the first
  parent's, or when its mean validation length fell by less than `min_length_drop` of its parent's.
- `problem_limits`: difficulty-aware limits, one per training problem, from how often the parent solved it.

train/schedule.py runs the automatic schedule with them; train/round.py sets difficulty-aware limits.
"""

import contextlib
import math
import time

import torch
from transformers.integrations import deepspeed as hf_deepspeed

from thinkprune.generation import Sampling, decode_ids, make_backend, sample_seed
from thinkprune.grading import grade
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import prompt_ids
from thinkprune.toy import resolve_model_name


# Shown on cards and in records: the measured distribution at a glance.
PERCENTILES = (10, 25, 50, 75, 90)
BATCH_SIZE = {"transformers": 64, "vllm": 2048}


@contextlib.contextmanager
def whole_weights():
    """Models loaded in the block hold their whole weights. In a round under DeepSpeed ZeRO-3 (zero3.yaml),
    from_pretrained partitions every model it loads over the processes for a DeepSpeed engine, and a measurement runs
    its model alone on each process, outside any engine: partitioned, its first forward fails."""
    reference = hf_deepspeed._hf_deepspeed_config_weak_ref
    hf_deepspeed.unset_hf_deepspeed_config()
    try:
        yield
    finally:
        hf_deepspeed._hf_deepspeed_config_weak_ref = reference


def measure(
    model: str,
    prompts: list[list[dict]],
    answers: list[str],
    sampling: Sampling,
    num_samples: int,
    backend: str = "transformers",
    first_problem_index: int = 0,
) -> dict:
    """`num_samples` responses to every chat prompt, sampled with `sampling` (its `max_new_tokens` is the budget),
    graded against `answers` by `thinkprune.grading.grade`. Per problem: the lengths (generated ids, EOS included, as
    trl counts them), whether each response finished (ended with EOS) and whether it is correct.

    Every response draws from its own seed, keyed by its problem's index in the whole set (`first_problem_index` is
    the index of `prompts[0]` there) and its sample index: a process measuring its share of the problems draws what
    one process measuring them all would, whatever the batch size or the backend's order of work."""
    started = time.time()
    model_path = resolve_model_name(model)
    tokenizer = load_tokenizer(model_path)
    rendered = [prompt_ids(tokenizer, messages) for messages in prompts]
    with whole_weights():
        engine = make_backend(
            backend,
            model_path,
            tokenizer,
            sampling.seed,
            max(len(ids) for ids in rendered) + sampling.max_new_tokens,
            tensor_parallel_size=1,
            gpu_memory_utilization=0.9,
            dtype="auto",
        )
    jobs = [(index, sample) for index in range(len(prompts)) for sample in range(num_samples)]
    per_problem = [{"lengths": [], "finished": [], "correct": []} for _ in prompts]
    batch_size = BATCH_SIZE[engine.name]
    for begin in range(0, len(jobs), batch_size):
        batch = jobs[begin : begin + batch_size]
        seeds = [sample_seed(sampling.seed, "measure", first_problem_index + index, sample) for index, sample in batch]
        generations = engine.generate([rendered[index] for index, _ in batch], sampling, seeds)
        for (index, _), generation in zip(batch, generations, strict=True):
            per_problem[index]["lengths"].append(len(generation.token_ids))
            per_problem[index]["finished"].append(generation.finished)
            per_problem[index]["correct"].append(grade(decode_ids(tokenizer, generation.token_ids), answers[index]))
    # A round measuring its parent trains right after: give the weights' memory back first.
    del engine
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return {
        "num_problems": len(prompts),
        "num_samples": num_samples,
        "max_new_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "seconds": round(time.time() - started, 1),
        "problems": per_problem,
    }


def solve_rates(measurement: dict) -> list[float]:
    """Per problem: the share of its responses that finished within the budget with a correct answer."""
    return [
        sum(done and right for done, right in zip(row["finished"], row["correct"])) / len(row["lengths"])
        for row in measurement["problems"]
    ]


def nearest_rank(sorted_values: list[int], percentile: float) -> int:
    """The smallest value with at least `percentile`% of the values at or below it."""
    return sorted_values[max(0, math.ceil(percentile / 100 * len(sorted_values)) - 1)]


def summarize(measurement: dict) -> dict:
    """What a record keeps of a measurement: the rates, the mean length, and the lengths of every finished, correct
    response (the distribution the limit rule reads) with their percentiles."""
    rows = measurement["problems"]
    lengths = [length for row in rows for length in row["lengths"]]
    correct = [right for row in rows for right in row["correct"]]
    solved = sorted(
        length
        for row in rows
        for length, done, right in zip(row["lengths"], row["finished"], row["correct"])
        if done and right
    )
    accuracy = sum(correct) / len(correct)
    return {
        **{key: value for key, value in measurement.items() if key != "problems"},
        "accuracy": accuracy,
        # Binomial standard error over samples: how far the accuracy guard can trust a difference.
        "accuracy_stderr": math.sqrt(accuracy * (1 - accuracy) / len(correct)),
        "finished_rate": sum(done for row in rows for done in row["finished"]) / len(lengths),
        "solve_rate": len(solved) / len(lengths),
        "mean_tokens": sum(lengths) / len(lengths),
        "correct_finished_lengths": solved,
        "correct_finished_percentiles": {str(p): nearest_rank(solved, p) for p in PERCENTILES} if solved else {},
    }


def choose_limit(
    lengths_of_correct_finished: list[int], previous_limit: int, percentile: float, floor: int
) -> tuple[int | None, str]:
    """(the next limit, why), or (None, why not) when no limit below `previous_limit` follows from the measurement.

    The limit is the smallest length within which `percentile`% of the parent's finished, correct responses fit,
    raised to `floor` and never above `previous_limit` (the limit, or budget, the parent was measured under).
    """
    if not lengths_of_correct_finished:
        return None, f"no measured response finished within {previous_limit} tokens with a correct answer"
    lengths = sorted(lengths_of_correct_finished)
    value = nearest_rank(lengths, percentile)
    why = f"{percentile:g}% of the {len(lengths)} finished, correct responses fit in {value} tokens"
    if value < floor:
        why += f", below the floor: the floor, {floor} tokens"
    limit = min(max(value, floor), previous_limit)
    if limit >= previous_limit:
        return None, f"{why}, not below the {previous_limit} tokens the parent was measured under"
    return limit, why


def within_tolerance(first_parent_acc: float, val_acc: float, tolerance: float) -> bool:
    """Accuracy at most `tolerance` below the first parent's. A tolerance of 0.02 is 2 points; the epsilon keeps
    80% -> 78% (a float difference of 0.0200...01) within it."""
    return first_parent_acc - val_acc <= tolerance + 1e-9


def should_stop(
    first_parent_acc: float,
    val_acc: float,
    prev_mean_len: float,
    mean_len: float,
    tolerance: float,
    min_length_drop: float,
) -> str | None:
    """Why the schedule stops after a round (its validation against the first parent's and its parent's), or None."""
    if not within_tolerance(first_parent_acc, val_acc, tolerance):
        return (
            f"validation accuracy {100 * val_acc:.1f}% fell more than {100 * tolerance:g} points below the first "
            f"parent's {100 * first_parent_acc:.1f}%"
        )
    drop = 1 - mean_len / prev_mean_len if prev_mean_len > 0 else 0.0
    if drop < min_length_drop:
        change = 100 * (mean_len - prev_mean_len) / prev_mean_len if prev_mean_len > 0 else 0.0
        return (
            f"the mean validation length went from {prev_mean_len:.0f} to {mean_len:.0f} tokens ({change:+.1f}%), "
            f"short of the minimum drop of {100 * min_length_drop:g}%"
        )
    return None


def problem_limits(rates: list[float], round_limit: int, min_limit: int) -> list[int]:
    """Difficulty-aware limits: `min_limit + (round_limit - min_limit) * (1 - solve rate)`, rounded. A problem the
    parent always solved gets `min_limit`, one it never solved the round's limit, the others in between."""
    return [round(min_limit + (round_limit - min_limit) * (1 - rate)) for rate in rates]
