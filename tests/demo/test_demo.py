"""The demo's pieces without a server: settings, response splitting, marks and savings, streaming workers."""

import json
import shutil
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REPO_ROOT

from demo.config import DemoConfig, parse_config, toy_rounds
from demo.generation import IdStreamer, Pane, SamplingSettings, stream_pair
from demo.models import ModelRegistry, display_name, typical_tokens
from demo.summary import (
    comparison_markdown,
    is_correct,
    math_markdown,
    saving_message,
    stats_markdown,
    token_ratio,
)
from demo.ui import benchmark_examples, toy_examples
from thinkprune.errors import UserError
from thinkprune.grading import grade
from thinkprune.prompts import eval_prompt_ids, split_thinking
from thinkprune.records import RoundRecord
from thinkprune.toy import TOY_MAX_NEW_TOKENS, parse_operands


def snapshot(text: str, status: str = "finished", **extra) -> dict:
    thinking, answer = split_thinking(text)
    return {
        "status": status,
        "done": status in ("finished", "limit", "stopped", "error"),
        "text": text,
        "thinking": thinking,
        "answer": answer,
        "num_tokens": 10,
        "elapsed_s": 1.0,
        "tokens_per_s": 10.0,
        "error": None,
        **extra,
    }


# -- splitting and marks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, thinking, answer",
    [
        (
            "Add column by column.\n</think>\n\nThe answer is \\boxed{5}.",
            "Add column by column.",
            "The answer is \\boxed{5}.",
        ),
        ("<think>\nhmm\n</think>ok", "hmm", "ok"),  # a template that does not pre-fill the opening tag
        ("still thinking about it", "still thinking about it", None),
        ("</think>", "", ""),
    ],
)
def test_split_thinking_separates_thinking_from_the_final_answer(text, thinking, answer):
    assert split_thinking(text) == (thinking, answer)


def test_bare_boxed_answers_are_put_in_math_spans():
    assert math_markdown("The answer is \\boxed{747}.") == "The answer is $\\boxed{747}$."
    assert math_markdown("\\boxed{\\frac{1}{2}} or \\boxed{3") == "$\\boxed{\\frac{1}{2}}$ or \\boxed{3"  # open box
    assert math_markdown("So $\\boxed{5}$, i.e. \\boxed{5}") == "So $\\boxed{5}$, i.e. \\boxed{5}"  # already math


def test_saving_message_and_ratio():
    assert token_ratio(316, 120) == pytest.approx(120 / 316)
    assert (
        saving_message(316, 120) == "The pruned model used **38%** of the original's tokens (120 vs 316: 62% fewer)."
    )
    assert "120%" in saving_message(100, 120) and "20% more" in saving_message(100, 120)
    assert token_ratio(0, 5) is None and saving_message(0, 5) == ""
    assert saving_message(12_000, 3_000).endswith("(3,000 vs 12,000: 75% fewer).")


def test_correctness_marks_on_known_texts():
    right = "Let me compute.\n</think>\n\nSo $f(-2)+f(-1)+f(0) = \\boxed{\\dfrac{14}{3}}$."
    wrong = "Let me compute.\n</think>\n\nThe answer is \\boxed{5}."
    assert is_correct(snapshot(right), "\\frac{14}{3}") is True
    assert is_correct(snapshot(wrong), "\\frac{14}{3}") is False
    assert is_correct(snapshot(right, status="limit"), "\\frac{14}{3}") is False  # unfinished: no final answer
    assert is_correct(snapshot(right, status="stopped"), "\\frac{14}{3}") is False
    assert is_correct(snapshot(right, status="generating"), "\\frac{14}{3}") is None
    assert is_correct(snapshot(right), "  ") is None  # no reference answer, no mark


def test_grade_works_from_handler_threads():
    """math-verify times itself with SIGALRM, which only the main thread may use: Gradio runs handlers in worker
    threads, so the marks must come out right there too (answers only math-verify can match)."""
    cases = [
        ("\\boxed{\\sqrt{242}}", "11\\sqrt2", True),
        ("\\boxed{\\dfrac{14}{3}}", "\\frac{14}{3}", True),
        ("\\boxed{(3, \\pi/2)}", "\\left( 3, \\frac{\\pi}{2} \\right)", True),
        ("\\boxed{\\sqrt{243}}", "11\\sqrt2", False),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda case: is_correct(snapshot("</think>" + case[0]), case[1]), cases))
    assert results == [expected for _, _, expected in cases]


def test_comparison_verdict():
    base = snapshot("a\n</think>\\boxed{747}", num_tokens=93, correct=True)
    pruned = snapshot("b\n</think>\\boxed{746}", num_tokens=52, correct=False)
    verdict = comparison_markdown(base, pruned, "747")
    assert saving_message(93, 52) in verdict
    assert "Original: ✓ correct · Pruned: ✗ incorrect (reference answer: $747$)" in verdict
    cut = comparison_markdown(dict(base, status="limit", correct=None), dict(pruned, correct=None), "")
    assert "original model hit the max-new-tokens limit" in cut and "correct" not in cut
    failed = comparison_markdown(base, dict(pruned, status="error", error="boom"), "747")
    assert failed.startswith("No comparison: the pruned model failed")
    assert comparison_markdown(base, dict(pruned, status="generating", done=False), "747").startswith("Both models")
    assert stats_markdown(dict(base, num_tokens=1234)).startswith("**1,234 tokens** · 1.0 s · 10 tokens/s")


def test_budget_forcing_is_shown_in_the_stats_and_the_verdict():
    base = snapshot("a\n</think>\\boxed{747}", num_tokens=93, correct=True, force_budget=60, forced_at=60)
    pruned = snapshot("b\n</think>\\boxed{747}", num_tokens=52, correct=True, force_budget=None, forced_at=None)
    assert stats_markdown(base).endswith("· ■ finished · ⏱ forced to answer at 60 tokens")
    assert "⏱" not in stats_markdown(pruned)
    verdict = comparison_markdown(base, pruned, "747")
    assert "The original model was budget-forced: at 60 tokens its thinking was closed" in verdict
    within = comparison_markdown(dict(base, forced_at=None, force_budget=120), pruned, "747")
    assert "finished its thinking within its 120-token budget" in within
    assert "budget" not in comparison_markdown(dict(base, force_budget=None, forced_at=None), pruned, "747")


def test_the_forcing_budget_defaults_to_what_the_pruned_round_writes(tmp_path):
    round_dir = finished_round(tmp_path / "round3", 3, 80)
    assert typical_tokens(str(round_dir)) == 80  # no training metrics: its limit
    record = RoundRecord.read(round_dir)
    record.train_metrics = {"completions/mean_length": 71.9}
    record.write(round_dir)
    assert typical_tokens(str(round_dir)) == 72  # its last training steps
    (round_dir / "eval").mkdir()
    benchmarks = {"aime24": {"mean_tokens": 5800.0}, "math500": {"mean_tokens": 1900.0}}
    (round_dir / "eval" / "results.json").write_text(json.dumps({"benchmarks": benchmarks}))
    assert typical_tokens(str(round_dir)) == 3850  # its evaluation, over benchmarks
    assert typical_tokens("org/some-model") is None and typical_tokens(None) is None


# -- settings and examples -----------------------------------------------------------------------------------------


def finished_round(path, index: int, limit: int):
    path.mkdir(parents=True)
    RoundRecord(index, limit, "toy", "toy", ["toy"], finished_at="2026-01-01T00:00:00+00:00").write(path)
    return path


def test_toy_rounds_are_the_finished_ones_in_round_order(tmp_path):
    for index in (1, 2, 10):
        finished_round(tmp_path / f"round{index}", index, 100 - index)
    (tmp_path / "round3").mkdir()  # still training: no record yet
    (tmp_path / "round_notes").mkdir()
    assert toy_rounds((tmp_path,)) == [str(tmp_path / f"round{index}") for index in (1, 2, 10)]
    assert toy_rounds((tmp_path / "missing",)) == []
    shipped = finished_round(tmp_path / "shipped" / "round3", 3, 90)
    assert toy_rounds((tmp_path / "missing", tmp_path / "shipped")) == [str(shipped)]  # fresh clone: the shipped one
    assert toy_rounds((tmp_path, tmp_path / "shipped"))[-1] == str(tmp_path / "round10")  # the user's own win


def test_settings_precedence_file_then_environment_then_command_line(tmp_path):
    models = tmp_path / "models"
    (models / "base").mkdir(parents=True)
    config_file = tmp_path / "demo.yaml"
    config_file.write_text("base: models/base\npruned: [org/a, org/b]\nmax_new_tokens: 64\nconcurrency_limit: 3\n")
    from_file = parse_config(["--config", str(config_file)], environ={})
    assert from_file.base == str(models / "base")  # relative to the file, as a deployed Space has them
    assert (from_file.pruned, from_file.max_new_tokens, from_file.concurrency_limit) == (["org/a", "org/b"], 64, 3)

    environ = {"THINKPRUNE_DEMO_CONFIG": str(config_file), "THINKPRUNE_DEMO_PRUNED": "org/c, org/d"}
    from_env = parse_config([], environ=environ)
    assert from_env.pruned == ["org/c", "org/d"] and from_env.max_new_tokens == 64
    from_cli = parse_config(["--pruned", "org/e", "--temperature", "0"], environ=environ)
    assert from_cli.pruned == ["org/e"] and from_cli.temperature == 0.0

    defaults = parse_config(["--base", "org/base"], environ={})
    assert (defaults.temperature, defaults.top_p, defaults.initial_max_new_tokens) == (0.6, 0.95, 4096)
    assert not defaults.is_toy and defaults.pruned == [] and defaults.tokens_limit == 32768
    toy = DemoConfig()  # the toy's context is 1024 tokens
    assert toy.is_toy and (toy.initial_max_new_tokens, toy.tokens_limit) == (TOY_MAX_NEW_TOKENS, 1024)
    assert DemoConfig(max_new_tokens=5000).initial_max_new_tokens == 1024


def test_bad_settings_are_user_errors(tmp_path):
    (tmp_path / "typo.yaml").write_text("bse: toy\n")
    with pytest.raises(UserError, match="unknown demo settings \\['bse'\\]"):
        parse_config(["--config", str(tmp_path / "typo.yaml")], environ={})
    with pytest.raises(UserError, match="does not exist"):
        parse_config(["--config", str(tmp_path / "missing.yaml")], environ={})
    with pytest.raises(UserError, match="zero_gpu_max_duration must be at least 1"):
        parse_config(["--base", "org/m", "--concurrency_limit", "0"], environ={})


def test_examples_carry_their_reference_answers():
    rows = benchmark_examples()
    assert {row["benchmark"] for row in rows} == {"aime24", "math500"}
    for row in rows:
        assert row["problem"] and row["source"]
        assert grade(f"\\boxed{{{row['answer']}}}", row["answer"])
    toys = toy_examples()
    assert all(grade(f"\\boxed{{{sum(parse_operands(row['problem']))}}}", row["answer"]) for row in toys)
    assert sorted(row["level"] for row in toys) == [1, 2, 3]  # one example per level
    assert DemoConfig().is_toy


# -- streaming workers on a tiny model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry():
    return ModelRegistry("cpu")


@pytest.mark.slow
def test_id_streamer_sees_exactly_the_generated_ids(tiny_checkpoint, registry):
    import torch

    loaded = registry.get(str(tiny_checkpoint))
    prompt = eval_prompt_ids(loaded.tokenizer, "What is 123 + 456?")
    assert loaded.tokenizer.decode(prompt).endswith("<|Assistant|><think>\n")
    assert prompt.count(loaded.tokenizer.bos_token_id) == 1  # the template writes BOS; tokenizing must not add one
    seen = []
    output = loaded.model.generate(
        torch.tensor([prompt]), max_new_tokens=40, do_sample=True, top_k=0, streamer=IdStreamer(seen.extend)
    )
    assert seen == output[0, len(prompt) :].tolist() and len(seen) > 0


@pytest.mark.slow
def test_a_failing_pane_does_not_stop_the_other(tiny_checkpoint, registry):
    panes = [Pane("base", str(tiny_checkpoint)), Pane("pruned", "/no/such/checkpoint")]
    snapshots = list(
        stream_pair(panes, registry.get, "What is 1 + 2?", SamplingSettings(30, 0.0, 1.0), 1024, threading.Event())
    )
    base, pruned = snapshots[-1]
    assert base["status"] == "limit" and base["num_tokens"] == 30
    assert pruned["status"] == "error" and "/no/such/checkpoint" in pruned["error"]
    too_long = list(
        stream_pair(
            [Pane("base", str(tiny_checkpoint))],
            registry.get,
            "1 + " * 300,
            SamplingSettings(30, 0.0, 1.0),
            64,
            threading.Event(),
        )
    )[-1][0]
    assert too_long["status"] == "error" and "over this demo's 64" in too_long["error"]


@pytest.mark.slow
def test_stop_flag_ends_both_workers_at_their_next_token(tiny_checkpoint, registry):
    stop = threading.Event()
    panes = [Pane("base", str(tiny_checkpoint)), Pane("pruned", str(tiny_checkpoint))]
    # Greedy on this random model never draws EOS: only the flag (or the limit, far away) can end it.
    stream = stream_pair(panes, registry.get, "What is 1 + 2?", SamplingSettings(2000, 0.0, 1.0), 1024, stop)
    for snapshots in stream:
        if all(s["num_tokens"] > 0 for s in snapshots):
            stop.set()
            stopped_at = time.perf_counter()
            break
    final = list(stream)[-1]
    assert time.perf_counter() - stopped_at < 5
    assert [s["status"] for s in final] == ["stopped", "stopped"]
    assert all(0 < s["num_tokens"] < 2000 for s in final)


@pytest.mark.parametrize("zero_gpu", [True, False], ids=["zerogpu", "cpu-or-dedicated-gpu"])
def test_only_zerogpu_hardware_gets_spaces_gpu_and_its_time_limit(zero_gpu, monkeypatch, tmp_path):
    """Every Space has the `spaces` package; only on ZeroGPU hardware (as its config says) is the streaming handler
    decorated with spaces.GPU, stopped before the GPU duration it asked for runs out, and cancelled by Stop (the
    handler runs in a process the stop flag cannot reach). Elsewhere a comparison runs up to max_seconds."""

    import demo.ui

    decorated = []

    def gpu(duration):
        def decorate(function):
            decorated.append((function.__name__, duration))
            return function

        return decorate

    fake_spaces = types.SimpleNamespace(
        GPU=gpu, config=types.SimpleNamespace(Config=types.SimpleNamespace(zero_gpu=zero_gpu))
    )
    monkeypatch.setattr(demo.ui, "spaces", fake_spaces)
    now = [0.0]
    monkeypatch.setattr(demo.ui, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    stops = []

    def stream_pair(panes, load, problem, settings, max_prompt_tokens, stop):
        stops.append(stop)
        for now[0] in (0.0, 116.0, 300.0):  # past ZeroGPU's deadline for 4096 tokens, within max_seconds
            yield [snapshot("thinking", "generating", role=pane.role) for pane in panes]
        yield [snapshot("done\n</think>\n\n\\boxed{3}", role=pane.role) for pane in panes]

    monkeypatch.setattr(demo.ui, "stream_pair", stream_pair)
    page = demo.ui.build_demo(DemoConfig(base=str(tmp_path), pruned=[], max_seconds=600), ModelRegistry("cpu"))
    dependencies = page.config["dependencies"]
    stop = next(d for d in dependencies if d["api_name"] == "stop")
    compare = next(d for d in dependencies if d["api_name"] == "compare")
    cancels_compare = any(d["targets"] == stop["targets"] and d["cancels"] == [compare["id"]] for d in dependencies)
    final = list(page.fns[compare["id"]].fn("What is 1 + 2?", "3", "pruned", 4096, 0.6, 0.95, False, None, None))[-1]
    verdict = final[6]
    if zero_gpu:
        ((name, duration),) = decorated
        assert name == "compare" and callable(duration)  # sized per call from the comparison's max_new_tokens
        problem_args = ("What is 1 + 2?", "3", None)
        assert duration(*problem_args, 256, 0.6, 0.95, None) == 19  # 10 s + 256 tokens at 30 tokens/s
        assert duration(*problem_args, 32768, 0.6, 0.95, None) == 120  # never above the cap
        assert cancels_compare  # gradio runs `cancels` as a second dependency on the same click
        assert stops[0].is_set() and "Stopped at this demo's limit of 115 s per comparison." in verdict
    else:
        assert not decorated and not cancels_compare
        assert not stops[0].is_set() and "Stopped" not in verdict


def test_the_page_says_how_to_build_missing_pruned_rounds(tmp_path):
    from demo.ui import build_demo

    def markdown_values(config):
        page = build_demo(config, ModelRegistry("cpu"))
        return " ".join(str(c["props"].get("value")) for c in page.config["components"] if c["type"] == "markdown")

    toy = markdown_values(DemoConfig(base="toy", pruned=[]))  # building the page loads no model
    assert "No pruned toy round found" in toy and "`python train/schedule.py`" in toy
    assert "pass `--pruned <checkpoint or Hub id>`" in markdown_values(DemoConfig(base=str(tmp_path), pruned=[]))
    assert str(REPO_ROOT) not in toy


def test_the_page_names_models_by_hub_id_or_relative_path_never_an_absolute_one(tmp_path, monkeypatch):
    from demo.ui import build_demo

    base = tmp_path / "work" / "checkpoints" / "base"
    base.mkdir(parents=True)
    local = finished_round(tmp_path / "work" / "outputs" / "toy" / "round1", 1, 90)
    pushed = finished_round(tmp_path / "work" / "outputs" / "toy" / "round2", 2, 70)
    (pushed / "README.md").write_text("---\nthinkprune:\n  round: 2\n  repo_id: me/toy-thinkprune-iter70\n---\n")
    monkeypatch.chdir(tmp_path / "work")
    assert [display_name(name) for name in ("toy", "org/model", str(base), str(local), str(pushed))] == [
        "toy",
        "org/model",
        "checkpoints/base",
        "outputs/toy/round1",
        "me/toy-thinkprune-iter70",
    ]
    page = build_demo(DemoConfig(base=str(base), pruned=[str(local), str(pushed)]), ModelRegistry("cpu"))
    components = page.config["components"]
    (choices,) = [c["props"]["choices"] for c in components if c["type"] == "dropdown"]
    shown = " ".join(
        [str(c["props"].get("value")) for c in components if c["type"] == "markdown"] + [label for label, _ in choices]
    )
    assert "`checkpoints/base`" in shown and "outputs/toy/round1" in shown and "me/toy-thinkprune-iter70" in shown
    assert str(tmp_path) not in shown

    monkeypatch.chdir(tmp_path)
    assert display_name(str(local)) == "work/outputs/toy/round1"
    monkeypatch.chdir(local)  # outside the working directory: the folder's name
    assert display_name(str(base)) == "base"


def test_half_precision_checkpoints_load_in_bfloat16_on_cpu(tiny_checkpoint, tmp_path):
    import torch
    from transformers import AutoConfig

    half = shutil.copytree(tiny_checkpoint, tmp_path / "half")
    config = AutoConfig.from_pretrained(half)
    config.dtype = "bfloat16"
    config.save_pretrained(half)
    registry = ModelRegistry("cpu")
    assert registry.dtype_for(str(tiny_checkpoint)) == torch.float32
    assert registry.dtype_for(str(half)) == torch.bfloat16
    assert registry.get(str(half)).model.dtype == torch.bfloat16
    assert ModelRegistry("cpu", "float32").dtype_for(str(half)) == torch.float32


def test_models_too_big_for_the_machine_are_refused_before_loading(tiny_checkpoint, monkeypatch):
    import demo.models

    registry = ModelRegistry("cpu")
    registry.check_memory([str(tiny_checkpoint)] * 2)  # a few hundred kB: fits
    monkeypatch.setattr(demo.models, "available_memory_bytes", lambda device: 100_000)
    with pytest.raises(UserError, match=r"need about .* GiB .* more memory or a GPU \(ZeroGPU\)"):
        registry.check_memory([str(tiny_checkpoint)])
    assert not registry._models


def test_models_too_big_for_a_dedicated_gpu_are_refused_before_loading(tiny_checkpoint, monkeypatch):
    """A T4 or A10G Space: the weights are checked against the GPU's free memory, as a CPU Space's against its RAM,
    rather than failing at load with CUDA out of memory; --device cuda where torch sees no GPU is one line. ZeroGPU
    has no GPU at startup: not checked there."""
    import demo.models
    import demo.ui

    asked = []

    def gpu_memory(device):
        asked.append(device)
        return 10_000

    monkeypatch.setattr(demo.models, "available_memory_bytes", gpu_memory)
    with pytest.raises(UserError, match=r"^--device cuda, but torch sees no CUDA GPU here: use --device auto or cpu$"):
        ModelRegistry("cuda").check_memory([str(tiny_checkpoint)])
    monkeypatch.setattr(demo.models.torch.cuda, "is_available", lambda: True)
    with pytest.raises(UserError, match=r"this GPU has .* free: pick a GPU with more memory, serve fewer rounds"):
        ModelRegistry("cuda").check_memory([str(tiny_checkpoint)])
    assert asked == ["cuda"]

    class NothingLoads(ModelRegistry):
        def preload(self, names):
            return {}

    monkeypatch.setattr(demo.ui, "on_zero_gpu", lambda: True)
    monkeypatch.setattr(
        demo.ui, "build_demo", lambda config, registry: types.SimpleNamespace(launch=lambda **kwargs: None)
    )
    demo.ui.launch(DemoConfig(base=str(tiny_checkpoint)), registry=NothingLoads("cuda"))
    assert asked == ["cuda"]


def test_every_configured_round_is_loaded_at_startup(monkeypatch):
    import gradio as gr

    from demo.ui import launch

    loaded = []

    class RecordingRegistry(ModelRegistry):
        def preload(self, names):
            loaded.extend(names)
            return {}

    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kwargs: None)
    launch(DemoConfig(base="org/base", pruned=["org/round1", "org/round2"]), registry=RecordingRegistry("cpu"))
    assert loaded == ["org/base", "org/round1", "org/round2"]


@pytest.mark.slow
def test_budget_forcing_on_the_toy(registry):
    """The real toy, greedy: forced at 40 tokens (mid column steps) it closes its thinking with its own answer
    sentence and answers; the shipped pruned round, with a budget beyond its short response, is left alone."""
    from thinkprune.budget import FORCE_ANSWER_TOKENS, lead_in_ids
    from thinkprune.toy import TOY_ANSWER_LEAD

    problem = toy_examples()[0]["problem"]
    pruned = str(REPO_ROOT / "checkpoints" / "toy" / "round3")
    panes = [Pane("base", "toy", force_budget=40), Pane("pruned", pruned, force_budget=200)]
    forced, free = list(
        stream_pair(panes, registry.get, problem, SamplingSettings(256, 0.0, 1.0), 1024, threading.Event())
    )[-1]
    tokenizer = registry.get("toy").tokenizer
    lead = lead_in_ids(tokenizer, TOY_ANSWER_LEAD)
    assert forced["forced_at"] == 40 and panes[0].ids[40 : 40 + len(lead)] == lead
    assert 40 + len(lead) < forced["num_tokens"] <= 40 + len(lead) + FORCE_ANSWER_TOKENS
    assert forced["status"] in ("finished", "limit") and forced["answer"].startswith("The answer is \\boxed{")
    assert "</think>" not in tokenizer.decode(panes[0].ids[:40])
    assert free["forced_at"] is None and free["status"] == "finished" and free["num_tokens"] < 256
