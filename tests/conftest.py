"""Shared fixtures: tiny checkpoints built here (no downloads), and paths that exist only on dev machines."""

import os
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def build_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """The toy tokenizer and chat template on a randomly initialised, very small Qwen2: seconds to build."""
    from train.toy import ToyModelConfig, build_model, build_tokenizer

    tokenizer = build_tokenizer(seed=seed)
    config = ToyModelConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                            num_key_value_heads=1, max_position_embeddings=512)
    model = build_model(tokenizer, config, seed=seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A read-only tiny checkpoint shared by the session; copy it before writing into it."""
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep tests away from the user's caches and from the network."""
    monkeypatch.setenv("THINKPRUNE_HOME", str(tmp_path_factory.getbasetemp() / "thinkprune_home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def shared_data() -> Path:
    """The offline benchmark copies of ../shared/data; tests that need them skip where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available on this machine")
    return SHARED_DATA


requires_gpu = pytest.mark.skipif(
    not (os.environ.get("CUDA_VISIBLE_DEVICES") != "" and __import__("torch").cuda.is_available()),
    reason="needs a CUDA GPU",
)
