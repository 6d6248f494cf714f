"""The embedded toy (traces, tokenizer, chat template) and the one checkpoint loader."""

import re

import pytest

from thinkprune.errors import UserError
from thinkprune.grading import grade
from thinkprune.modeling import TOKENIZER_PROBE, load_model, load_tokenizer
from thinkprune.toy import EVAL_SUFFIX, RECHECK_HEADER, ToySFTConfig, make_completion, make_problems, solve_steps


def test_trace_holds_the_steps_then_redundant_rechecks_then_the_boxed_answer():
    completion = make_completion(478, 596, num_rechecks=2)
    assert completion.startswith(solve_steps(478, 596))
    assert completion.count(RECHECK_HEADER) == 2
    assert "8+6+0=14\n7+9+1=17\n4+5+1=10\nSo \\boxed{1074}." in completion
    assert completion.endswith("</think>\n\nThe answer is \\boxed{1074}.")
    assert grade(completion, "1074") and not grade(completion, "1075")


def test_the_answer_is_boxed_before_the_checks_like_r1():
    """A response cut during the re-checks already holds a box: `grade` truncation rewards it, `zero` does not."""
    completion = make_completion(123, 456, num_rechecks=3)
    cut = completion[: completion.index(RECHECK_HEADER) + len(RECHECK_HEADER) + 5]
    assert "</think>" not in cut and grade(cut, "579")


def test_waste_grows_with_rechecks():
    lengths = [len(make_completion(123, 456, k)) for k in range(ToySFTConfig().max_rechecks + 1)]
    assert lengths == sorted(lengths) and lengths[-1] > 3 * lengths[0]


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
