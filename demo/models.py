"""Loading the compared checkpoints once, sharing them between users, and describing them for the page."""

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import get_safetensors_metadata
from safetensors import safe_open
from transformers import AutoConfig

from eval.results import RESULTS_FILE, load_results
from thinkprune.errors import UserError
from thinkprune.hub import pushed_repo_id
from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.records import RoundRecord
from thinkprune.toy import resolve_model_name


@dataclass
class LoadedModel:
    name: str
    model: object
    tokenizer: object


def display_name(name: str) -> str:
    """How the page names a checkpoint: a Hub id or `toy` as given; a local round by the Hub id it was pushed to;
    another local checkpoint by its path from the working directory, or its folder's name outside it. Never an
    absolute path: the page is shown to others (a Space, a screenshot), the machine's folders are not theirs."""
    path = Path(name).expanduser()
    if not path.is_dir():
        return name
    path, here = path.resolve(), Path.cwd().resolve()
    if repo_id := pushed_repo_id(path):
        return repo_id
    return str(path.relative_to(here)) if path.is_relative_to(here) else path.name


def describe(name: str) -> str:
    """One Markdown line naming a checkpoint; a pruned round also says which token limit it was trained under."""
    record = RoundRecord.find(name)
    if record is not None:
        return f"round {record.round} · trained under a {record.token_limit}-token limit · `{display_name(name)}`"
    return f"`{display_name(name)}`"


def typical_tokens(name: str | None) -> int | None:
    """How many tokens a pruned round typically writes, to budget-force the original at: the mean over the
    benchmarks of its evaluation (`<round>/eval/results.json`, as pushed), else the mean completion length of its
    last training steps, else its training limit; None for a checkpoint with no record (a Hub id)."""
    if not name:
        return None
    results_file = Path(name) / "eval" / RESULTS_FILE
    if results_file.is_file():
        benchmarks = load_results(results_file)["benchmarks"].values()
        return round(sum(b["mean_tokens"] for b in benchmarks) / len(benchmarks))
    record = RoundRecord.find(name) if Path(name).is_dir() else None
    if record is None:
        return None
    return round(record.train_metrics.get("completions/mean_length") or record.token_limit)


def resolve_device(device: str) -> str:
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def checkpoint_dtype(name: str) -> torch.dtype | None:
    """The dtype a checkpoint's config declares (R1-Distill: bfloat16), or None when it cannot be read."""
    try:
        dtype = AutoConfig.from_pretrained(resolve_model_name(name)).dtype
    except (OSError, ValueError):
        return None
    return getattr(torch, dtype) if isinstance(dtype, str) else dtype


def checkpoint_parameters(name: str) -> int | None:
    """Parameters of a checkpoint from its safetensors headers (local files or Hub metadata), without loading it."""
    path = Path(resolve_model_name(name))
    try:
        if path.is_dir():
            total = 0
            for file in path.glob("*.safetensors"):
                with safe_open(file, framework="pt") as weights:
                    total += sum(math.prod(weights.get_slice(key).get_shape()) for key in weights.keys())
            return total or None
        return sum(get_safetensors_metadata(name).parameter_count.values())
    except Exception:  # no safetensors, offline, gated...: the memory check is skipped, loading will tell
        return None


def available_memory_bytes(device: str) -> int:
    """Memory this process may put weights in: a GPU's free memory, else the machine's, or its container's limit
    when lower (a Space's cgroup)."""
    if device.startswith("cuda"):
        return torch.cuda.mem_get_info(torch.device(device))[0]
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.is_file() and limit.read_text().strip().isdigit():
        total = min(total, int(limit.read_text()))
    return total


class ModelRegistry:
    """Checkpoints loaded on first use and kept; a failed load is retried on the next request.

    Generation only reads the weights, so concurrent requests share one copy of each model.
    """

    def __init__(self, device: str = "auto", dtype: str = "auto"):
        self.device, self.dtype = resolve_device(device), dtype
        self._models: dict[str, LoadedModel] = {}
        # One load at a time, whichever the model: transformers builds a model on the meta device by patching torch
        # process-wide, and two panes loading at once left later models' weights on meta ("Cannot copy out of meta
        # tensor"). Also makes two users asking for the same model load it once.
        self._loading = threading.Lock()

    def get(self, name: str) -> LoadedModel:
        if name in self._models:
            return self._models[name]
        with self._loading:
            if name not in self._models:
                tokenizer = load_tokenizer(name)
                model = load_model(name, dtype=self.dtype_for(name)).to(self.device).eval()
                self._models[name] = LoadedModel(name, model, tokenizer)
            return self._models[name]

    def dtype_for(self, name: str) -> torch.dtype:
        """bfloat16 on GPU; on CPU a half-precision checkpoint in bfloat16 (half the memory of float32, and CPUs
        compute it), anything else in float32."""
        if self.dtype != "auto":
            return getattr(torch, self.dtype)
        if self.device.startswith("cuda") or checkpoint_dtype(name) in (torch.bfloat16, torch.float16):
            return torch.bfloat16
        return torch.float32

    def check_memory(self, names: list[str]) -> None:
        """Refuse, before loading anything, models that cannot fit in this machine's (or its GPU's) memory together:
        the rest of it is the generation's (activations, the cache of every pane's tokens)."""
        if not self.device.startswith(("cpu", "cuda")):
            return
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"--device {self.device}, but torch sees no CUDA GPU here: use --device auto or cpu")
        needed = 0
        for name in dict.fromkeys(names):
            parameters = checkpoint_parameters(name)
            needed += parameters * self.dtype_for(name).itemsize if parameters else 0
        available = available_memory_bytes(self.device)
        if needed > 0.85 * available:
            where, remedy = (
                ("this GPU has", "a GPU with more memory")
                if self.device.startswith("cuda")
                else ("this machine has", "a Space hardware with more memory or a GPU (ZeroGPU)")
            )
            raise UserError(
                f"the {len(set(names))} models need about {needed / 2**30:.1f} GiB of weights and {where} "
                f"{available / 2**30:.1f} GiB free: pick {remedy}, serve fewer rounds (--pruned), or use smaller "
                "models"
            )

    def preload(self, names: list[str]) -> dict[str, str]:
        """Load `names` now so that the first click streams at once; returns {name: error} for those that failed."""
        errors = {}
        for name in names:
            try:
                self.get(name)
            except Exception as error:  # shown in the page; the app still serves the other model
                errors[name] = f"{type(error).__name__}: {error}"
        return errors
