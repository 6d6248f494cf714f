"""The evaluation harness end to end: real generation on a tiny checkpoint, and a scripted backend for resume,
re-scoring, AES, output-directory safety and error paths (fast: no model forward passes)."""

import dataclasses
import json
import shutil

import pytest
from conftest import REPO_ROOT, requires_gpu

from eval.evaluate import EvalConfig, evaluate, main, with_defaults
from eval.metrics import aes
from thinkprune.errors import UserError
from thinkprune.files import exclusive_lock
from thinkprune.generation import Generation, Sampling, split_at_eos, vllm_available
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids
from thinkprune.records import RoundRecord
from thinkprune.toy import is_toy_model, make_completion, make_problems


class ScriptedBackend:
    """Answers like the toy would, without a model: right iff the first operand is even, with a few re-checks."""

    name = "scripted"

    def __init__(self, tokenizer, fail_on_call: int | None = None):
        self.tokenizer = tokenizer
        self.fail_on_call = fail_on_call
        self.calls = 0
        self.generated = 0

    def completion_ids(self, prompt_ids: list[int], max_new_tokens: int) -> Generation:
        text = self.tokenizer.decode(prompt_ids)
        operands = tuple(int(x) for x in text.split("What is ")[1].split("?")[0].split(" + "))
        # Wrong on odd first operands (the last one off by one); 0-2 re-checks on two operands, where they fit in
        # the tests' 256 tokens.
        a = operands[0]
        completion = make_completion((*operands[:-1], operands[-1] + a % 2), a % 3 if len(operands) == 2 else 0)
        ids = self.tokenizer(completion, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
        return split_at_eos(ids[:max_new_tokens], {self.tokenizer.eos_token_id})

    def generate(self, prompts, sampling: Sampling, seeds=None):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt  # what a killed run looks like from inside
        self.generated += len(prompts)
        return [self.completion_ids(ids, sampling.max_new_tokens) for ids in prompts]


@pytest.fixture
def tokenizer(tiny_checkpoint):
    return load_tokenizer(str(tiny_checkpoint))


def toy_config(tiny_checkpoint, output_dir, **overrides) -> EvalConfig:
    values = dict(
        model=str(tiny_checkpoint),
        benchmarks="toy",
        limit=4,
        num_samples=2,
        max_new_tokens=256,
        batch_size=3,
        output_dir=str(output_dir),
    )
    return EvalConfig(**{**values, **overrides})


def read_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_toy_correct(limit: int) -> float:
    from eval.benchmarks import load_benchmark

    operands = [int(row["problem"].split()[2]) for row in load_benchmark("toy", limit=limit)]
    return sum(a % 2 == 0 for a in operands) / limit


def test_scripted_run_writes_samples_results_and_markdown(tiny_checkpoint, tokenizer, tmp_path):
    results = evaluate(toy_config(tiny_checkpoint, tmp_path / "out"), backend=ScriptedBackend(tokenizer))

    samples = read_lines(tmp_path / "out" / "samples.jsonl")
    assert sorted((s["problem_index"], s["sample_index"]) for s in samples) == [
        (p, s) for p in range(4) for s in range(2)
    ]
    assert all(s["finished"] and s["correct"] == (s["extracted_answer"] == s["answer"]) for s in samples)
    metrics = results["benchmarks"]["toy"]
    assert metrics["pass@1"] == pytest.approx(expected_toy_correct(4))
    assert metrics["mean_tokens"] == pytest.approx(sum(s["num_tokens"] for s in samples) / 8)
    assert metrics["truncation_rate"] == 0
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert set(on_disk) >= {"model", "config", "versions", "benchmarks"}
    assert on_disk["config"]["temperature"] == 0.6 and on_disk["config"]["prompt_suffix"] == EVAL_SUFFIX
    assert "| toy | 4 x 2 |" in (tmp_path / "out" / "results.md").read_text()


def test_truncated_responses_are_counted(tiny_checkpoint, tokenizer, tmp_path):
    results = evaluate(toy_config(tiny_checkpoint, tmp_path, max_new_tokens=20), backend=ScriptedBackend(tokenizer))
    samples = read_lines(tmp_path / "samples.jsonl")
    assert all(s["num_tokens"] == 20 and not s["finished"] and not s["correct"] for s in samples)
    assert results["benchmarks"]["toy"]["truncation_rate"] == 1


def test_resume_after_a_kill_generates_only_what_is_missing(tiny_checkpoint, tokenizer, tmp_path):
    config = toy_config(tiny_checkpoint, tmp_path / "killed")
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, backend=ScriptedBackend(tokenizer, fail_on_call=3))
    samples_path = tmp_path / "killed" / "samples.jsonl"
    assert len(read_lines(samples_path)) == 6  # two batches of 3 made it to disk
    assert not (tmp_path / "killed" / "results.json").exists()
    with samples_path.open("a") as handle:
        handle.write('{"benchmark": "toy", "problem_in')  # a line torn by the kill

    backend = ScriptedBackend(tokenizer)
    resumed = evaluate(config, backend=backend)
    assert backend.generated == 2
    samples = read_lines(samples_path)
    assert sorted((s["problem_index"], s["sample_index"]) for s in samples) == [
        (p, s) for p in range(4) for s in range(2)
    ]

    uninterrupted = evaluate(toy_config(tiny_checkpoint, tmp_path / "whole"), backend=ScriptedBackend(tokenizer))
    assert resumed["benchmarks"] == uninterrupted["benchmarks"]

    # Nothing left to do: no generation at all, same results.
    backend = ScriptedBackend(tokenizer)
    assert evaluate(config, backend=backend)["benchmarks"] == uninterrupted["benchmarks"]
    assert backend.calls == 0


def test_rescore_regrades_without_generating(tiny_checkpoint, tokenizer, tmp_path):
    evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))
    samples_path = tmp_path / "samples.jsonl"
    samples = read_lines(samples_path)
    # As if the first run had a grader bug: every verdict wrong, and problem 0's gold answer fixed since.
    for sample in samples:
        sample["correct"] = not sample["correct"]
        if sample["problem_index"] == 0:
            sample["answer"] = sample["extracted_answer"]
    samples_path.write_text("".join(json.dumps(s) + "\n" for s in samples))

    results = evaluate(EvalConfig(model="not/loaded", output_dir=str(tmp_path), rescore=True))

    rescored = read_lines(samples_path)
    assert all(s["correct"] == (s["extracted_answer"] == s["answer"]) for s in rescored)
    expected = sum(s["correct"] for s in rescored) / len(rescored)
    assert results["benchmarks"]["toy"]["pass@1"] == pytest.approx(expected)
    assert results["model"] == str(tiny_checkpoint)
    assert json.loads((tmp_path / "results.json").read_text())["benchmarks"]["toy"]["pass@1"] == pytest.approx(
        expected
    )


def test_levels_are_stored_per_sample_reported_and_rescored(tiny_checkpoint, tokenizer, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    # MATH500-style levels, the hardest first in the file; right iff the first operand is even (ScriptedBackend).
    levels = {"Level 2": (301, 400), "Level 1": (200, 202), "Level 10": (501, 503)}
    math = [
        {"problem": f"What is {a} + 111?", "answer": str(a + 111), "level": level}
        for level, pair in levels.items()
        for a in pair
    ]
    (data / "math500.jsonl").write_text("".join(json.dumps(row) + "\n" for row in math))
    (data / "aime24.jsonl").write_text('{"problem": "What is 100 + 111?", "answer": "211"}\n')
    config = toy_config(tiny_checkpoint, tmp_path / "out", benchmarks="math500,aime24", data_dir=str(data), limit=None)

    results = evaluate(config, backend=ScriptedBackend(tokenizer))

    samples = read_lines(tmp_path / "out" / "samples.jsonl")
    assert [s["level"] for s in samples if s["sample_index"] == 0] == ["2", "2", "1", "1", "10", "10", None]
    metrics = results["benchmarks"]["math500"]
    assert list(metrics["levels"]) == ["1", "2", "10"]
    assert [metrics["levels"][level]["pass@1"] for level in ("1", "2", "10")] == [1.0, 0.5, 0.0]
    assert metrics["levels"]["2"]["num_problems"] == 2 and metrics["levels"]["2"]["num_generated"] == 4
    # Each toy re-check says "Wait, let me double-check.": 2 words, a % 3 re-checks per response.
    assert metrics["mean_reflection_words"] == pytest.approx(2 * (1 + 1 + 2 + 1 + 0 + 2) / 6)
    assert [metrics["levels"][level]["mean_reflection_words"] for level in ("1", "2", "10")] == [3, 2, 2]
    assert "levels" not in results["benchmarks"]["aime24"]
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "| math500 | 2 | 2 | 50.0 [" in markdown.split("## Per difficulty level")[1]

    (tmp_path / "out" / "results.json").unlink()
    main(["--output_dir", str(tmp_path / "out"), "--rescore"])
    rescored = json.loads((tmp_path / "out" / "results.json").read_text())
    assert rescored["benchmarks"]["math500"]["levels"] == json.loads(json.dumps(metrics["levels"]))
    printed = capsys.readouterr().out
    assert "| math500 | 10 | 2 | 0.0 [" in printed and "| aime24 | 1 x 2 |" in printed


def test_rescore_needs_samples(tmp_path):
    with pytest.raises(UserError, match="no samples to rescore"):
        evaluate(EvalConfig(output_dir=str(tmp_path), rescore=True))


def test_aes_and_paired_change_against_a_reference_run(tiny_checkpoint, tokenizer, tmp_path):
    base = evaluate(toy_config(tiny_checkpoint, tmp_path / "base"), backend=ScriptedBackend(tokenizer))
    short = evaluate(
        toy_config(tiny_checkpoint, tmp_path / "short", max_new_tokens=60, reference=str(tmp_path / "base")),
        backend=ScriptedBackend(tokenizer),
    )
    b, s = base["benchmarks"]["toy"], short["benchmarks"]["toy"]
    assert s["mean_tokens"] < b["mean_tokens"]
    assert s["aes"] == pytest.approx(aes(s["pass@1"], s["mean_tokens"], b["pass@1"], b["mean_tokens"]))
    assert s["pass@1_change"] == pytest.approx(s["pass@1"] - b["pass@1"])
    assert s["paired_problems"] == b["num_problems"]
    assert s["pass@1_change_ci"][0] <= s["pass@1_change"] <= s["pass@1_change_ci"][1]
    assert b["aes"] is None and b["pass@1_change"] is None
    markdown = (tmp_path / "short" / "results.md").read_text()
    assert "AES and Δ pass@1 against" in markdown
    assert f"| {100 * s['pass@1_change']:+.1f} [" in markdown

    rescored = evaluate(EvalConfig(output_dir=str(tmp_path / "short"), rescore=True))["benchmarks"]["toy"]
    assert rescored["pass@1_change"] == s["pass@1_change"] and rescored["pass@1_change_ci"] == s["pass@1_change_ci"]


def test_output_dir_of_another_model_is_refused_and_kept(tiny_checkpoint, tokenizer, tmp_path):
    evaluate(toy_config(tiny_checkpoint, tmp_path / "out"), backend=ScriptedBackend(tokenizer))
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    other = shutil.copytree(tiny_checkpoint, tmp_path / "other-model")

    with pytest.raises(UserError, match="holds another run.*--overwrite"):
        evaluate(toy_config(other, tmp_path / "out"), backend=ScriptedBackend(tokenizer))
    with pytest.raises(UserError, match="max_new_tokens"):
        evaluate(toy_config(tiny_checkpoint, tmp_path / "out", max_new_tokens=99), backend=ScriptedBackend(tokenizer))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before

    results = evaluate(toy_config(other, tmp_path / "out", overwrite=True), backend=ScriptedBackend(tokenizer))
    assert results["model"] == str(other)
    assert len(read_lines(tmp_path / "out" / "samples.jsonl")) == 8


def test_results_of_finished_benchmarks_survive_a_later_failure(tiny_checkpoint, tokenizer, tmp_path):
    fixtures = REPO_ROOT / "tests" / "fixtures" / "eval"
    config = toy_config(tiny_checkpoint, tmp_path, benchmarks="toy,aime24", data_dir=str(fixtures), limit=2)
    with pytest.raises(KeyboardInterrupt):  # toy: 2 x 2 samples = 2 batches, then aime24 is killed
        evaluate(config, backend=ScriptedBackend(tokenizer, fail_on_call=3))
    assert list(json.loads((tmp_path / "results.json").read_text())["benchmarks"]) == ["toy"]


def test_max_new_tokens_is_capped_to_the_model_context(tiny_checkpoint, tokenizer, tmp_path, capsys):
    results = evaluate(
        toy_config(tiny_checkpoint, tmp_path, max_new_tokens=100_000, limit=1, num_samples=1),
        backend=ScriptedBackend(tokenizer),
    )
    prompt = eval_prompt_ids(tokenizer, make_problems("test", 1, seed=0)[0]["problem"], EVAL_SUFFIX, None)
    assert results["config"]["max_new_tokens"] == 512 - len(prompt)  # the tiny model has 512 positions
    assert "max_new_tokens 100000 ->" in capsys.readouterr().err


def test_toy_lineage_picks_toy_defaults(tmp_path):
    assert is_toy_model("toy")
    round_dir = tmp_path / "round1"
    round_dir.mkdir()
    record = RoundRecord(1, 160, "toy", "toy", ["toy"], finished_at="2026-01-01T00:00:00+00:00")
    record.write(round_dir)
    assert is_toy_model(str(round_dir))
    config = with_defaults(EvalConfig(model=str(round_dir)))
    assert (config.benchmarks, config.max_new_tokens, config.output_dir) == ("toy", 704, "eval_results/round1")
    base = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    dataclasses.replace(record, parent=base, base_model=base, lineage=[base]).write(round_dir)
    config = with_defaults(EvalConfig(model=str(round_dir)))
    assert (config.benchmarks, config.max_new_tokens) == ("aime24,amc23,math500", 32768)


def test_recipes_parse_into_the_protocol():
    from trl import TrlParser

    (paper,) = TrlParser(EvalConfig).parse_args_and_config(
        ["--config", str(REPO_ROOT / "recipes/eval/r1_distill_protocol.yaml")]
    )
    assert (paper.temperature, paper.top_p, paper.max_new_tokens, paper.system_prompt) == (0.6, 0.95, 32768, None)
    assert paper.benchmarks == "aime24,amc23,math500" and paper.num_samples is None
    (toy,) = TrlParser(EvalConfig).parse_args_and_config(
        ["--config", str(REPO_ROOT / "recipes/eval/toy.yaml"), "--num_samples", "2"]
    )
    assert (toy.model, toy.benchmarks, toy.max_new_tokens, toy.num_samples) == ("toy", "toy", 704, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--benchmarks", "toy,gsm8k"], "unknown benchmark 'gsm8k'"),
        (["--model", "/nonexistent/checkpoint"], "cannot load a tokenizer"),
        (["--benchmarks", "amc23", "--data_dir", "tests/fixtures/eval/bad"], "no answer column"),
        (["--benchmarks", "math500", "--data_dir", "tests/fixtures/eval/bad"], "is empty"),
        (["--num_samples", "0"], "num_samples must be at least 1"),
        (["--backend", "tgi"], "unknown backend 'tgi'"),
        (["--config", "recipes/eval/missing.yaml"], "cannot use the config file"),
    ],
)
def test_bad_input_exits_with_one_line(args, message, tiny_checkpoint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    model = [] if "--model" in args else ["--model", str(tiny_checkpoint)]
    with pytest.raises(SystemExit) as exit_info:
        main(model + args + ["--output_dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not (tmp_path / "out" / "samples.jsonl").exists()


def test_model_without_chat_template_is_a_user_error(tiny_checkpoint, tmp_path):
    model = shutil.copytree(tiny_checkpoint, tmp_path / "plain")
    (model / "chat_template.jinja").unlink()
    with pytest.raises(UserError, match="has no chat template"):
        evaluate(toy_config(model, tmp_path / "out"))


@pytest.mark.skipif(vllm_available(), reason="vLLM is installed here")
def test_vllm_backend_without_vllm_is_a_user_error(tiny_checkpoint, tmp_path):
    with pytest.raises(UserError, match="needs vLLM"):
        evaluate(toy_config(tiny_checkpoint, tmp_path, backend="vllm"))


@pytest.mark.slow
def test_end_to_end_on_the_tiny_checkpoint(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    main(
        [
            "--model",
            str(tiny_checkpoint),
            "--benchmarks",
            "toy",
            "--limit",
            "2",
            "--num_samples",
            "2",
            "--max_new_tokens",
            "8",
            "--batch_size",
            "3",
            "--output_dir",
            str(out),
            "--backend",
            "transformers",
        ]
    )
    printed = capsys.readouterr().out
    assert "| toy | 2 x 2 |" in printed and "pass@1" in printed
    samples = read_lines(out / "samples.jsonl")
    assert len(samples) == 4
    assert all(1 <= s["num_tokens"] <= 8 and (s["finished"] or s["num_tokens"] == 8) for s in samples)
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["backend"] == "transformers"
    assert set(results["benchmarks"]["toy"]) - {"levels"} == {
        "pass@1",
        "pass@1_ci",
        "mean_tokens_ci",
        "maj@k",
        "pass@k",
        "mean_tokens",
        "median_tokens",
        "mean_tokens_correct",
        "truncation_rate",
        "mean_reflection_words",
        "num_problems",
        "num_samples",
        "num_generated",
        "expected_samples",
        "complete",
        "dataset_id",
        "dataset_config",
        "aes",
        "pass@1_change",
        "pass@1_change_ci",
        "paired_problems",
    }
    assert results["complete"] and results["benchmarks"]["toy"]["expected_samples"] == 4
    assert results["benchmarks"]["toy"]["pass@1_change"] is None  # no --reference


@pytest.mark.vllm
@requires_gpu
def test_vllm_and_transformers_share_prompts_and_metrics(tmp_path):
    pytest.importorskip("vllm")
    from thinkprune.toy import build_model, build_tokenizer

    # Toy-sized (head dim 32): vLLM's attention kernels do not take the tiny fixture's head dim of 16.
    tokenizer = build_tokenizer()
    build_model(tokenizer).save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    config = EvalConfig(
        model=str(tmp_path / "model"), benchmarks="toy", limit=4, num_samples=4, max_new_tokens=16, budgets="8,16"
    )
    runs = {}
    for backend in ("vllm", "transformers"):
        runs[backend] = evaluate(dataclasses.replace(config, backend=backend, output_dir=str(tmp_path / backend)))
        samples = read_lines(tmp_path / backend / "samples.jsonl")
        assert len(samples) == 16 and all(1 <= s["num_tokens"] <= 16 for s in samples)
        assert all(s["finished"] or s["num_tokens"] == 16 for s in samples)
        assert all(len(s["token_ids"]) == s["num_tokens"] for s in samples)
        # The forced answers continue the stored prefixes on either backend (a random model never closes its thinking).
        forced = read_lines(tmp_path / backend / "budgets.jsonl")
        assert {r["budget"] for r in forced} == {8, 16} and all(len(r["forced_ids"]) > 0 for r in forced)
        rows = runs[backend]["benchmarks"]["toy"]["budgets"]
        assert [(r["mode"], r["budget"]) for r in rows] == [
            ("truncate", 8),
            ("truncate", 16),
            ("force", 8),
            ("force", 16),
        ]
    assert runs["vllm"]["config"]["backend"] == "vllm"
    assert runs["vllm"]["benchmarks"]["toy"].keys() == runs["transformers"]["benchmarks"]["toy"].keys()


@pytest.mark.slow
def test_throughput_script_times_both_sides_on_the_same_tokens(tiny_checkpoint, capsys):
    from scripts.benchmark_throughput import main as throughput_main

    report = throughput_main(
        [
            "--model",
            str(tiny_checkpoint),
            "--num_problems",
            "2",
            "--num_samples",
            "2",
            "--max_new_tokens",
            "4",
            "--batch_size",
            "4",
            "--repeats",
            "1",
        ]
    )
    assert 4 <= report["tokens_per_run"] <= 16  # 4 sequences of 1 to 4 tokens
    assert report["ratio_wall"] > 0 and report["ratio_cpu"] > 0
    captured = capsys.readouterr()
    assert "harness/bare" in captured.out and "different numbers of tokens" not in captured.err


# -- bookkeeping: what a run is, whether it is complete, one writer at a time -----------------------------------------


def test_partial_run_is_marked_and_rescored_as_partial(tiny_checkpoint, tokenizer, tmp_path, capsys):
    config = toy_config(tiny_checkpoint, tmp_path)
    with pytest.raises(KeyboardInterrupt):
        evaluate(config, backend=ScriptedBackend(tokenizer, fail_on_call=2))
    results = evaluate(dataclasses.replace(config, rescore=True))
    assert results["complete"] is False
    assert results["benchmarks"]["toy"]["num_generated"] == 3
    assert results["benchmarks"]["toy"]["expected_samples"] == 8 and not results["benchmarks"]["toy"]["complete"]
    assert "partial run (toy 3/8 samples)" in capsys.readouterr().err
    assert "Partial run" in (tmp_path / "results.md").read_text()

    finished = evaluate(config, backend=ScriptedBackend(tokenizer))
    assert finished["complete"] is True and finished["benchmarks"]["toy"]["complete"]
    assert finished["benchmarks"]["toy"]["dataset_id"] is None  # the toy has no Hub dataset


def test_the_same_explicit_sample_count_resumes_and_another_backend_is_refused(tiny_checkpoint, tokenizer, tmp_path):
    evaluate(toy_config(tiny_checkpoint, tmp_path, num_samples=None, limit=2), backend=ScriptedBackend(tokenizer))
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["num_samples"] == {"toy": 4} and run["num_problems"] == {"toy": 2}
    assert (run["backend"], run["dtype"]) == ("transformers", "auto")
    backend = ScriptedBackend(tokenizer)
    evaluate(toy_config(tiny_checkpoint, tmp_path, num_samples=4, limit=2), backend=backend)  # the same n, resolved
    assert backend.calls == 0
    with pytest.raises(UserError, match="num_samples"):
        evaluate(toy_config(tiny_checkpoint, tmp_path, num_samples=8, limit=2), backend=ScriptedBackend(tokenizer))

    (tmp_path / "run.json").write_text(json.dumps({**run, "backend": "vllm"}))
    with pytest.raises(UserError, match="backend='vllm'"):
        evaluate(toy_config(tiny_checkpoint, tmp_path, num_samples=4, limit=2), backend=ScriptedBackend(tokenizer))
    (tmp_path / "run.json").write_text(json.dumps(run))
    with pytest.raises(UserError, match="dtype='auto'"):
        evaluate(
            toy_config(tiny_checkpoint, tmp_path, num_samples=4, limit=2, dtype="float32"),
            backend=ScriptedBackend(tokenizer),
        )


def test_a_second_writer_is_refused(tiny_checkpoint, tokenizer, tmp_path):
    samples = tmp_path / "samples.jsonl"
    with exclusive_lock(tmp_path / ".lock", "held"):  # what another running evaluation holds
        with pytest.raises(UserError, match="another evaluation is writing to"):
            evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))
        with pytest.raises(UserError, match="another evaluation is writing to"):
            evaluate(toy_config(tiny_checkpoint, tmp_path, rescore=True))
    assert not samples.exists()
    assert evaluate(toy_config(tiny_checkpoint, tmp_path), backend=ScriptedBackend(tokenizer))["complete"]
