"""The prompts: the paper's training prompt and the evaluation protocol's."""

import pytest

from thinkprune.errors import UserError
from thinkprune.prompts import LIMIT_SENTENCE, R1_SYSTEM_PROMPT, training_messages


def test_r1_distill_prompt_is_the_papers_exact_text():
    prompt = training_messages("What is 1 + 1?", "r1_distill", 4000)
    assert prompt == [
        {
            "role": "system",
            "content": "A conversation between User and Assistant. The user asks a question, and the Assistant "
            "solves it. The assistant first thinks about the reasoning process in the mind and then provides the "
            "user with the answer. The reasoning process and answer are enclosed within <think></think> and "
            "<answer></answer> tags, respectively, i.e., <think> reasoning process here</think><answer> answer "
            "here</answer>. The output of the assistant should be within 4000 tokens.",
        },
        {
            "role": "user",
            "content": "What is 1 + 1? Let's think step by step and output the final answer within \\boxed{}.",
        },
    ]
    assert prompt[0]["content"] == R1_SYSTEM_PROMPT + LIMIT_SENTENCE.format(token_limit=4000)


def test_limit_sentence_is_optional_and_plain_template_has_no_system():
    assert training_messages("Q", "r1_distill", None)[0]["content"] == R1_SYSTEM_PROMPT
    assert [m["role"] for m in training_messages("Q", "plain", 100)] == ["user"]
    with pytest.raises(UserError, match="prompt_template"):
        training_messages("Q", "chatml", 100)
