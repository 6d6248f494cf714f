"""Generation backends: vLLM when installed (GPU), batched transformers `generate` otherwise.

Used by the evaluation harness (eval/) and by the automatic schedule's measurements (train/auto.py). Both backends
take prompts as token ids (rendered once, with the model's chat template exactly as training does) and return, for
every prompt, the generated ids and whether generation ended with EOS. Text is decoded here, by the same tokenizer,
for both backends; token counts are the number of generated ids, EOS included (as trl counts completion lengths).
"""

import importlib.util
from dataclasses import dataclass

import torch
from transformers import GenerationConfig

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


def decode_ids(tokenizer, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True)


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None


class TransformersBackend:
    """Batched `model.generate` with left padding; one prompt row per sample (repeat a prompt for n samples)."""

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

    def generate_kwargs(self, sampling: Sampling) -> dict:
        # Explicit values: a checkpoint's generation_config (top_k, repetition_penalty...) must not change the
        # protocol, and vLLM applies none of them either.
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

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        input_ids, attention_mask = self.pad_left(prompts)
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids, attention_mask=attention_mask, **self.generate_kwargs(sampling)
            )
        new_ids = output[:, input_ids.shape[1] :].tolist()
        return [split_at_eos(ids, self.eos_ids) for ids in new_ids]


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

    def generate(self, prompts: list[list[int]], sampling: Sampling) -> list[Generation]:
        from vllm import SamplingParams

        # Consecutive copies of one prompt become one request with n samples (shared prefix, one prefill).
        groups: list[tuple[list[int], int]] = []
        for ids in prompts:
            if groups and groups[-1][0] == ids:
                groups[-1] = (ids, groups[-1][1] + 1)
            else:
                groups.append((ids, 1))
        params = [
            SamplingParams(
                n=count,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                stop_token_ids=sorted(self.eos_ids),
                detokenize=False,  # decoded by our tokenizer, as for transformers
            )
            for _, count in groups
        ]
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids, _ in groups], sampling_params=params, use_tqdm=False
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
