"""Generation backends shared by evaluation and the automatic schedule: EOS splitting and batched generation."""

import os
import sys
import types

import pytest
import torch
import torch.distributed as dist

from eval.benchmarks import load_benchmark
from thinkprune.generation import (
    Generation,
    Sampling,
    TransformersBackend,
    VLLMBackend,
    sample_seed,
    split_at_eos,
)
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids
from thinkprune.toy import resolve_model_name


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


def reference_generate(backend: TransformersBackend, prompts, sampling: Sampling, seeds) -> list[Generation]:
    input_ids, attention_mask = backend.pad_left(prompts)
    with torch.inference_mode():
        output = backend.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, **backend.generate_kwargs(sampling, seeds)
        )
    return [split_at_eos(ids, backend.eos_ids) for ids in output[:, input_ids.shape[1] :].tolist()]


@pytest.mark.parametrize(
    "temperature, dtype",
    [
        (0.6, "auto"),
        (0.0, "auto"),
        # bf16 weights, as a GPU evaluates an R1 checkpoint: the loop must sample from float32 logits as generate does.
        pytest.param(0.6, "bfloat16", marks=pytest.mark.slow),
    ],
)
def test_generate_gives_model_generate_tokens_with_finished_rows_leaving_the_batch(temperature, dtype):
    model = resolve_model_name("toy")
    tokenizer = load_tokenizer(model)
    backend = TransformersBackend(model, tokenizer, dtype)
    rows = load_benchmark("toy", limit=6)  # levels 1, 2, 3, 1, 2, 3
    prompts = [eval_prompt_ids(tokenizer, row["problem"], EVAL_SUFFIX, None) for row in rows]
    seeds = [sample_seed(0, "toy", index, 0) for index in range(len(prompts))] if temperature else None
    # A budget the toy's easier levels finish within and its hardest does not (greedy: 250, 434 and 466+ tokens):
    # rows end at different steps, some at the budget.
    sampling = Sampling(temperature, 0.95, 450, 0)
    batch_sizes = []
    hook = backend.model.register_forward_pre_hook(
        lambda _, args, kwargs: batch_sizes.append(kwargs["input_ids"].shape[0]), with_kwargs=True
    )
    generations = backend.generate(prompts, sampling, seeds)
    hook.remove()

    assert generations == reference_generate(backend, prompts, sampling, seeds)
    finished_lengths = {len(g.token_ids) for g in generations if g.finished}
    assert len(finished_lengths) >= 2 and not all(g.finished for g in generations)
    # Each finished row stops costing a forward row the step after its EOS; the batch never grows.
    assert batch_sizes[0] == len(prompts) and batch_sizes[-1] == sum(not g.finished for g in generations)
    assert batch_sizes == sorted(batch_sizes, reverse=True)


class RecordingLLM:
    """Stands in for `vllm.LLM`: records the start method the engine process would be created with."""

    start_methods = []

    def __init__(self, **kwargs):
        RecordingLLM.start_methods.append(os.environ.get("VLLM_WORKER_MULTIPROC_METHOD"))


def test_vllm_engine_is_spawned_when_a_process_group_exists(tmp_path, monkeypatch):
    """A data-parallel evaluation starts a gloo group before its engine: a forked engine would inherit it and vLLM
    would build its world over every process of the launch. Without a group, vLLM's own default is kept."""
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(LLM=RecordingLLM))
    monkeypatch.setenv("VLLM_WORKER_MULTIPROC_METHOD", "fork")  # vLLM's default, restored after the test
    model = resolve_model_name("toy")
    tokenizer = load_tokenizer(model)
    RecordingLLM.start_methods = []
    VLLMBackend(model, tokenizer, seed=0, max_model_len=64)
    dist.init_process_group("gloo", init_method=(tmp_path / "store").as_uri(), rank=0, world_size=1)
    try:
        VLLMBackend(model, tokenizer, seed=0, max_model_len=64)
    finally:
        dist.destroy_process_group()
    assert RecordingLLM.start_methods == ["fork", "spawn"]
