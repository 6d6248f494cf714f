"""Model cards written from round directories: metadata for the Hub's model tree and evals, and the card body."""

import json
import shutil

import pytest
import torch
import yaml
from hub_server import FIXTURES, make_round_dir
from huggingface_hub import ModelCard, parse_eval_result_entries
from transformers import AutoModelForCausalLM

from model_cards.generate import CURVES_FILE, main, saving, write_model_card
from thinkprune.errors import UserError


def load_card(path):
    card = ModelCard.load(path)
    return card.data.to_dict(), card.text


def test_first_round_card_metadata_and_body(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    shutil.copy(FIXTURES / "base_eval_results.json", tmp_path / "base.json")

    card_path = write_model_card(round_dir, parent_eval=tmp_path / "base.json")

    assert card_path == round_dir / "README.md"
    metadata, body = load_card(card_path)
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == "text-generation"
    assert {"thinkprune", "grpo", "trl", "reasoning"} <= set(metadata["tags"])
    assert metadata["license"] == "apache-2.0"  # the toy's license
    assert "base_model" not in metadata  # the toy base is not on the Hub
    assert metadata["thinkprune"] == {
        "round": 1,
        "token_limit": 90,
        "truncation": "zero",
        "parent": "toy",
        "lineage": ["toy"],
    }
    results = {
        (r["dataset"]["name"], m["type"]): m["value"]
        for r in metadata["model-index"][0]["results"]
        for m in r["metrics"]
    }
    assert results == {("toy", "pass@1"): 92.0, ("toy", "mean_tokens"): 61.5}

    assert "round 1" in body and "**90 tokens**" in body
    assert "| `learning_rate` | 5e-05 |" in body and "| `num_generations` | 8 |" in body
    assert f"![Training curves: reward, mean completion length and clipped ratio per step]({CURVES_FILE})" in body
    assert (round_dir / CURVES_FILE).read_bytes().startswith(b"\x89PNG")
    # This model 92% / 61.5 tokens against the base (= parent in round 1) 89% / 119 tokens: 48% shorter.
    assert "| toy | 92.0% · 62 tokens | 89.0% · 119 tokens | −48% tokens (pass@1 +3.0) |" in body
    assert "temperature=0.6" in body and "max_new_tokens=256" in body  # the evaluation's own settings
    assert "from_pretrained" in body and "hf download" not in body  # no Hub id yet
    assert "arXiv:2504.01296" in body and "Bairu" in body and "Shiyu" in body
    assert "HUB_TOKEN" not in card_path.read_text()
    assert not [p for p in round_dir.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_chained_round_links_to_pushed_parent(tmp_path, tiny_checkpoint):
    r1 = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    write_model_card(r1, repo_id="alice/toy-thinkprune-90")  # what a push leaves in the parent directory
    recipe = json.loads((FIXTURES / "round_record.json").read_text())["recipe"] | {"model_name_or_path": str(r1)}
    r2 = make_round_dir(
        tmp_path / "r2",
        tiny_checkpoint,
        round=2,
        token_limit=60,
        parent=str(r1),
        lineage=["toy", str(r1)],
        recipe=recipe,
    )
    shutil.copy(FIXTURES / "base_eval_results.json", tmp_path / "base.json")

    metadata, body = load_card(
        write_model_card(r2, base_eval=tmp_path / "base.json", repo_id="alice/toy-iter60", revision="round-2")
    )

    assert metadata["base_model"] == "alice/toy-thinkprune-90"
    assert metadata["base_model_relation"] == "finetune"
    assert metadata["license"] == "apache-2.0"
    assert metadata["thinkprune"]["lineage"] == ["toy", "alice/toy-thinkprune-90"]
    assert metadata["thinkprune"]["repo_id"] == "alice/toy-iter60"
    parent_link = "[`alice/toy-thinkprune-90`](https://huggingface.co/alice/toy-thinkprune-90)"
    assert f"**Chain:** `toy` → {parent_link} (90) → **this model (60)**" in body
    assert f"starting from {parent_link}" in body
    # The parent's evaluation is found in its directory; both comparisons are shown.
    assert "| Benchmark | This model | Parent | Base | Length vs parent | Length vs base |" in body
    assert "hf download alice/toy-iter60 --revision round-2" in body
    assert 'from_pretrained(model_id, revision="round-2"' in body
    assert "| `model_name_or_path` | alice/toy-thinkprune-90 |" in body
    assert str(tmp_path) not in body.split("<details>")[0]  # local paths stay out of the card's prose

    # Written again with the round's evaluation, as the card's own instructions say: still under its Hub id.
    metadata, body = load_card(write_model_card(r2, base_eval=tmp_path / "base.json"))
    assert (metadata["thinkprune"]["repo_id"], metadata["thinkprune"]["revision"]) == ("alice/toy-iter60", "round-2")
    assert "hf download alice/toy-iter60 --revision round-2" in body


def test_hub_base_model_is_linked_and_dataset_listed(tmp_path, tiny_checkpoint, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # the base's license cannot be looked up
    base = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    round_dir = make_round_dir(
        tmp_path / "r1",
        tiny_checkpoint,
        with_eval=False,
        token_limit=4000,
        parent=base,
        base_model=base,
        lineage=[base],
        dataset={"name": "PRIME-RL/Eurus-2-RL-Data", "num_prompts": 2456},
    )

    metadata, body = load_card(write_model_card(round_dir))

    assert metadata["base_model"] == base
    assert metadata["datasets"] == ["PRIME-RL/Eurus-2-RL-Data"]
    assert "model-index" not in metadata
    assert "license" not in metadata  # unknown rather than guessed
    assert "No evaluation results" in body
    assert "-thinkprune-4k" in body


def test_card_without_trainer_log_has_no_curves(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    (round_dir / "trainer_log.json").unlink()

    _, body = load_card(write_model_card(round_dir))

    assert not (round_dir / CURVES_FILE).exists()
    assert CURVES_FILE not in body


def test_unfinished_or_broken_rounds_are_refused(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    (round_dir / "round_record.json").unlink()
    with pytest.raises(UserError, match="not a finished ThinkPrune round"):
        write_model_card(round_dir)
    (round_dir / "round_record.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        write_model_card(round_dir)
    (round_dir / "round_record.json").write_text(json.dumps({"format": "thinkprune-round/1", "round": 1}))
    with pytest.raises(UserError, match="lacks token_limit"):
        write_model_card(round_dir)
    assert not (round_dir / "README.md").exists()


def test_broken_trainer_log_is_a_user_error(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    (round_dir / "trainer_log.json").write_text('[{"step": 1, "reward"')
    with pytest.raises(UserError, match="trainer_log.json is not valid JSON"):
        write_model_card(round_dir)
    assert not (round_dir / "README.md").exists()


def test_missing_eval_path_is_a_user_error(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    with pytest.raises(UserError, match="no evaluation results"):
        write_model_card(round_dir, parent_eval=tmp_path / "nowhere")


def test_cli_writes_the_card(tmp_path, tiny_checkpoint, capsys):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    path = main([str(round_dir), "--repo_id", "alice/toy-thinkprune-90"])
    assert "Wrote" in capsys.readouterr().out
    assert "hf download alice/toy-thinkprune-90" in path.read_text()


def test_eval_results_files_cite_the_benchmarks_hub_datasets(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    write_model_card(round_dir, eval_results=FIXTURES / "r1_eval_results.json")
    folder = round_dir / ".eval_results"
    assert sorted(path.name for path in folder.iterdir()) == ["aime24.yaml", "olympiadbench.yaml"]
    (aime,) = parse_eval_result_entries(yaml.safe_load((folder / "aime24.yaml").read_text()))
    assert (aime.dataset_id, aime.task_id, aime.value) == ("HuggingFaceH4/aime_2024", "default", 26.7)
    assert "64 samples per problem" in aime.notes and "temperature 0.6" in aime.notes
    (olympiad,) = parse_eval_result_entries(yaml.safe_load((folder / "olympiadbench.yaml").read_text()))
    assert (olympiad.dataset_id, olympiad.task_id) == ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP")
    metadata, _ = load_card(round_dir / "README.md")
    assert {result["dataset"]["type"] for result in metadata["model-index"][0]["results"]} == {
        "HuggingFaceH4/aime_2024",
        "Hothan/OlympiadBench",
    }

    write_model_card(round_dir)  # the toy evaluation has no Hub dataset: no entry, and stale ones go
    assert not list(folder.iterdir())


def test_usage_snippet_loads_the_trained_tokenizer_json(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    _, body = load_card(write_model_card(round_dir))
    snippet = body.split("```python\n", 1)[1].split("```", 1)[0]
    assert (
        "PreTrainedTokenizerFast.from_pretrained(model_id)" in snippet
        and "AutoTokenizer.from_pretrained" not in snippet
    )
    namespace = {}
    exec(snippet.split("outputs = model.generate")[0], namespace)  # loads the round as a user would
    assert namespace["inputs"]["input_ids"].shape[0] == 1


def test_usage_snippet_runs_a_bf16_round_in_float32_on_cpu(tmp_path, tiny_checkpoint):
    """R1-Distill rounds are bf16: the snippet at dtype "auto" with no device put them on the CPU in bf16 on any
    machine, GPU or not. On a CPU it computes float32 (as the evaluation does), its inputs where the model is."""
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)
    AutoModelForCausalLM.from_pretrained(round_dir).to(torch.bfloat16).save_pretrained(round_dir)
    _, body = load_card(write_model_card(round_dir))
    snippet = body.split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(snippet.split("outputs = model.generate")[0], namespace)
    model, inputs = namespace["model"], namespace["inputs"]
    assert not torch.cuda.is_available() or model.device.type == "cuda"
    assert torch.cuda.is_available() or model.dtype == torch.float32
    assert inputs["input_ids"].device == model.device


def test_card_shows_the_budget_baselines_of_the_base(tmp_path, tiny_checkpoint):
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint)  # this model: 92.0% at 61.5 tokens
    _, without = load_card(write_model_card(round_dir, parent_eval=FIXTURES / "base_eval_results.json"))
    assert "Budget baselines" not in without

    base = json.loads((FIXTURES / "base_eval_results.json").read_text())
    base["benchmarks"]["toy"]["budgets"] = [
        {"budget": budget, "mode": mode, "pass@1": accuracy, "mean_tokens": tokens}
        for budget, mode, accuracy, tokens in [
            (40, "truncate", 0.50, 40.0),
            (80, "truncate", 0.90, 75.0),
            (40, "force", 0.30, 55.0),
            (80, "force", 0.70, 95.0),
        ]
    ]
    (tmp_path / "base.json").write_text(json.dumps(base))

    _, body = load_card(write_model_card(round_dir, parent_eval=tmp_path / "base.json"))

    assert "### Budget baselines" in body
    assert "| toy | base | 40 | 50.0% · 40 tokens | 30.0% · 55 tokens |" in body
    assert "| toy | base | 80 | 90.0% · 75 tokens | 70.0% · 95 tokens |" in body
    # 61.5 tokens: truncated 0.5 + 0.4 * 21.5 / 35, forced 0.3 + 0.4 * 6.5 / 40.
    truncated, forced = 0.5 + 0.4 * 21.5 / 35, 0.3 + 0.4 * 6.5 / 40
    assert (
        f"- toy: this model 92.0% at 62 tokens; the base at 62 tokens: truncated {100 * truncated:.1f}%, "
        f"budget-forced {100 * forced:.1f}%" in body
    )


def test_difficulty_aware_limits_are_stated_under_the_training_data(tmp_path, tiny_checkpoint):
    difficulty = {
        "rule": "min_limit + (token_limit - min_limit) x (1 - parent's solve rate)",
        "min_limit": 66,
        "num_samples": 4,
        "mean_solve_rate": 0.62,
        "limits": {"min": 66, "mean": 75.4, "max": 90},
        "measure_seconds": 41.0,
    }
    round_dir = make_round_dir(tmp_path / "r1", tiny_checkpoint, difficulty=difficulty)
    _, body = load_card(write_model_card(round_dir))
    assert (
        "Difficulty-aware limits: every training problem had its own limit, 66 + (90 − 66) × (1 − the parent's "
        "solve rate over 4 samples), from 66 to 90 tokens (mean 75; the parent's mean solve rate 62.0%)"
    ) in body
    assert "How this limit was chosen" not in body  # a round of a fixed schedule

    _, plain = load_card(write_model_card(make_round_dir(tmp_path / "plain", tiny_checkpoint)))
    assert "Difficulty-aware" not in plain


def test_the_solved_problem_filter_and_dynamic_sampling_are_stated(tmp_path, tiny_checkpoint):
    problem_filter = {
        "rule": "dropped the problems whose samples by the parent, under the round's limit, all earned 0 or all 1",
        "num_samples": 4,
        "num_problems": 160,
        "num_never_solved": 3,
        "num_always_solved": 121,
        "num_kept": 36,
        "measure_seconds": 26.0,
    }
    dynamic_sampling = {
        "max_rounds": 3,
        "generation_rounds": 70,
        "groups_generated": 280,
        "groups_kept": 150,
        "groups_padded": 10,
        "extra_generation_seconds": 41.5,
    }
    round_dir = make_round_dir(
        tmp_path / "r1", tiny_checkpoint, problem_filter=problem_filter, dynamic_sampling=dynamic_sampling
    )
    _, body = load_card(write_model_card(round_dir))
    assert "the 121 it always solved and the 3 it never solved were dropped" in body
    assert "leaving 36 of 160" in body
    assert "280 groups generated in 70 rounds, 150 of the 160 trained on had varied rewards" in body
    assert "41.5 s in extra rounds" in body

    _, plain = load_card(write_model_card(make_round_dir(tmp_path / "plain", tiny_checkpoint)))
    assert "Solved-problem filter" not in plain and "Dynamic sampling" not in plain


def test_the_cards_accuracy_change_is_printed_as_every_report_prints_it():
    # 0.9225 - 0.83 is 0.09250000000000003 in floats: printed plainly it read +9.3 where the study's tables read +9.2.
    assert saving({"pass@1": 0.9225, "mean_tokens": 119.8}, {"pass@1": 0.83, "mean_tokens": 310.4}) == (
        "−61% tokens (pass@1 +9.2)"
    )
