"""scripts/dry_run.py: the R1-style stand-in checkpoint, and one step of the faithful recipe at a short limit."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from scripts.dry_run import (
    ASSISTANT_TOKEN,
    BOS_TOKEN,
    EOS_TOKEN,
    PROBLEMS,
    TINY,
    USER_TOKEN,
    main,
    recipe_values,
    write_stand_ins,
)
from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.prompts import training_messages
from train.round import parse_args


REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_stand_in_has_r1_distill_tokens_template_and_architecture(tmp_path):
    checkpoint, problems = write_stand_ins(tmp_path, seed=0)
    tokenizer, model = load_tokenizer(str(checkpoint)), load_model(str(checkpoint))
    for token in (BOS_TOKEN, EOS_TOKEN, USER_TOKEN, ASSISTANT_TOKEN, "<think>", "</think>"):
        assert len(tokenizer(token, add_special_tokens=False)["input_ids"]) == 1, token
    assert (tokenizer.eos_token, tokenizer.bos_token, tokenizer.pad_token) == (EOS_TOKEN, BOS_TOKEN, EOS_TOKEN)

    conversation = training_messages("What is $2+3$?", "r1_distill", 4000)
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    assert text.startswith(BOS_TOKEN + "A conversation between User and Assistant.")
    assert "within 4000 tokens." + USER_TOKEN + "What is $2+3$?" in text
    assert text.endswith(ASSISTANT_TOKEN + "<think>\n")
    # A past assistant turn keeps only its answer, as R1-Distill's own template does.
    history = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>\nhmm\n</think> 5"}]
    assert tokenizer.apply_chat_template(history, tokenize=False).endswith(ASSISTANT_TOKEN + " 5" + EOS_TOKEN)

    assert type(model).__name__ == "Qwen2ForCausalLM" and model.config.max_position_embeddings >= 768 + 4000
    assert not model.config.tie_word_embeddings
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    rows = [json.loads(line) for line in problems.read_text().splitlines()]
    assert rows == [{"problem": problem, "answer": answer} for problem, answer in PROBLEMS]


def test_the_full_size_stand_in_is_a_bf16_checkpoint_as_r1_distill_ships(tmp_path, monkeypatch):
    """The GPU check's stand-in: its evaluation backends read the checkpoint's dtype alike only when it is bf16 (vLLM
    casts a float32 one down to bf16 under dtype auto). R1-Distill's shapes shrunk, so that it runs here."""
    monkeypatch.setattr("scripts.dry_run.R1_DISTILL_QWEN_1_5B", dict(vocab_size=512, **TINY))
    checkpoint, _ = write_stand_ins(tmp_path, seed=0, full_size=True)
    assert json.loads((checkpoint / "config.json").read_text())["dtype"] == "bfloat16"
    assert {tensor.dtype for tensor in load_file(checkpoint / "model.safetensors").values()} == {torch.bfloat16}
    (tmp_path / "tiny").mkdir()
    tiny, _ = write_stand_ins(tmp_path / "tiny", seed=0)
    assert json.loads((tiny / "config.json").read_text())["dtype"] == "float32"


@pytest.mark.parametrize("recipe", ["thinkprune.yaml", "thinkprune_beyond_paper.yaml", "thinkprune_vllm_server.yaml"])
def test_r1_recipes_keep_the_official_entropy_bonus(recipe):
    values = recipe_values(str(REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / recipe))
    assert values["entropy_coef"] == 0.001


def test_the_dler_like_recipe_has_dlers_values():
    """recipes/DeepSeek-R1-Distill-Qwen-1.5B/dler_like.yaml against NVlabs/DLER verl-dler/dler.sh (commit 498b8ed)."""
    recipe = str(REPO_ROOT / "recipes" / "DeepSeek-R1-Distill-Qwen-1.5B" / "dler_like.yaml")
    values = recipe_values(recipe)
    assert (values["token_limit"], values["truncation"], values["num_generations"]) == (4000, "zero", 16)
    assert (values["rollouts_per_step_on_8_gpus"], values["prompts_per_step_on_8_gpus"]) == (1024, 64)
    assert (values["learning_rate"], values["entropy_coef"]) == (1e-6, 0.0)
    args, training_args = parse_args(["--config", recipe, "--use_cpu", "true", "--bf16", "false"])
    assert args.dynamic_sampling and args.max_prompt_length == 1024
    assert training_args.generation_batch_size == 256 * 16  # one generation feeds 4 optimizer steps
    assert (training_args.scale_rewards, training_args.epsilon, training_args.epsilon_high) == ("batch", 0.2, 0.28)
    assert (training_args.beta, training_args.loss_type, training_args.weight_decay) == (0.0005, "dapo", 0.01)


@pytest.mark.slow
def test_one_step_of_the_dler_like_recipe_runs_with_dynamic_sampling(tmp_path):
    """All rollouts are cut at the limit, so every group's rewards are equal: every generation round runs."""
    output = tmp_path / "dler.json"
    recipe = "recipes/DeepSeek-R1-Distill-Qwen-1.5B/dler_like.yaml"
    command = ["scripts/dry_run.py", "--config", recipe, "--token_limit", "16", "--threads", "1", "--output"]
    result = subprocess.run(
        [sys.executable, *command, str(output)], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    dry_run = json.loads(output.read_text())["dry_run"]
    assert (dry_run["prompts_per_step"], dry_run["rollouts_per_step"], dry_run["global_step"]) == (1, 16, 1)
    sampling = dry_run["dynamic_sampling"]
    assert (sampling["generation_rounds"], sampling["groups_generated"], sampling["groups_padded"]) == (3, 3, 1)


def test_missing_recipe_is_a_one_line_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--config", "recipes/nope.yaml"])
    assert exit_.value.code == 2
    assert "error: recipe file recipes/nope.yaml does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_one_step_of_the_faithful_recipe_is_reported(tmp_path):
    output = tmp_path / "dry_run" / "cpu.json"
    result = subprocess.run(
        [sys.executable, "scripts/dry_run.py", "--token_limit", "64", "--threads", "1", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    assert '"format": "thinkprune-dry-run/1"' in result.stdout

    recipe = report["recipe"]
    assert (recipe["token_limit"], recipe["max_prompt_length"], recipe["num_generations"]) == (4000, 768, 16)
    assert (recipe["rollouts_per_step_on_8_gpus"], recipe["prompts_per_step_on_8_gpus"]) == (2048, 128)
    assert (recipe["prompt_template"], recipe["truncation"], recipe["use_vllm"]) == ("r1_distill", "zero", True)

    dry_run = report["dry_run"]
    assert (dry_run["token_limit"], dry_run["max_prompt_length"], dry_run["num_generations"]) == (64, 768, 16)
    assert (dry_run["prompts_per_step"], dry_run["rollouts_per_step"], dry_run["global_step"]) == (1, 16, 1)
    assert dry_run["first_prompt"].startswith(BOS_TOKEN + "A conversation between User and Assistant.")
    assert (
        "The output of the assistant should be within 64 tokens." + USER_TOKEN + PROBLEMS[0][0]
        in dry_run["first_prompt"]
    )
    assert dry_run["first_prompt"].endswith(ASSISTANT_TOKEN + "<think>\n")
    assert 0 < dry_run["first_prompt_tokens"] <= 768
    assert dry_run["dataset"]["num_prompts"] == len(PROBLEMS) and dry_run["dataset"]["num_dropped_too_long"] == 0
    assert dry_run["model_card_written"]

    measured = report["measured"]
    # Every rollout ran to the limit: 16 x 64 tokens, all cut, so the paper's `zero` rule gave no reward.
    assert (measured["tokens_generated"], measured["clipped_ratio"], measured["reward"]) == (16 * 64, 1.0, 0.0)
    assert measured["peak_rss_mb"] >= measured["peak_rss_before_round_mb"] > 0
    assert 0 < measured["step_seconds"] <= measured["train_seconds"] <= measured["round_seconds"]
    assert report["machine"]["torch_threads"] == 1
