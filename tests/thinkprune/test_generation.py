"""Generation backends shared by evaluation and the automatic schedule: EOS splitting and batched generation."""

import pytest

from thinkprune.generation import Generation, Sampling, TransformersBackend, split_at_eos
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids


def test_split_at_eos():
    assert split_at_eos([5, 6, 1, 2, 2], {1}) == Generation([5, 6, 1], True)
    assert split_at_eos([5, 6, 7], {1}) == Generation([5, 6, 7], False)


@pytest.mark.slow
def test_batched_left_padded_generation_matches_one_prompt_at_a_time(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    backend = TransformersBackend(str(tiny_checkpoint), tokenizer)
    prompts = [eval_prompt_ids(tokenizer, p, EVAL_SUFFIX, None) for p in ("What is 1 + 2?", "What is 100 + 23456?")]
    assert len(prompts[0]) != len(prompts[1])
    greedy = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=6, seed=0)
    batched = backend.generate(prompts, greedy)
    assert batched == [backend.generate([ids], greedy)[0] for ids in prompts]
    assert all(len(g.token_ids) <= 6 for g in batched)
