"""Training problems for a ThinkPrune round: load them, write the round's prompt, drop over-long prompts.

Every source ends up as a dataset with a conversational `prompt` column (what GRPOTrainer samples from) and an
`answer` column (what the reward grades against).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, load_dataset

from thinkprune.errors import UserError
from thinkprune.prompts import prompt_ids, training_messages
from thinkprune.toy import TOY_MODEL_NAME, make_problems


# Eurus-2-RL-Data stores verl-style rows: chat messages whose user turn ends in its own answer-format instruction.
EURUS_INSTRUCTION = "\n\nPresent the answer in LaTex format: \\boxed{Your answer}"


@dataclass(frozen=True)
class DatasetPreset:
    problem_column: str
    answer_column: str
    data_source: str | None = None
    strip_suffix: str | None = None


DATASET_PRESETS = {
    "PRIME-RL/Eurus-2-RL-Data": DatasetPreset(
        problem_column="prompt",
        answer_column="reward_model.ground_truth",
        data_source="numina_amc_aime",
        strip_suffix=EURUS_INSTRUCTION,
    ),
}
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def _column_value(row: dict, column: str):
    """A column, or a field inside a struct column written as `column.field`."""
    value = row
    for key in column.split("."):
        value = value[key]
    return value


def _problem_text(value, strip_suffix: str | None) -> str:
    # A chat-message column holds the problem in its last user turn.
    if isinstance(value, list):
        value = [message["content"] for message in value if message.get("role") == "user"][-1]
    value = str(value)
    if strip_suffix and value.endswith(strip_suffix):
        value = value[: -len(strip_suffix)]
    return value.strip()


def _load_raw(dataset_name: str, dataset_config: str | None, split: str):
    path = Path(dataset_name)
    try:
        if path.is_dir():
            return load_dataset(str(path), split=split)
        if path.suffix in LOCAL_FORMATS:
            if not path.exists():
                raise UserError(f"dataset file {dataset_name} does not exist: check --dataset_name")
            return load_dataset(LOCAL_FORMATS[path.suffix], data_files=str(path), split="train")
        return load_dataset(dataset_name, dataset_config, split=split)
    except UserError:
        raise
    except Exception as error:
        raise UserError(
            f"cannot load dataset {dataset_name!r} (split {split!r}): {type(error).__name__}; pass a Hub dataset "
            f"id, a local .jsonl/.json/.parquet/.csv file or a dataset directory as --dataset_name, or 'toy'"
        ) from error


def load_problems(
    dataset_name: str,
    dataset_config: str | None = None,
    split: str = "train",
    problem_column: str | None = None,
    answer_column: str | None = None,
    data_source: str | None = None,
    num_problems: int | None = None,
    seed: int = 0,
):
    """A `datasets.Dataset` of {"problem", "answer"} rows from the toy, a Hub dataset or a local file."""
    if dataset_name == TOY_MODEL_NAME:
        return Dataset.from_list(make_problems("train", num_problems or 2000, seed))

    preset = DATASET_PRESETS.get(dataset_name)
    problem_column = problem_column or (preset.problem_column if preset else "problem")
    answer_column = answer_column or (preset.answer_column if preset else "answer")
    data_source = data_source or (preset.data_source if preset else None)
    strip_suffix = preset.strip_suffix if preset else None

    raw = _load_raw(dataset_name, dataset_config, split)
    for column in (problem_column, answer_column):
        if column.split(".")[0] not in raw.column_names:
            raise UserError(
                f"dataset {dataset_name!r} has no column {column!r} (columns: {', '.join(raw.column_names)}): "
                "pass --problem_column / --answer_column"
            )
    if data_source is not None:
        raw = raw.filter(lambda row: row.get("data_source") == data_source)
    rows = [
        {
            "problem": _problem_text(_column_value(row, problem_column), strip_suffix),
            "answer": str(_column_value(row, answer_column)),
        }
        for row in raw
    ]
    if not rows:
        raise UserError(f"dataset {dataset_name!r} has no rows (data_source filter: {data_source!r})")
    dataset = Dataset.from_list(rows)
    if num_problems is not None:
        dataset = dataset.shuffle(seed=seed).select(range(min(num_problems, len(dataset))))
    return dataset


def build_round_dataset(problems, tokenizer, template: str, token_limit: int | None, max_prompt_length: int):
    """Add the round's prompt to every problem and drop (not truncate) prompts over `max_prompt_length` tokens.

    Returns the dataset and how many problems were dropped; trl no longer truncates prompts itself, and a cut
    prompt would be a different problem.
    """

    def add_prompt(row):
        prompt = training_messages(row["problem"], template, token_limit)
        return {"prompt": prompt, "prompt_length": len(prompt_ids(tokenizer, prompt))}

    num_proc = min(4, os.cpu_count() or 1) if len(problems) > 5000 else None
    dataset = problems.map(add_prompt, num_proc=num_proc)
    kept = dataset.filter(lambda row: row["prompt_length"] <= max_prompt_length).remove_columns("prompt_length")
    if len(kept) == 0:
        raise UserError(
            f"every prompt is longer than max_prompt_length={max_prompt_length} tokens: raise --max_prompt_length"
        )
    return kept, len(dataset) - len(kept)


def hold_out(problems, num_held_out: int, seed: int):
    """(training problems, held-out problems): the held-out ones are the last `num_held_out` rows after a shuffle with
    `seed`, so a round and the automatic schedule that launched it (same dataset, same seed) agree on them and
    training never sees them. With none held out, the problems are returned as they are."""
    if num_held_out == 0:
        return problems, problems.select([])
    if not 0 < num_held_out < len(problems):
        raise UserError(
            f"cannot hold out {num_held_out} of {len(problems)} problems and still train on some: lower "
            "auto_measure_problems / auto_validation_problems, or raise num_train_problems"
        )
    shuffled = problems.shuffle(seed=seed)
    kept = len(shuffled) - num_held_out
    return shuffled.select(range(kept)), shuffled.select(range(kept, len(shuffled)))
