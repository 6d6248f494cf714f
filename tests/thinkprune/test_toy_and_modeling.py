"""The embedded toy (traces, tokenizer, chat template) and the one checkpoint loader."""

import random
import re

import pytest

from thinkprune.errors import UserError
from thinkprune.grading import grade
from thinkprune.modeling import TOKENIZER_PROBE, load_model, load_tokenizer
from thinkprune.toy import (
    BOXED,
    EVAL_SUFFIX,
    LEVEL_DIGITS,
    RECHECK_HEADER,
    ToySFTConfig,
    anatomy,
    level_of,
    make_completion,
    make_problems,
    noisy_guess,
    parse_operands,
    sample_completion,
    solve_steps,
)


def test_trace_holds_a_guess_then_the_work_then_rechecks_then_the_boxed_answer():
    completion = make_completion(478, 596, num_rechecks=2, guess=1084)
    assert completion.startswith("Quick guess: \\boxed{1084}.\n" + solve_steps(478, 596))
    assert "8+6+0=14\n7+9+1=17\n4+5+1=10\nSo \\boxed{1074}." in completion
    assert completion.count(RECHECK_HEADER) == 2
    # A re-check adds every column again, operands swapped: it is computed, not a copy of the work.
    assert f"{RECHECK_HEADER} 596+478.\n6+8+0=14\n9+7+1=17\n5+4+1=10\nSo \\boxed{{1074}}." in completion
    assert completion.endswith("</think>\n\nThe answer is \\boxed{1074}.")
    assert grade(completion, "1074") and not grade(completion, "1084")


def test_a_trace_that_stops_at_its_guess_answers_with_it():
    completion = make_completion(478, 596, num_rechecks=3, guess=1084, work=False)
    assert completion == "Quick guess: \\boxed{1084}.\n</think>\n\nThe answer is \\boxed{1084}."


def test_problems_come_in_three_levels_of_growing_operands():
    rows = make_problems("test", 30, seed=0)
    assert [row["level"] for row in rows[:6]] == [1, 2, 3, 1, 2, 3]
    for row in rows:
        a, b = parse_operands(row["problem"])
        assert len(str(a)) == len(str(b)) == LEVEL_DIGITS[row["level"]] and level_of(a, b) == row["level"]


def test_the_necessary_work_grows_with_the_level_and_a_recheck_costs_more_on_harder_problems(tiny_checkpoint):
    """What the toy must think through before it can know the answer (a work pass) is at least twice as long on the
    hardest level as a right guess on the easiest, and every redundant re-check is longer the harder the problem."""
    tokenizer = load_tokenizer(str(tiny_checkpoint))

    def tokens(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    guess_only, work, recheck = {}, {}, {}
    for level, digits in LEVEL_DIGITS.items():
        a = b = int("7" * digits)
        guess_only[level] = tokens(make_completion(a, b, 0, work=False))
        work[level] = tokens(make_completion(a, b, 0))
        recheck[level] = tokens(make_completion(a, b, 1)) - work[level]
    assert guess_only[1] < work[1] < work[2] < work[3] and recheck[1] < recheck[2] < recheck[3]
    assert work[3] >= 2 * guess_only[1]


def test_the_trace_mix_has_its_shares_and_forced_traces_answer_with_the_last_box_so_far(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    sft, rng = ToySFTConfig(), random.Random(0)
    kinds = {"guess only": 0, "no re-check": 0, "re-checks": 0, "forced": 0}
    for _ in range(1000):
        a, b = 482193, 390745
        completion = sample_completion(rng, a, b, sft, tokenizer)
        thinking, answer = completion.split("</think>")
        parts = anatomy(completion, a, b)
        if not thinking.endswith("}.\n"):  # cut mid-pass: forced
            kinds["forced"] += 1
            assert BOXED.findall(answer) == [parts["boxes"][-1] if parts["boxes"] else str(a + b)]
            continue
        kinds["re-checks" if parts["rechecks"] else "no re-check" if parts["work_complete"] else "guess only"] += 1
        assert BOXED.findall(answer) == parts["boxes"][-1:]
        assert parts["rechecks"] <= sft.max_rechecks
    # A forced cut can fall right after a pass, so a few forced traces count as unforced: shares within 4 points.
    unforced = 1 - sft.forced_share
    assert abs(kinds["guess only"] / 1000 - sft.guess_only_share * unforced) < 0.04
    assert abs(kinds["no re-check"] / 1000 - sft.no_recheck_share * unforced) < 0.04
    assert abs(kinds["forced"] / 1000 - sft.forced_share) < 0.04


def test_guesses_are_more_often_wrong_the_more_digits_the_sum_has():
    rng = random.Random(0)
    right = {
        digits: sum(noisy_guess(rng, total, 0.15) == total for _ in range(2000))
        for digits, total in ((3, 123), (7, 1234567))
    }
    assert right[3] > right[7] and all(len(str(noisy_guess(rng, 100, 0.9))) == 3 for _ in range(50))


def test_anatomy_reads_what_a_response_spent_its_tokens_on():
    full = anatomy(make_completion(4821, 3907, 2, guess=8738), 4821, 3907)
    assert full == {
        "boxes": ["8738", "8728", "8728", "8728"],
        "work_started": True,
        "work_complete": True,
        "rechecks": 2,
        "closed": True,
    }
    slipped = make_completion(4821, 3907, 0).replace("8+9+0=17", "8+9+0=16")
    assert anatomy(slipped, 4821, 3907)["work_complete"] is False
    cut = make_completion(4821, 3907, 1)[:120]
    assert anatomy(cut, 4821, 3907) == {
        "boxes": ["8728"],
        "work_started": True,
        "work_complete": False,
        "rechecks": 0,
        "closed": False,
    }
    guess_only = anatomy(make_completion(4821, 3907, 0, work=False), 4821, 3907)
    assert guess_only["closed"] and not guess_only["work_started"] and guess_only["boxes"] == ["8728"]


def test_chat_template_prefills_think_like_r1_distill(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    problem = make_problems("test", 1, 0)[0]["problem"]
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": problem + EVAL_SUFFIX}], tokenize=False, add_generation_prompt=True
    )
    assert text == f"<|begin_of_text|><|User|>{problem}{EVAL_SUFFIX}<|Assistant|><think>\n"


def test_saved_toy_tokenizer_round_trips_through_load_tokenizer(tiny_checkpoint):
    tokenizer = load_tokenizer(str(tiny_checkpoint))
    ids = tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == TOKENIZER_PROBE
    digits = tokenizer.convert_ids_to_tokens(tokenizer("1234", add_special_tokens=False)["input_ids"])
    assert digits == ["1", "2", "3", "4"]
    assert tokenizer.convert_tokens_to_ids("</think>") != tokenizer.unk_token_id


def test_a_tokenizer_that_disagrees_with_its_tokenizer_json_is_replaced(tiny_checkpoint, monkeypatch):
    """transformers may rebuild a declared class's own pre-tokenizer (transformers#45488): never train with it."""
    import transformers
    from tokenizers import pre_tokenizers

    rebuild = transformers.PreTrainedTokenizerFast.from_pretrained(str(tiny_checkpoint))
    rebuild.backend_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()  # what the Llama rebuild installs
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *args, **kwargs: rebuild)
    assert rebuild.decode(rebuild(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]) != TOKENIZER_PROBE

    tokenizer = load_tokenizer(str(tiny_checkpoint))
    assert tokenizer is not rebuild
    assert tokenizer.decode(tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]) == TOKENIZER_PROBE


def test_unknown_model_is_a_one_line_error(tmp_path):
    for load in (load_tokenizer, load_model):
        with pytest.raises(UserError, match=re.escape(str(tmp_path / "missing"))) as error:
            load(str(tmp_path / "missing"))
        assert "\n" not in str(error.value) and "'toy'" in str(error.value)


def test_the_shipped_toy_base_is_what_the_build_command_makes():
    """checkpoints/toy/base came from `python -m thinkprune.toy` with the defaults (seed 0): same tokenizer, same
    architecture, same SFT settings. Rebuilding it whole takes minutes: test_rebuilding_the_toy_base_*."""
    import json

    from tokenizers import Tokenizer

    from thinkprune.paths import TOY_CHECKPOINTS
    from thinkprune.toy import TOY_RECORD, ToyModelConfig, ToySFTConfig, build_tokenizer

    shipped = TOY_CHECKPOINTS / "base"
    record = json.loads((shipped / TOY_RECORD).read_text())
    assert record["sft"] == vars(ToySFTConfig()) and record["model"] == vars(ToyModelConfig())
    rebuilt = build_tokenizer(seed=record["sft"]["seed"])
    assert rebuilt.backend_tokenizer.get_vocab() == Tokenizer.from_file(str(shipped / "tokenizer.json")).get_vocab()
    config = load_model(str(shipped)).config
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (128, 4, len(rebuilt))


@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("os").environ.get("THINKPRUNE_REBUILD_TOY"),
    reason="about half an hour on 2 cores: THINKPRUNE_REBUILD_TOY=1",
)
def test_rebuilding_the_toy_base_reaches_the_shipped_accuracy(tmp_path):
    from eval.evaluate import EvalConfig, evaluate
    from thinkprune.paths import TOY_CHECKPOINTS
    from thinkprune.toy import train_base

    rebuilt = train_base(tmp_path / "base")
    common = dict(benchmarks="toy", num_samples=1, limit=100)
    ours = evaluate(EvalConfig(model=str(rebuilt), output_dir=str(tmp_path / "rebuilt"), **common))
    shipped = evaluate(EvalConfig(model=str(TOY_CHECKPOINTS / "base"), output_dir=str(tmp_path / "shipped"), **common))
    assert abs(ours["benchmarks"]["toy"]["pass@1"] - shipped["benchmarks"]["toy"]["pass@1"]) <= 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no_recheck_share", "1.5"], "between 0 and 1"),
        (["--guess_only_share", "0.6", "--no_recheck_share", "0.6"], "their sum must be at most 1"),
        (["--min_rechecks", "5", "--max_rechecks", "3"], "0 <= min_rechecks <= max_rechecks"),
        (["--max_rechecks", "21"], "over the toy's context of 1024: lower --max_rechecks"),
    ],
)
def test_a_trace_mix_the_toy_cannot_learn_is_refused_before_anything_is_written(args, message, tmp_path, capsys):
    from thinkprune.toy import main

    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--num_train_problems", "4", "--output_dir", str(tmp_path / "base")])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in error and error.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
