"""Shared fixtures: tiny checkpoints built here (no downloads), and paths that exist only on dev machines."""

import os
from pathlib import Path

import pytest


# Before anything imports huggingface_hub, which reads these once: no test may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def build_tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """The toy tokenizer and chat template on a randomly initialised, very small Qwen2: seconds to build."""
    from thinkprune.toy import ToyModelConfig, build_model, build_tokenizer

    tokenizer = build_tokenizer(seed=seed)
    config = ToyModelConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
    )
    model = build_model(tokenizer, config, seed=seed)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_coin_flip_checkpoint(path: Path, problems_file: Path, num_problems: int = 8) -> Path:
    """A tiny model that answers every problem with \\boxed{1} or \\boxed{2} at random (gold: 1).

    A random tiny model never writes a correct boxed answer, so every GRPO reward would be 0 and nothing would be
    learned. This one earns 1 on about half of its rollouts: real reward variance for training tests.
    """
    import json

    import torch

    from thinkprune.modeling import load_model, load_tokenizer
    from thinkprune.prompts import training_messages

    build_tiny_checkpoint(path)
    tokenizer, model = load_tokenizer(str(path)), load_model(str(path))
    rows = [{"problem": f"What is {i} + {1 - i}?", "answer": "1"} for i in range(num_problems)]
    problems_file.write_text("".join(json.dumps(row) + "\n" for row in rows))
    texts = [
        tokenizer.apply_chat_template(
            training_messages(row["problem"], "plain", None), tokenize=False, add_generation_prompt=True
        )
        + f"So {answer}.\n</think>\n\nThe answer is \\boxed{{{answer}}}."
        + tokenizer.eos_token
        for row in rows
        for answer in (1, 2)
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(0)
    for _ in range(150):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def coin_flip_checkpoint(tmp_path_factory) -> tuple[Path, Path]:
    """(checkpoint, problems.jsonl): a tiny model with a 50% reward rate on its problems; copy before writing."""
    root = tmp_path_factory.mktemp("coin_flip")
    return build_coin_flip_checkpoint(root / "model", root / "problems.jsonl"), root / "problems.jsonl"


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


def budget_rows(curves: dict) -> list[dict]:
    """results.json `budgets` rows from {mode: [(budget, pass@1, mean tokens), ...]}, with made-up intervals."""
    return [
        {
            "budget": budget,
            "mode": mode,
            "pass@1": accuracy,
            "pass@1_ci": [accuracy - 0.05, accuracy + 0.05],
            "mean_tokens": tokens,
            "mean_tokens_ci": [tokens - 5, tokens + 5],
            "cut_rate": 0.5,
        }
        for mode, points in curves.items()
        for budget, accuracy, tokens in points
    ]


requires_gpu = pytest.mark.skipif(
    not (os.environ.get("CUDA_VISIBLE_DEVICES") != "" and __import__("torch").cuda.is_available()),
    reason="needs a CUDA GPU",
)
