"""Budget forcing's shared pieces: the lead-ins, where the thinking closes, when to force, curve interpolation."""

import pytest

from thinkprune.budget import (
    FORCE_LEAD_IN,
    default_lead_in,
    interpolate,
    lead_in_ids,
    needs_forcing,
    think_end_position,
    think_end_token_id,
)
from thinkprune.errors import UserError
from thinkprune.modeling import load_tokenizer
from thinkprune.toy import TOY_ANSWER_LEAD, make_completion


def decode_chars(ids):
    return "".join(chr(i) for i in ids)


def chars(text):
    return [ord(c) for c in text]


def test_think_end_position_by_bisection_counts_the_tokens_up_to_the_tag():
    text = "step one\n</think>\n\nanswer"
    position = think_end_position(chars(text), decode_chars)
    assert position == text.index("</think>") + len("</think>")
    assert think_end_position(chars("no closing tag at all"), decode_chars) is None


def test_think_end_position_takes_the_single_token_when_there_is_one(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    ids = tokenizer(make_completion((57, 68), 2), add_special_tokens=False)["input_ids"]
    end_id = think_end_token_id(tokenizer)
    assert end_id is not None and tokenizer.decode([end_id]) == "</think>"
    decode = tokenizer.decode
    fast, slow = think_end_position(ids, decode, end_id), think_end_position(ids, decode)
    assert fast == slow and decode(ids[:fast]).endswith("</think>") and "</think>" not in decode(ids[: fast - 1])


@pytest.mark.parametrize(
    ("num_tokens", "finished", "think_end", "budget", "forced"),
    [
        (50, True, 40, 100, False),  # ended within the budget
        (150, True, 40, 100, False),  # closed its thinking within the budget, answers past it: its own answer
        (150, True, 120, 100, True),  # still thinking at the budget
        (150, False, None, 100, True),  # never closed, cut by the run's max_new_tokens
        (100, False, None, 100, True),  # reached the budget exactly without ending
        (100, True, None, 100, False),  # ended (EOS) exactly at the budget, even without a closed thinking
    ],
)
def test_needs_forcing(num_tokens, finished, think_end, budget, forced):
    assert needs_forcing(num_tokens, finished, think_end, budget) is forced


def test_lead_ins_close_the_thinking_and_open_a_box(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    assert tokenizer.decode(lead_in_ids(tokenizer, TOY_ANSWER_LEAD)) == TOY_ANSWER_LEAD
    assert make_completion((51, 52), 0).endswith(TOY_ANSWER_LEAD + "103}.")  # the toy's own answer sentence
    assert FORCE_LEAD_IN.startswith("\n</think>") and FORCE_LEAD_IN.endswith("\\boxed{")
    assert default_lead_in("toy") == TOY_ANSWER_LEAD
    assert default_lead_in("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == FORCE_LEAD_IN
    with pytest.raises(UserError, match="must close the thinking"):
        lead_in_ids(tokenizer, "Final answer: ")


def test_interpolate_on_a_measured_curve():
    curve = [(120, 0.8), (60, 0.2), (90, 0.5)]
    assert interpolate(curve, 75) == pytest.approx(0.35)
    assert interpolate(curve, 90) == 0.5 and interpolate(curve, 120) == 0.8
    assert interpolate(curve, 59.9) is None and interpolate(curve, 130) is None  # nothing measured there
    assert interpolate([(60, 0.2), (60, 0.4)], 60) == pytest.approx(0.3)
    assert interpolate([], 10) is None
