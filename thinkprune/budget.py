"""Budget forcing (s1, arXiv 2501.19393; L1 compares against it): stop a long-thinker's thinking at a token budget
and make it answer. The free inference-time baseline a pruned model has to beat.

At B generated tokens, a response that has neither ended (EOS) nor closed its thinking gets a lead-in appended that
closes the thinking where the budget fell and opens the final answer's box, and may write `FORCE_ANSWER_TOKENS` more
tokens, with the same sampling. Every token counts: the first B, the lead-in's and the answer's. A response that
closed its thinking within B is left as it is (its answer is the model's own). The evaluation harness
(eval/budgets.py) and the demo (demo/generation.py) both force this way; docs/evaluation.md says why this lead-in and
allowance.
"""

from bisect import bisect_left
from collections.abc import Callable

from thinkprune.errors import UserError
from thinkprune.prompts import THINK_END
from thinkprune.toy import TOY_ANSWER_LEAD, is_toy_model


# s1's "Final Answer:" in the form R1-style models end their answers with: the evaluation prompt asks for a box, and
# an open box makes the model answer at once (after a bare `</think>`, R1 first writes a summary of hundreds of
# tokens, which a short allowance cuts before any box). The toy gets its own answer sentence.
FORCE_LEAD_IN = f"\n{THINK_END}\n\n**Final Answer**\n\\boxed{{"
FORCE_ANSWER_TOKENS = 32


def default_lead_in(model: str) -> str:
    """The lead-in for a model: the toy lineage's own answer sentence, `FORCE_LEAD_IN` for any other model."""
    return TOY_ANSWER_LEAD if is_toy_model(model) else FORCE_LEAD_IN


def lead_in_ids(tokenizer, lead_in: str = FORCE_LEAD_IN) -> list[int]:
    """The lead-in as ids, tokenized on its own (no BOS): what is appended after the budget's last token."""
    ids = tokenizer(lead_in, add_special_tokens=False)["input_ids"]
    if THINK_END not in tokenizer.decode(ids):
        raise UserError(
            f"the forcing lead-in {lead_in!r} must close the thinking with {THINK_END}: fix --force_lead_in"
        )
    return list(ids)


def think_end_token_id(tokenizer) -> int | None:
    """The id of `</think>` when the vocabulary has it as one token (R1-Distill and the toy do), else None."""
    token_id = tokenizer.convert_tokens_to_ids(THINK_END)
    return token_id if isinstance(token_id, int) and tokenizer.decode([token_id]) == THINK_END else None


def think_end_position(ids: list[int], decode: Callable[[list[int]], str], end_id: int | None = None) -> int | None:
    """How many generated tokens it took to close the thinking (the prefix up to and including `</think>`), or None
    when the response never closes it. The tag's own token when the vocabulary has one; otherwise (or when the model
    spelled the tag in pieces) bisection on decoded prefixes, which works for any tokenizer in a few decodes."""
    if end_id is not None and end_id in ids:
        return ids.index(end_id) + 1
    if THINK_END not in decode(ids):
        return None
    low, high = 1, len(ids)  # the shortest prefix holding the tag lies in [low, high]
    while low < high:
        middle = (low + high) // 2
        if THINK_END in decode(ids[:middle]):
            high = middle
        else:
            low = middle + 1
    return low


def needs_forcing(num_tokens: int, finished: bool, think_end: int | None, budget: int) -> bool:
    """True when, at `budget` tokens, the response has neither ended nor closed its thinking."""
    ended = finished and num_tokens <= budget
    closed = think_end is not None and think_end <= budget
    return not (ended or closed)


def interpolate(points: list[tuple[float, float]], x: float) -> float | None:
    """y at x on the piecewise-linear curve through (x, y) points; None outside the points' x range, where nothing
    was measured. Points at the same x are averaged."""
    merged: dict[float, list[float]] = {}
    for px, py in points:
        merged.setdefault(px, []).append(py)
    xs = sorted(merged)
    ys = [sum(merged[px]) / len(merged[px]) for px in xs]
    if not xs or not xs[0] <= x <= xs[-1]:
        return None
    index = bisect_left(xs, x)
    if xs[index] == x:
        return ys[index]
    x0, x1, y0, y1 = xs[index - 1], xs[index], ys[index - 1], ys[index]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
