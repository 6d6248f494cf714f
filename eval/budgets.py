"""Budget baselines: what the evaluated model scores, and spends, when its thinking is simply cut at a token budget.

At each budget B, from the generated ids of the one full-length run (`token_ids` in samples.jsonl):

- `truncate`: each response cut at B generated tokens and graded as any response is; min(its length, B) tokens
  counted. Arithmetic on the stored ids, no generation: at a budget at or above the run's max_new_tokens every
  response is whole and the figures are exactly the run's own.
- `force` (budget forcing, `thinkprune.budget`): a response that has neither ended nor closed its thinking within B
  gets the lead-in (closing `</think>`) after its first B tokens and writes an answer of at most `answer_tokens`,
  with the run's sampling settings; one extra short generation per such sample, batched. Counted: B + the lead-in +
  the answer. A response that ended or closed its thinking within B is taken as it is, with its own length.

Forced answers are appended to `budgets.jsonl` (one line per sample and budget, with the lead-in and allowance they
were made with) batch by batch, so a re-run generates only what is missing and `--rescore` re-grades them.
"""

import functools
import statistics
from dataclasses import dataclass

from tqdm.auto import tqdm
from transformers import set_seed

from eval.metrics import estimates
from eval.results import append_samples, read_samples
from thinkprune.budget import lead_in_ids, needs_forcing, think_end_position, think_end_token_id
from thinkprune.errors import UserError
from thinkprune.generation import Sampling, decode_ids, sample_seed
from thinkprune.grading import grade


MODES = ("truncate", "force")


@dataclass(frozen=True)
class Forcing:
    lead_in: str
    answer_tokens: int


def parse_budgets(value) -> list[int]:
    """Budgets given as "60,80" (CLI) or a YAML list: positive token counts, sorted, without repeats."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    try:
        budgets = sorted({int(str(item).strip()) for item in items if str(item).strip()})
    except ValueError:
        budgets = []
    if not budgets or budgets[0] < 1:
        raise UserError(f"budgets must be positive token counts such as 1000,2000,4000, got {value!r}")
    return budgets


def parse_modes(value) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    modes = {str(item).strip() for item in items if str(item).strip()}
    if not modes or modes - set(MODES):
        raise UserError(f"budget_modes must be truncate, force or truncate,force, got {value!r}")
    return [mode for mode in MODES if mode in modes]


def check_budgets(budgets: list[int], max_new_tokens: int) -> None:
    if budgets[-1] > max_new_tokens:
        raise UserError(
            f"budget {budgets[-1]} is above the run's max_new_tokens ({max_new_tokens}): the stored responses hold "
            f"no token past it; use budgets up to {max_new_tokens}, or evaluate with a larger --max_new_tokens"
        )


def require_token_ids(samples: list[dict], name: str) -> None:
    if any("token_ids" not in sample for sample in samples):
        raise UserError(
            f"the {name} samples have no generated token ids (written before they were stored): regenerate the run "
            "(--overwrite, or another --output_dir) to evaluate its budgets"
        )


def sample_key(sample: dict) -> tuple:
    return sample["benchmark"], sample["problem_index"], sample["sample_index"]


def record_key(record: dict) -> tuple:
    return (*sample_key(record), record["budget"], Forcing(record["lead_in"], record["answer_tokens"]))


# ---------------------------------------------------------------------------------------------------------------
# One response at one budget
# ---------------------------------------------------------------------------------------------------------------


def truncate_outcome(sample: dict, budget: int, decode) -> dict:
    """The response cut at `budget` tokens: its verdict, its tokens, and whether it had not ended by then."""
    ids = sample["token_ids"]
    whole = len(ids) <= budget
    return {
        "problem_index": sample["problem_index"],
        # A whole response keeps the run's own verdict: at the full budget the figures are exactly the run's.
        "correct": sample["correct"] if whole else grade(decode(ids[:budget]), sample["answer"]),
        "num_tokens": min(len(ids), budget),
        "cut": not (whole and sample["finished"]),
    }


def force_outcome(sample: dict, budget: int, record: dict | None, decode) -> dict:
    """The response under budget forcing: as it is when it needed no forcing (`record` None), else its first
    `budget` tokens, the lead-in and the forced answer, graded together."""
    if record is None:
        return {
            "problem_index": sample["problem_index"],
            "correct": sample["correct"],
            "num_tokens": len(sample["token_ids"]),
            "cut": False,
        }
    prefix = sample["token_ids"][:budget]
    return {
        "problem_index": sample["problem_index"],
        "correct": grade(decode(prefix + record["forced_ids"]), sample["answer"]),
        "num_tokens": len(prefix) + len(record["forced_ids"]),
        "cut": True,
    }


def budget_row(outcomes: list[dict], budget: int, mode: str) -> dict:
    """One row of a benchmark's `budgets` in results.json."""
    return {
        "budget": budget,
        "mode": mode,
        **estimates(outcomes),
        "cut_rate": statistics.fmean(outcome["cut"] for outcome in outcomes),
    }


# ---------------------------------------------------------------------------------------------------------------
# A benchmark's budget table
# ---------------------------------------------------------------------------------------------------------------


def forcing_plan(samples: list[dict], budgets: list[int], think_ends: dict) -> list[tuple[dict, int]]:
    """Every (sample, budget) at which the sample must be forced."""
    return [
        (sample, budget)
        for budget in budgets
        for sample in samples
        if needs_forcing(len(sample["token_ids"]), sample["finished"], think_ends[sample_key(sample)], budget)
    ]


def generate_forced(name, plan, prompts, lead_ids, forcing, backend, batch_size, sampling, tokenizer, path):
    """The forced answers of `plan`, generated in batches of similar lengths; each batch's records are appended to
    `path` as it finishes."""
    plan = sorted(plan, key=lambda item: len(prompts[item[0]["problem_index"]]) + item[1])
    answer_sampling = Sampling(sampling.temperature, sampling.top_p, forcing.answer_tokens, sampling.seed)
    set_seed(sampling.seed)
    records = []
    for begin in tqdm(range(0, len(plan), batch_size), desc=f"{name} forced answers", unit="batch"):
        batch = plan[begin : begin + batch_size]
        inputs = [
            prompts[sample["problem_index"]] + sample["token_ids"][:budget] + lead_ids for sample, budget in batch
        ]
        # Seeded per sample and budget, as the responses are: the same answers however the plan is batched.
        seeds = [sample_seed(sampling.seed, *sample_key(sample), "force", budget) for sample, budget in batch]
        generations = backend.generate(inputs, answer_sampling, seeds)
        batch_records = [
            {
                "benchmark": sample["benchmark"],
                "problem_index": sample["problem_index"],
                "sample_index": sample["sample_index"],
                "budget": budget,
                "lead_in": forcing.lead_in,
                "answer_tokens": forcing.answer_tokens,
                "answer": decode_ids(tokenizer, generation.token_ids),
                "answer_finished": generation.finished,
                "forced_ids": lead_ids + generation.token_ids,
            }
            for (sample, budget), generation in zip(batch, generations, strict=True)
        ]
        append_samples(path, batch_records)
        records.extend(batch_records)
    return records


def evaluate_budgets(
    name, samples, budgets, modes, forcing, tokenizer, path, prompts=None, generator=None, sampling=None
):
    """The `budgets` rows of one benchmark, truncate then force, budgets ascending.

    Forced answers missing from `path` (budgets.jsonl) are generated with `generator()` -> (backend, batch size)
    from the benchmark's `prompts` ids; without a generator (a rescore) they must all be there already.
    """
    require_token_ids(samples, name)
    decode = functools.partial(decode_ids, tokenizer)
    rows = [
        budget_row([truncate_outcome(sample, budget, decode) for sample in samples], budget, "truncate")
        for budget in budgets
        if "truncate" in modes
    ]
    if "force" not in modes:
        return rows
    end_id = think_end_token_id(tokenizer)
    think_ends = {sample_key(s): think_end_position(s["token_ids"], decode, end_id) for s in samples}
    plan = forcing_plan(samples, budgets, think_ends)
    records = {record_key(record): record for record in read_samples(path)}
    missing = [(s, budget) for s, budget in plan if (*sample_key(s), budget, forcing) not in records]
    if missing and generator is None:
        raise UserError(
            f"{path} lacks {len(missing)} forced {name} answers for these budgets and settings: run the evaluation "
            "without --rescore to generate them, or pass --budget_modes truncate"
        )
    if missing:
        backend, batch_size = generator()
        lead_ids = lead_in_ids(tokenizer, forcing.lead_in)
        new = generate_forced(
            name, missing, prompts, lead_ids, forcing, backend, batch_size, sampling, tokenizer, path
        )
        records.update((record_key(record), record) for record in new)
    forced = {(sample_key(sample), budget) for sample, budget in plan}
    for budget in budgets:
        outcomes = [
            force_outcome(
                sample,
                budget,
                records[(*sample_key(sample), budget, forcing)] if (sample_key(sample), budget) in forced else None,
                decode,
            )
            for sample in samples
        ]
        rows.append(budget_row(outcomes, budget, "force"))
    return rows
