"""Generation backends: vLLM when installed (GPU), batched transformers `generate` otherwise.

Used by the evaluation harness (eval/) and by the automatic schedule's measurements (train/auto.py). Both backends
take prompts as token ids (rendered once, with the model's chat template exactly as training does) and return, for
every prompt, the generated ids and whether generation ended with EOS. Text is decoded here, by the same tokenizer,
for both backends; token counts are the number of generated ids, EOS included (as trl counts completion lengths).

Given one seed per prompt (`sample_seed`), each response is drawn from its own random stream: the same seed gives the
same response whatever else is in the batch, so an evaluation split over processes, batched differently or resumed
draws the same samples (vLLM: a per-request `SamplingParams.seed`; transformers: `seeded_tokens`).
"""

import hashlib
import importlib.util
import os
from dataclasses import dataclass

import torch
from transformers import DynamicCache, GenerationConfig, LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import TemperatureLogitsWarper, TopPLogitsWarper

from thinkprune.modeling import eos_token_ids, load_model


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int


@dataclass
class Generation:
    token_ids: list[int]
    finished: bool


def split_at_eos(ids: list[int], eos_ids: set[int]) -> Generation:
    """Generated ids up to and including the first EOS; padding after it is dropped."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return Generation(ids[: position + 1], True)
    return Generation(ids, False)


def sample_seed(seed: int, *key) -> int:
    """The sampling seed of one response, e.g. (run seed, benchmark, problem index, sample index): a hash, so that
    neighbouring keys get unrelated streams, and stable across processes and Python versions (unlike `hash`)."""
    digest = hashlib.sha256("/".join(map(str, (seed, *key))).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # 63 bits: a valid torch and vLLM seed


def draw_uniforms(seeds: list[int], max_new_tokens: int, device) -> torch.Tensor:
    """Every row's uniforms for all steps, drawn up front from the row's own generator (one call per row, not per row
    and step): row i, step t samples with `uniforms[i, t]`."""
    return torch.stack(
        [
            torch.rand(max_new_tokens, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            for seed in seeds
        ]
    ).to(device)


def sampling_warpers(sampling: Sampling) -> LogitsProcessorList:
    """Temperature then top_p, as `generate` samples with them."""
    return LogitsProcessorList([TemperatureLogitsWarper(sampling.temperature), TopPLogitsWarper(sampling.top_p)])


def seeded_tokens(warped_scores: torch.FloatTensor, uniforms: torch.Tensor) -> torch.LongTensor:
    """One token per row by inverse CDF of its warped scores at its own uniform: the first token whose cumulative
    probability exceeds u x total, never one of probability 0. A row's token depends on its logits and its uniform,
    not on the other rows or on the global random state."""
    cdf = warped_scores.double().softmax(dim=-1).cumsum(dim=-1)
    tokens = torch.searchsorted(cdf, uniforms[:, None] * cdf[:, -1:], right=True)
    return tokens.clamp(max=warped_scores.shape[-1] - 1).squeeze(1)


class SeededSampler(LogitsProcessor):
    """`seeded_tokens` inside `model.generate`: leaves only the sampled token, so that `generate` runs greedy and
    takes it. The reference `TransformersBackend.generate` is checked against (tests, scripts/benchmark_throughput.py)."""

    def __init__(self, seeds: list[int], sampling: Sampling, device):
        self.uniforms = draw_uniforms(seeds, sampling.max_new_tokens, device)
        self.warpers = sampling_warpers(sampling)
        self.step = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        tokens = seeded_tokens(self.warpers(input_ids, scores), self.uniforms[:, self.step])
        self.step += 1
        return torch.full_like(scores, -float("inf")).scatter_(1, tokens[:, None], 0.0)


def decode_ids(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class TransformersBackend:
    """Batched decoding with left padding, rows leaving the batch as they finish; one prompt row per sample (repeat a
    prompt for n samples)."""

    name = "transformers"

    def __init__(self, model_path: str, tokenizer, dtype: str = "auto"):
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        # Half precision is slow (or unsupported) on CPU; on GPU keep the checkpoint's own dtype.
        torch_dtype = torch.float32 if self.device == "cpu" and dtype == "auto" else dtype
        if isinstance(torch_dtype, str) and torch_dtype != "auto":
            torch_dtype = getattr(torch, torch_dtype)
        self.model = load_model(model_path, dtype=torch_dtype).to(self.device).eval()
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id
        self.eos_ids = eos_token_ids(tokenizer, self.model.generation_config)

    def pad_left(self, prompts: list[list[int]]):
        width = max(len(ids) for ids in prompts)
        input_ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, ids in enumerate(prompts):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention_mask[row, width - len(ids) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    def generate_kwargs(self, sampling: Sampling, seeds: list[int] | None = None) -> dict:
        """`model.generate` arguments for the same sampling: the reference `generate` below is checked against (tests,
        scripts/benchmark_throughput.py)."""
        # Explicit values: a checkpoint's generation_config (top_k, repetition_penalty...) must not change the
        # protocol, and vLLM applies none of them either.
        if seeds is not None and sampling.temperature > 0:
            sampler = SeededSampler(seeds, sampling, self.device)
            return {
                **self.generate_kwargs(Sampling(0.0, 1.0, sampling.max_new_tokens, sampling.seed)),
                "logits_processor": LogitsProcessorList([sampler]),
            }
        return {
            "do_sample": sampling.temperature > 0,
            "temperature": sampling.temperature if sampling.temperature > 0 else None,
            "top_p": sampling.top_p if sampling.temperature > 0 else None,
            "top_k": 0 if sampling.temperature > 0 else None,
            "repetition_penalty": 1.0,
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": self.pad_id,
            "eos_token_id": sorted(self.eos_ids),
        }

    def generate(
        self, prompts: list[list[int]], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        """The tokens `model.generate` would give (same sampling, same seeds), decoded step by step with each row
        leaving the batch when it emits EOS. `generate` keeps a finished row in the batch, as padding, until the
        longest response ends, and with lengths as spread as a long-thinking model's that padding is much of the work
        (scripts/benchmark_throughput.py times the two)."""
        input_ids, attention_mask = self.pad_left(prompts)
        # Positions as `generate` derives them from left padding: pads at 0, each prompt from 0.
        position_ids = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        warpers = sampling_warpers(sampling) if sampling.temperature > 0 else None
        uniforms = draw_uniforms(seeds, sampling.max_new_tokens, self.device) if warpers and seeds else None
        rows = torch.arange(len(prompts), device=self.device)  # the prompt of each row still in the batch
        generated: list[list[int]] = [[] for _ in prompts]
        cache = DynamicCache(config=self.model.config)
        step_ids = input_ids
        with torch.inference_mode():
            for step in range(sampling.max_new_tokens):
                output = self.model(
                    input_ids=step_ids,
                    attention_mask=attention_mask,
                    position_ids=position_ids,
                    past_key_values=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
                logits = output.logits[:, -1, :].float()
                if warpers is None:
                    tokens = logits.argmax(dim=-1)
                elif uniforms is None:
                    tokens = torch.multinomial(warpers(None, logits).softmax(dim=-1), num_samples=1).squeeze(1)
                else:
                    tokens = seeded_tokens(warpers(None, logits), uniforms[rows, step])
                for row, token in zip(rows.tolist(), tokens.tolist()):
                    generated[row].append(token)
                running = torch.tensor([token not in self.eos_ids for token in tokens.tolist()], device=self.device)
                if not running.any():
                    break
                if not running.all():
                    keep = running.nonzero().squeeze(1)
                    cache.batch_select_indices(keep)
                    rows, tokens = rows[keep], tokens[keep]
                    attention_mask, position_ids = attention_mask[keep], position_ids[keep]
                step_ids = tokens[:, None]
                attention_mask = torch.cat([attention_mask, attention_mask.new_ones((len(rows), 1))], dim=1)
                position_ids = position_ids[:, -1:] + 1
        return [split_at_eos(ids, self.eos_ids) for ids in generated]


class VLLMBackend:
    """vLLM offline inference: prompts as token ids, n samples per prompt, tensor parallel over GPUs."""

    name = "vllm"

    def __init__(
        self,
        model_path: str,
        tokenizer,
        seed: int,
        max_model_len: int,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
    ):
        from vllm import LLM

        self.tokenizer = tokenizer
        try:
            generation_config = GenerationConfig.from_pretrained(model_path)
        except OSError:  # no generation_config.json: the tokenizer's EOS alone
            generation_config = None
        self.eos_ids = eos_token_ids(tokenizer, generation_config)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # vLLM forks its engine process by default, and a forked process inherits this one's process group (the
            # gloo group of a data-parallel evaluation): vLLM then builds its world over every process of the launch,
            # and an engine starts only when every process starts one at once (one with nothing left to generate
            # never does, and the others wait). A spawned engine starts a world of its own.
            os.environ["VLLM_WORKER_MULTIPROC_METHOD"] = "spawn"
        self.llm = LLM(
            model=model_path,
            tokenizer=model_path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            seed=seed,
            max_model_len=max_model_len,
            enable_prefix_caching=True,
        )

    def generate(
        self, prompts: list[list[int]], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        from vllm import SamplingParams

        # Consecutive copies of one prompt become one request with n samples (shared prefix, one prefill); with
        # seeds, every sample is its own request with its own seed (the n samples of one seeded request share one
        # stream, so they would depend on n), the prompt shared by prefix caching instead.
        groups: list[tuple[list[int], int, int | None]] = []
        for index, ids in enumerate(prompts):
            if seeds is None and groups and groups[-1][0] == ids:
                groups[-1] = (ids, groups[-1][1] + 1, None)
            else:
                groups.append((ids, 1, None if seeds is None else seeds[index]))
        params = [
            SamplingParams(
                n=count,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                stop_token_ids=sorted(self.eos_ids),
                seed=seed,
                detokenize=False,  # decoded by our tokenizer, as for transformers
            )
            for _, count, seed in groups
        ]
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids, _, _ in groups], sampling_params=params, use_tqdm=False
        )
        # Finished = ends with EOS, decided from the ids as for transformers: vLLM reports finish_reason "length"
        # for a response whose EOS is exactly its max_tokens-th token.
        return [
            split_at_eos(list(completion.token_ids), self.eos_ids)
            for output in outputs
            for completion in output.outputs
        ]


def resolve_backend(backend: str) -> str:
    """vLLM for `vllm`, and for `auto` when it is installed and a GPU is there; transformers otherwise."""
    if backend == "vllm" or (backend == "auto" and vllm_available() and torch.cuda.is_available()):
        return "vllm"
    return "transformers"


def make_backend(
    backend: str,
    model_path: str,
    tokenizer,
    seed: int,
    max_model_len: int,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    dtype: str,
):
    if resolve_backend(backend) == "vllm":
        return VLLMBackend(
            model_path, tokenizer, seed, max_model_len, tensor_parallel_size, gpu_memory_utilization, dtype
        )
    return TransformersBackend(model_path, tokenizer, dtype)
