"""The demo served for real: gradio_client and a headless Chromium against the app launched in-process.

The compared checkpoints are tiny random Qwen2 models (tests/conftest.py). Two of them are "scripted": their
generation_config carries a `sequence_bias` that makes them write one known toy trace (thinking, `</think>`, boxed
answer, EOS) whatever the problem, like a long and a short thinker would; the app code cannot tell the difference,
and the tests know exactly which ids they generate. The others emit random tokens (streaming and fault tests).
"""

import os
import shutil
import time
from pathlib import Path

import pytest

from thinkprune.records import RoundRecord
from thinkprune.toy import RECHECK_HEADER


pytestmark = pytest.mark.slow
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from scripts.screenshot_demo import CHROMIUM  # noqa: E402  (the one set of browser flags)


def toy_example():
    from demo.ui import toy_examples

    return toy_examples()[0]


def copy_checkpoint(source: Path, path: Path) -> Path:
    shutil.copytree(source, path)
    return path


def build_scripted_checkpoint(source: Path, path: Path, completion: str) -> list[int]:
    """A copy of `source` that generates `completion` + EOS; returns those ids (what the app must count)."""
    from transformers import GenerationConfig

    from thinkprune.modeling import load_tokenizer
    from thinkprune.prompts import eval_prompt_ids

    copy_checkpoint(source, path)
    tokenizer = load_tokenizer(str(path))
    anchor = eval_prompt_ids(tokenizer, "any problem")[-3:]  # the template's tail, the same for every problem
    ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    config = GenerationConfig.from_pretrained(path)
    # Each next id is biased given everything written so far; longer contexts get larger biases, so that a shorter
    # key that happens to match too never wins.
    config.sequence_bias = [[anchor + ids[: i + 1], 50.0 * (i + 1)] for i in range(len(ids))]
    config.save_pretrained(path)
    return ids


def as_round(path: Path, index: int, limit: int) -> Path:
    RoundRecord(index, limit, "toy", "toy", ["toy"], finished_at="2026-01-01T00:00:00+00:00").write(path)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_checkpoint):
    """The app on 127.0.0.1 comparing a scripted long thinker with four pruned "rounds": random tokens, a broken
    model (generation fails), a checkpoint that is missing (loading fails), and a scripted short thinker."""
    from demo.config import parse_config
    from demo.models import ModelRegistry
    from demo.ui import free_port, launch
    from thinkprune.toy import make_completion, parse_operands

    root = tmp_path_factory.mktemp("demo_app")
    operands = parse_operands(toy_example()["problem"])
    base_ids = build_scripted_checkpoint(tiny_checkpoint, root / "base", make_completion(operands, num_rechecks=1))
    pruned_ids = build_scripted_checkpoint(tiny_checkpoint, root / "round4", make_completion(operands, num_rechecks=0))
    as_round(root / "round4", 4, 60)
    as_round(copy_checkpoint(tiny_checkpoint, root / "round1"), 1, 120)
    broken = copy_checkpoint(tiny_checkpoint, root / "round2")
    from thinkprune.modeling import load_model

    model = load_model(str(broken))
    model.resize_token_embeddings(8)  # every prompt id is out of range: generation raises
    model.save_pretrained(broken)
    as_round(broken, 2, 90)

    names = [str(root / name) for name in ("round1", "round2", "round3", "round4")]
    config = parse_config(["--base", str(root / "base"), "--pruned", *names, "--max_problem_chars", "500"], environ={})
    registry = ModelRegistry("cpu")
    port = free_port()
    demo = launch(config, registry, prevent_thread_lock=True, server_port=port, quiet=True)
    yield {
        "url": f"http://127.0.0.1:{port}/",
        "rounds": dict(zip(("random", "broken", "missing", "scripted"), names)),
        "base_ids": base_ids,
        "pruned_ids": pruned_ids,
        "registry": registry,
        "config": config,
    }
    demo.close()


def client(served):
    from gradio_client import Client

    return Client(served["url"], verbose=False)


def compare(
    served,
    problem,
    gold="",
    round_name="scripted",
    max_new_tokens=300,
    temperature=0.0,
    top_p=0.95,
    on_update=None,
    session=None,
    force_budget=None,
):
    """Run the /compare endpoint and return every streamed update's raw result (the hidden JSON output)."""
    job = (session or client(served)).submit(
        problem,
        gold,
        served["rounds"].get(round_name, round_name),
        max_new_tokens,
        temperature,
        top_p,
        force_budget is not None,
        force_budget,
        api_name="/compare",
    )
    updates = []
    for output in job:
        updates.append(output)
        if on_update:
            on_update(output[-1])
    return updates


def reference_generation(served, name: str, problem: str, max_new_tokens: int) -> list[int]:
    """What `name` generates greedily for `problem`, straight from transformers: the real generated ids."""
    import torch

    from thinkprune.prompts import eval_prompt_ids

    loaded = served["registry"].get(name)
    prompt = eval_prompt_ids(loaded.tokenizer, problem)
    output = loaded.model.generate(
        torch.tensor([prompt]), max_new_tokens=max_new_tokens, do_sample=False, temperature=1.0, top_p=1.0, top_k=0
    )
    return output[0, len(prompt) :].tolist()


def test_both_panes_stream_at_once_with_exact_token_counts(served):
    problem = toy_example()["problem"]
    updates = compare(served, problem, round_name="random", max_new_tokens=300)
    results = [output[-1] for output in updates]
    both_running = [
        r
        for r in results
        if r["base"]["num_tokens"] > 0
        and r["pruned"]["num_tokens"] > 0
        and not r["base"]["done"]
        and not r["pruned"]["done"]
    ]
    assert both_running, "no update carried tokens of both panes while both were still generating"
    counts = [(r["base"]["num_tokens"], r["pruned"]["num_tokens"]) for r in results]
    assert counts == sorted(counts) and len(set(counts)) > 3  # counts only grow, over several updates

    final = results[-1]
    assert final["done"] and final["base"]["status"] == "finished" and final["pruned"]["status"] == "limit"
    assert final["base"]["num_tokens"] == len(served["base_ids"])
    random_ids = reference_generation(served, served["rounds"]["random"], problem, 300)
    assert final["pruned"]["num_tokens"] == len(random_ids) == 300
    tokenizer = served["registry"].get(served["rounds"]["random"]).tokenizer
    assert final["pruned"]["text"] == tokenizer.decode(random_ids, skip_special_tokens=True)
    # The page shows the same exact counts.
    base_stats, pruned_stats = updates[-1][0], updates[-1][3]
    assert base_stats.startswith(f"**{len(served['base_ids'])} tokens**") and "finished" in base_stats
    assert pruned_stats.startswith("**300 tokens**") and "limit" in pruned_stats


def test_saving_and_correctness_marks(served):
    example = toy_example()
    final = compare(served, example["problem"], gold=example["answer"])[-1]
    base_stats, base_thinking, base_answer, pruned_stats, pruned_thinking, pruned_answer, verdict, result = final
    base_tokens, pruned_tokens = len(served["base_ids"]), len(served["pruned_ids"])
    assert (result["base"]["num_tokens"], result["pruned"]["num_tokens"]) == (base_tokens, pruned_tokens)
    assert result["token_ratio"] == pytest.approx(pruned_tokens / base_tokens)
    assert RECHECK_HEADER in base_thinking and "Wait" not in pruned_thinking
    assert "</think>" not in base_thinking + base_answer
    answer = f"The answer is \\boxed{{{example['answer']}}}."
    assert result["base"]["answer"] == result["pruned"]["answer"] == answer
    rendered = f"The answer is $\\boxed{{{example['answer']}}}$."  # in a math span, so that the page renders it
    assert base_answer.startswith(rendered) and pruned_answer.startswith(rendered)
    assert "✓ correct" in base_answer and "✓ correct" in pruned_answer
    ratio = round(100 * pruned_tokens / base_tokens)
    assert f"The pruned model used **{ratio}%** of the original's tokens ({pruned_tokens} vs {base_tokens}" in verdict
    assert f"Original: ✓ correct · Pruned: ✓ correct (reference answer: ${example['answer']}$)" in verdict

    wrong = compare(served, example["problem"], gold=str(int(example["answer"]) + 1))[-1]
    assert "Original: ✗ incorrect · Pruned: ✗ incorrect" in wrong[6]
    assert result["base"]["correct"] is True and wrong[-1]["pruned"]["correct"] is False
    # A reference only math-verify can match, graded inside the Gradio handler's worker thread (no SIGALRM there).
    fraction = compare(served, example["problem"], gold=f"\\frac{{{2 * int(example['answer'])}}}{{2}}")[-1]
    assert fraction[-1]["base"]["correct"] is True and "Original: ✓ correct · Pruned: ✓ correct" in fraction[6]
    unmarked = compare(served, example["problem"])[-1]
    assert "correct" not in unmarked[6] and unmarked[-1]["base"]["correct"] is None


def test_bad_input_gets_a_message_in_the_page(served):
    empty = compare(served, "   ")[-1]
    assert "Type a math problem" in empty[6] and empty[-1]["base"]["num_tokens"] == 0
    too_long = compare(served, "What is 1 + 1? " * 50)[-1]
    assert "749 characters long; this demo takes up to 500" in too_long[6]
    # Only configured checkpoints can be loaded: the API cannot make the Space download or read anything else.
    with pytest.raises(Exception, match="not in the list of choices"):
        client(served).predict("What is 1 + 1?", "", "/etc/somewhere", 10, 0.6, 0.95, False, None, api_name="/compare")


def test_the_original_can_be_budget_forced_beside_the_pruned_model(served):
    from thinkprune.budget import FORCE_ANSWER_TOKENS, lead_in_ids
    from thinkprune.modeling import load_tokenizer

    example = toy_example()
    tokenizer = load_tokenizer(str(served["config"].base))
    lead = lead_in_ids(tokenizer, "\n</think>\n\n**Final Answer**\n\\boxed{")  # the base is no toy lineage
    final = compare(served, example["problem"], gold=example["answer"], force_budget=12)[-1]
    base_stats, result, verdict = final[0], final[-1], final[6]
    base = result["base"]
    # The scripted base is still thinking at 12 tokens: its first 12 ids, the lead-in, then a short answer.
    assert base["forced_at"] == 12 and base["force_budget"] == 12
    assert base["num_tokens"] <= 12 + len(lead) + FORCE_ANSWER_TOKENS
    assert base["text"].startswith(tokenizer.decode(served["base_ids"][:12] + lead, skip_special_tokens=True))
    assert base["answer"] is not None and base["answer"].startswith("**Final Answer**")
    assert "forced to answer at 12 tokens" in base_stats and "budget-forced: at 12 tokens" in verdict
    assert result["pruned"]["num_tokens"] == len(served["pruned_ids"]) and result["pruned"]["forced_at"] is None

    roomy = compare(served, example["problem"], force_budget=250)[-1][-1]["base"]
    assert roomy["forced_at"] is None and roomy["num_tokens"] == len(served["base_ids"])  # done within its budget
    # Forcing asked for with the budget field left empty (a Hub round has no typical length to fill it with).
    refused = client(served).predict(
        example["problem"], "", served["rounds"]["scripted"], 300, 0.0, 0.95, True, None, api_name="/compare"
    )
    assert "Give the token budget" in refused[6] and refused[-1]["base"]["num_tokens"] == 0


def test_a_failing_model_is_reported_and_the_app_keeps_serving(served):
    problem = toy_example()["problem"]
    missing = compare(served, problem, round_name="missing")[-1]
    assert missing[-1]["pruned"]["status"] == "error" and "round3" in missing[5]
    assert missing[-1]["base"]["status"] == "finished" and missing[-1]["base"]["num_tokens"] == len(served["base_ids"])
    assert "No comparison: the pruned model failed" in missing[6]

    broken = compare(served, problem, round_name="broken")[-1]
    assert broken[-1]["pruned"]["status"] == "error" and "IndexError" in broken[5]
    assert broken[-1]["base"]["status"] == "finished"

    healthy = compare(served, problem)[-1]
    assert healthy[-1]["done"] and healthy[-1]["pruned"]["status"] == "finished"


def test_stop_button_stops_both_models(served):
    session = client(served)
    stopped_at = []

    def press_stop(result):
        if not stopped_at and result["base"]["num_tokens"] > 0 and result["pruned"]["num_tokens"] > 0:
            session.predict(api_name="/stop")
            stopped_at.append(time.perf_counter())

    # The random round never draws EOS greedily and the scripted base is too short to matter: ask for a lot.
    final = compare(
        served, "What is 1 + 2?", round_name="random", max_new_tokens=20_000, on_update=press_stop, session=session
    )[-1][-1]
    assert stopped_at and time.perf_counter() - stopped_at[0] < 10
    assert final["pruned"]["status"] == "stopped" and final["pruned"]["num_tokens"] < 20_000


def test_a_comparison_is_stopped_at_the_time_limit(served, monkeypatch):
    monkeypatch.setattr(served["config"], "max_seconds", 1)  # the running app reads its settings object
    started = time.perf_counter()
    final = compare(served, "What is 1 + 2?", round_name="random", max_new_tokens=20_000)[-1]
    assert time.perf_counter() - started < 15
    assert final[-1]["pruned"]["status"] == "stopped" and final[-1]["pruned"]["num_tokens"] < 20_000
    assert "Stopped at this demo's limit of 1 s per comparison." in final[6]


def test_two_users_are_served_at_once(served):
    """Two sessions started together both stream before either finishes (concurrency limit 2, shared models)."""
    import threading

    first_tokens, finished, errors = {}, {}, []

    def user(name):
        started = time.perf_counter()

        def on_update(result):
            if name not in first_tokens and result["base"]["num_tokens"] > 0 and result["pruned"]["num_tokens"] > 0:
                first_tokens[name] = time.perf_counter()
                first_tokens[name + "_latency"] = first_tokens[name] - started

        try:
            compare(served, "What is 1 + 2?", round_name="random", max_new_tokens=400, on_update=on_update)
            finished[name] = time.perf_counter()
        except Exception as error:  # reported below: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=user, args=(name,)) for name in ("alice", "bob")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and set(finished) == {"alice", "bob"}
    assert max(first_tokens["alice"], first_tokens["bob"]) < min(finished.values())
    print(
        f"click to first tokens of both panes, two users at once: {first_tokens['alice_latency']:.2f} s and "
        f"{first_tokens['bob_latency']:.2f} s"
    )


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_browser_runs_an_example_and_shows_both_panes(served, tmp_path):
    from scripts.screenshot_demo import run_example_in_browser
    from thinkprune.toy import make_completion, parse_operands

    example = toy_example()
    shown = run_example_in_browser(served["url"], example, tmp_path / "demo.png")
    for role, ids in (("base", served["base_ids"]), ("pruned", served["pruned_ids"])):
        assert shown[role]["stats"].startswith(f"{len(ids)} tokens") and "finished" in shown[role]["stats"]
        first_line = make_completion(parse_operands(example["problem"]), 0).splitlines()[0]
        assert shown[role]["thinking"].startswith(first_line)
        assert shown[role]["answer"].startswith("The answer is") and example["answer"] in shown[role]["answer"]
        assert "\\boxed" not in shown[role]["answer"]  # rendered as math, not shown as LaTeX source
        assert "✓ correct" in shown[role]["answer"]
    assert "of the original's tokens" in shown["verdict"]
    assert (tmp_path / "demo.png").stat().st_size > 10_000
