"""Budget baselines: truncate scoring from the stored ids, budget forcing with a fake backend, the results table,
resume and rescore, and the one-line errors. One slow test runs `evaluate.py --budgets` on the real toy."""

import json

import pytest
from test_evaluate import ScriptedBackend, read_lines, toy_config

from eval.budgets import Forcing, evaluate_budgets, force_outcome, parse_budgets, parse_modes, truncate_outcome
from eval.evaluate import EvalConfig, evaluate, main
from thinkprune.budget import FORCE_LEAD_IN
from thinkprune.errors import UserError
from thinkprune.generation import split_at_eos
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import eval_prompt_ids
from thinkprune.toy import TOY_ANSWER_LEAD, TOY_MAX_NEW_TOKENS, make_completion, parse_operands


class AnsweringBackend(ScriptedBackend):
    """The scripted toy for full responses; after a forcing lead-in (an open box), it writes the right sum and ends,
    as a model that reads its own thinking would. Records the prompts it was given."""

    def __init__(self, tokenizer):
        super().__init__(tokenizer)
        self.inputs = []

    def completion_ids(self, prompt_ids, max_new_tokens):
        text = self.tokenizer.decode(prompt_ids)
        if not text.endswith("\\boxed{"):
            return super().completion_ids(prompt_ids, max_new_tokens)
        self.inputs.append(prompt_ids)
        total = sum(parse_operands(text.split("<|User|>")[1].split("?")[0] + "?"))
        ids = self.tokenizer(f"{total}}}.", add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        return split_at_eos(ids[:max_new_tokens], {self.tokenizer.eos_token_id})


@pytest.fixture
def tokenizer(tiny_checkpoint):
    return load_tokenizer(str(tiny_checkpoint))


def rows_of(results, mode):
    return {row["budget"]: row for row in results["benchmarks"]["toy"]["budgets"] if row["mode"] == mode}


# -- one response at one budget ----------------------------------------------------------------------------------------


def test_truncate_outcome_grades_the_cut_text(tokenizer):
    completion = make_completion((57, 68), 2)  # boxes 125 after the first pass, then re-checks
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    sample = {"problem_index": 0, "token_ids": ids, "answer": "125", "correct": True, "finished": True}
    first_box = len(tokenizer(completion[: completion.index("}.") + 2], add_special_tokens=False)["input_ids"])
    before, after = (truncate_outcome(sample, budget, tokenizer.decode) for budget in (first_box - 2, first_box))
    assert (before["correct"], before["num_tokens"], before["cut"]) == (False, first_box - 2, True)
    assert (after["correct"], after["num_tokens"], after["cut"]) == (True, first_box, True)
    whole = truncate_outcome(sample, len(ids), tokenizer.decode)
    assert (whole["correct"], whole["num_tokens"], whole["cut"]) == (True, len(ids), False)
    # A whole response keeps the run's verdict as stored: the full budget reproduces the run exactly.
    assert truncate_outcome(dict(sample, correct=False), len(ids), tokenizer.decode)["correct"] is False


def test_force_outcome_counts_the_budget_the_lead_in_and_the_answer(tokenizer):
    ids = tokenizer(make_completion((57, 68), 3), add_special_tokens=False)["input_ids"]
    sample = {"problem_index": 0, "token_ids": ids, "answer": "125", "correct": False, "finished": False}
    forced = tokenizer(TOY_ANSWER_LEAD + "125}.", add_special_tokens=False)["input_ids"]
    outcome = force_outcome(sample, 20, {"forced_ids": forced}, tokenizer.decode)
    assert (outcome["correct"], outcome["num_tokens"], outcome["cut"]) == (True, 20 + len(forced), True)
    natural = force_outcome(sample, 20, None, tokenizer.decode)
    assert (natural["correct"], natural["num_tokens"], natural["cut"]) == (False, len(ids), False)


def test_parse_budgets_and_modes():
    assert parse_budgets("200, 60,100,60") == [60, 100, 200]
    assert parse_budgets([4000, 2000]) == [2000, 4000]
    assert parse_modes("force,truncate") == ["truncate", "force"] and parse_modes("force") == ["force"]
    for bad in ("", "0,10", "2k"):
        with pytest.raises(UserError, match="budgets must be positive token counts"):
            parse_budgets(bad)
    with pytest.raises(UserError, match="budget_modes"):
        parse_modes("truncate,greedy")


# -- a whole run -------------------------------------------------------------------------------------------------------


def test_truncate_at_the_full_budget_is_the_run_exactly(tiny_checkpoint, tokenizer, tmp_path):
    # max_new_tokens 70 cuts the responses with more re-checks: the run has finished and unfinished samples.
    config = toy_config(tiny_checkpoint, tmp_path, max_new_tokens=70, budgets="30,50,70", budget_modes="truncate")
    results = evaluate(config, backend=ScriptedBackend(tokenizer))
    metrics, full = results["benchmarks"]["toy"], rows_of(results, "truncate")[70]
    assert 0 < metrics["truncation_rate"] < 1
    for key in ("pass@1", "pass@1_ci", "mean_tokens", "mean_tokens_ci"):
        assert full[key] == metrics[key]  # exactly, not approximately
    assert full["cut_rate"] == metrics["truncation_rate"]
    samples = read_lines(tmp_path / "samples.jsonl")
    assert all(len(s["token_ids"]) == s["num_tokens"] for s in samples)
    short = rows_of(results, "truncate")[30]
    assert short["mean_tokens"] == 30 and short["pass@1"] == 0  # 30 tokens hold no box yet
    assert not (tmp_path / "budgets.jsonl").exists()  # truncate generates nothing
    markdown = (tmp_path / "results.md").read_text()
    assert "## Budget baselines" in markdown and "| toy | 70 | truncate |" in markdown


def test_force_generates_one_short_answer_per_unfinished_sample(tiny_checkpoint, tokenizer, tmp_path):
    config = toy_config(tiny_checkpoint, tmp_path, budgets="30,60", force_answer_tokens=8)
    backend = AnsweringBackend(tokenizer)
    results = evaluate(config, backend=backend)

    samples = read_lines(tmp_path / "samples.jsonl")
    records = read_lines(tmp_path / "budgets.jsonl")
    lead = tokenizer(FORCE_LEAD_IN, add_special_tokens=False)["input_ids"]
    assert results["config"]["force_lead_in"] == FORCE_LEAD_IN  # the default of a model outside the toy lineage
    # Every sample is still thinking at 30 tokens; at 60 those with no re-check have closed their thinking.
    still_thinking = [s for s in samples if "</think>" not in tokenizer.decode(s["token_ids"][:60])]
    assert 0 < len(still_thinking) < len(samples)
    assert sorted((r["budget"], r["problem_index"], r["sample_index"]) for r in records) == sorted(
        [(30, s["problem_index"], s["sample_index"]) for s in samples]
        + [(60, s["problem_index"], s["sample_index"]) for s in still_thinking]
    )
    # What the model was given: the problem's prompt, the sample's first B ids and the lead-in.
    by_key = {(s["problem_index"], s["sample_index"]): s for s in samples}
    expected_inputs = [
        eval_prompt_ids(tokenizer, by_key[key]["problem"]) + by_key[key]["token_ids"][: r["budget"]] + lead
        for r in records
        for key in [(r["problem_index"], r["sample_index"])]
    ]
    assert sorted(backend.inputs) == sorted(expected_inputs)
    for record in records:
        assert record["forced_ids"][: len(lead)] == lead and record["answer_finished"]
        assert len(record["forced_ids"]) <= len(lead) + 8

    force = rows_of(results, "force")
    assert force[30]["pass@1"] == 1.0 and force[30]["cut_rate"] == 1.0  # the answering backend is always right
    forced_tokens = [30 + len(r["forced_ids"]) for r in records if r["budget"] == 30]
    assert force[30]["mean_tokens"] == pytest.approx(sum(forced_tokens) / len(forced_tokens))
    natural = [s for s in samples if s not in still_thinking]
    expected = (
        sum(s["num_tokens"] for s in natural) + sum(60 + len(r["forced_ids"]) for r in records if r["budget"] == 60)
    ) / len(samples)
    assert force[60]["mean_tokens"] == pytest.approx(expected)
    assert force[60]["cut_rate"] == len(still_thinking) / len(samples)

    # Nothing is generated twice: a re-run reuses budgets.jsonl, and a rescore re-grades it without any model.
    again = AnsweringBackend(tokenizer)
    assert evaluate(config, backend=again)["benchmarks"]["toy"]["budgets"] == results["benchmarks"]["toy"]["budgets"]
    assert again.calls == 0
    rescored = evaluate(EvalConfig(output_dir=str(tmp_path), rescore=True))
    assert rescored["benchmarks"]["toy"]["budgets"] == results["benchmarks"]["toy"]["budgets"]


def test_another_lead_in_or_budget_is_generated_and_a_rescore_cannot(tiny_checkpoint, tokenizer, tmp_path):
    evaluate(toy_config(tiny_checkpoint, tmp_path, budgets="30"), backend=AnsweringBackend(tokenizer))
    with pytest.raises(UserError, match="lacks 8 forced toy answers.*without --rescore"):
        evaluate(EvalConfig(output_dir=str(tmp_path), rescore=True, budgets="40"))
    truncated = evaluate(EvalConfig(output_dir=str(tmp_path), rescore=True, budgets="40", budget_modes="truncate"))
    assert [row["budget"] for row in truncated["benchmarks"]["toy"]["budgets"]] == [40]

    backend = AnsweringBackend(tokenizer)
    results = evaluate(
        toy_config(tiny_checkpoint, tmp_path, budgets="30", force_lead_in=TOY_ANSWER_LEAD), backend=backend
    )
    assert len(backend.inputs) == 8 and results["config"]["force_lead_in"] == TOY_ANSWER_LEAD
    assert len(read_lines(tmp_path / "budgets.jsonl")) == 16  # the first lead-in's answers are kept


def test_samples_without_ids_must_be_regenerated(tiny_checkpoint, tokenizer, tmp_path, capsys):
    evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))
    samples_path = tmp_path / "samples.jsonl"
    old = [{key: value for key, value in s.items() if key != "token_ids"} for s in read_lines(samples_path)]
    samples_path.write_text("".join(json.dumps(s) + "\n" for s in old))  # as a run before ids were stored
    with pytest.raises(SystemExit) as exit_info:
        main(["--output_dir", str(tmp_path), "--rescore", "--budgets", "40", "--budget_modes", "truncate"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: the toy samples have no generated token ids") and "regenerate the run" in error


def test_budgets_above_max_new_tokens_are_refused(tiny_checkpoint, tokenizer, tmp_path):
    with pytest.raises(UserError, match="budget 300 is above the run's max_new_tokens \\(256\\)"):
        evaluate(toy_config(tiny_checkpoint, tmp_path, budgets="100,300"), backend=ScriptedBackend(tokenizer))
    assert not (tmp_path / "samples.jsonl").exists()


def test_evaluate_budgets_without_forcing_needs_no_backend(tokenizer, tmp_path):
    ids = tokenizer(make_completion((57, 68), 0), add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    sample = {
        "benchmark": "toy",
        "problem_index": 0,
        "sample_index": 0,
        "token_ids": ids,
        "answer": "579",
        "correct": True,
        "finished": True,
    }
    rows = evaluate_budgets(
        "toy", [sample], [len(ids)], ["truncate", "force"], Forcing(TOY_ANSWER_LEAD, 8), tokenizer, tmp_path / "b"
    )
    assert [(row["mode"], row["pass@1"], row["mean_tokens"], row["cut_rate"]) for row in rows] == [
        ("truncate", 1.0, len(ids), 0.0),
        ("force", 1.0, len(ids), 0.0),
    ]


@pytest.mark.slow
def test_evaluate_with_budgets_on_the_real_toy(tmp_path, capsys):
    out = tmp_path / "toy"
    main(
        [
            "--model",
            "toy",
            "--limit",
            "6",
            "--num_samples",
            "2",
            "--budgets",
            f"60,100,{TOY_MAX_NEW_TOKENS}",
            "--output_dir",
            str(out),
        ]
        + ["--backend", "transformers"]
    )
    results = json.loads((out / "results.json").read_text())
    metrics = results["benchmarks"]["toy"]
    rows = {(row["mode"], row["budget"]): row for row in metrics["budgets"]}
    assert set(rows) == {(mode, budget) for mode in ("truncate", "force") for budget in (60, 100, TOY_MAX_NEW_TOKENS)}
    assert rows[("truncate", TOY_MAX_NEW_TOKENS)]["pass@1"] == metrics["pass@1"]
    assert rows[("truncate", TOY_MAX_NEW_TOKENS)]["mean_tokens"] == metrics["mean_tokens"]
    assert rows[("truncate", 60)]["mean_tokens"] <= 60
    forced = read_lines(out / "budgets.jsonl")
    assert forced and all(record["budget"] in (60, 100, TOY_MAX_NEW_TOKENS) for record in forced)
    assert rows[("force", 60)]["mean_tokens"] > rows[("truncate", 60)]["mean_tokens"]  # the answers count
    for row in rows.values():
        low, high = row["pass@1_ci"]
        assert low <= row["pass@1"] <= high
    printed = capsys.readouterr().out
    assert "| toy | 60 | force |" in printed and "maj@k" in printed
