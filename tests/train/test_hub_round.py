"""`accelerate launch train/round.py ... --push_to_hub`: a real (2-step, tiny) round published to the local Hub."""

import json
import os
import subprocess
import sys

import pytest
import torch
from hub_server import FIXTURES
from huggingface_hub import ModelCard, snapshot_download

from thinkprune.modeling import load_model


pytest_plugins = ["hub_server"]

REPO_ROOT = FIXTURES.parents[2]


@pytest.mark.slow
def test_trained_round_is_pushed_with_its_card(local_hub, coin_flip_checkpoint, tmp_path):
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--cpu",
        str(REPO_ROOT / "train" / "round.py"),
        "--config", str(REPO_ROOT / "recipes" / "toy" / "round.yaml"),
        "--model_name_or_path", str(model), "--dataset_name", str(problems), "--token_limit", "24",
        "--max_prompt_length", "64", "--max_steps", "2", "--num_generations", "4",
        "--per_device_train_batch_size", "8", "--logging_steps", "1", "--output_dir", str(output_dir),
        "--push_to_hub", "true", "--hub_model_id", "toy-round-1", "--hub_private_repo", "true",
    ]  # fmt: skip
    # The subprocess finds the local Hub through HF_ENDPOINT (set by the fixture) and alice's token in HF_TOKEN.
    result = subprocess.run(
        command, cwd=REPO_ROOT, env={**os.environ, "HF_HUB_OFFLINE": "0"}, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert local_hub.token not in result.stdout + result.stderr

    repo_id = "alice/toy-round-1"
    assert local_hub.repos[repo_id].private
    assert local_hub.count("commit") == 1
    pushed = local_hub.files(repo_id)
    assert pushed["README.md"] == (output_dir / "README.md").read_bytes()  # our card, not trl's
    assert pushed["model.safetensors"] == (output_dir / "model.safetensors").read_bytes()
    record = json.loads(pushed["round_record.json"])
    assert record["global_step"] == 2 and "hub_token" not in record["recipe"]

    card = ModelCard.load(repo_id)
    assert card.data.thinkprune["repo_id"] == repo_id and card.data.thinkprune["token_limit"] == 24
    assert "![Training curves" in card.text and "training_curves.png" in pushed

    downloaded = snapshot_download(repo_id, cache_dir=tmp_path / "downloads")
    local, remote = load_model(str(output_dir)).state_dict(), load_model(downloaded).state_dict()
    assert local.keys() == remote.keys() and all(torch.equal(local[key], remote[key]) for key in local)


@pytest.mark.slow
def test_a_round_whose_push_failed_is_published_by_the_same_command_without_training_again(
    local_hub, coin_flip_checkpoint, tmp_path
):
    model, problems = coin_flip_checkpoint
    output_dir = tmp_path / "round1"
    # The plain command, as a user re-runs it: no --resume_from_checkpoint.
    command = [
        sys.executable, str(REPO_ROOT / "train" / "round.py"),
        "--config", str(REPO_ROOT / "recipes" / "toy" / "round.yaml"),
        "--model_name_or_path", str(model), "--dataset_name", str(problems), "--token_limit", "24",
        "--max_prompt_length", "64", "--max_steps", "2", "--num_generations", "4",
        "--per_device_train_batch_size", "8", "--logging_steps", "1", "--output_dir", str(output_dir),
        "--push_to_hub", "true", "--hub_model_id", "toy-round-1",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    local_hub.fail_next("commit")  # the connection drops while committing
    failed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 2 and "nothing was committed" in failed.stderr.strip().splitlines()[-1]
    assert not (output_dir / "round_record.json").exists()  # not published, so not finished
    weights = (output_dir / "model.safetensors").read_bytes()

    again = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "was trained earlier" in again.stderr  # published, not trained again
    assert "train_runtime" not in again.stdout + again.stderr and "train_runtime" in failed.stdout + failed.stderr
    assert (output_dir / "model.safetensors").read_bytes() == weights
    assert json.loads(local_hub.files("alice/toy-round-1")["round_record.json"])["global_step"] == 2
    assert (output_dir / "round_record.json").exists()
