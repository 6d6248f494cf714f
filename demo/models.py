"""Loading the compared checkpoints once, sharing them between users, and describing them for the page."""

import threading
from dataclasses import dataclass

import torch

from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.records import RoundRecord


@dataclass
class LoadedModel:
    name: str
    model: object
    tokenizer: object


def describe(name: str) -> str:
    """One Markdown line naming a checkpoint; a pruned round also says which token limit it was trained under."""
    record = RoundRecord.find(name)
    if record is not None:
        return f"round {record.round} · trained under a {record.token_limit}-token limit · `{name}`"
    return f"`{name}`"


def resolve_device(device: str, dtype: str) -> tuple[str, object]:
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        return device, torch.bfloat16 if device.startswith("cuda") else torch.float32
    return device, getattr(torch, dtype)


class ModelRegistry:
    """Checkpoints loaded on first use and kept; a failed load is retried on the next request.

    Generation only reads the weights, so concurrent requests share one copy of each model.
    """

    def __init__(self, device: str = "auto", dtype: str = "auto"):
        self.device, self.dtype = resolve_device(device, dtype)
        self._models: dict[str, LoadedModel] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> LoadedModel:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # two users asking for the same model at once load it once
            if name not in self._models:
                tokenizer = load_tokenizer(name)
                model = load_model(name, dtype=self.dtype).to(self.device).eval()
                self._models[name] = LoadedModel(name, model, tokenizer)
            return self._models[name]

    def preload(self, names: list[str]) -> dict[str, str]:
        """Load `names` now so that the first click streams at once; returns {name: error} for those that failed."""
        errors = {}
        for name in names:
            try:
                self.get(name)
            except Exception as error:  # shown in the page; the app still serves the other model
                errors[name] = f"{type(error).__name__}: {error}"
        return errors
