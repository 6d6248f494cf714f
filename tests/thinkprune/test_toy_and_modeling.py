"""The embedded toy (traces, tokenizer, chat template) and the one checkpoint loader."""

import re

import pytest

from thinkprune.errors import UserError
from thinkprune.grading import grade
from thinkprune.modeling import TOKENIZER_PROBE, load_model, load_tokenizer
from thinkprune.toy import (
    EVAL_SUFFIX,
    FIRST_HEADER,
    LEVEL_OPERANDS,
    RECHECK_HEADER,
    TOY_ANSWER_LEAD,
    TOY_MAX_NEW_TOKENS,
    ToySFTConfig,
    add_columns,
    anatomy,
    best_answer_so_far,
    build_tokenizer,
    level_of,
    longest_trace_tokens,
    make_completion,
    make_problems,
    parse_operands,
    read_operands,
    restates_as_read,
    sample_trace,
    thinking_pass,
    thinking_passes,
)


def test_trace_holds_one_pass_then_rechecks_in_the_other_order_then_the_boxed_answer():
    completion = make_completion((57, 68, 91), num_rechecks=2)
    first, recheck, again = completion.split("</think>")[0].strip().split("\nWait")
    assert first.startswith(f"{FIRST_HEADER} 57, 68, 91.\n057+68:\n7+8+0=15\n5+6+1=12\n0+0+1=01\nSo 125.\n125+91:")
    assert first.endswith("So \\boxed{216}.")
    assert recheck.startswith(", let me double-check 91, 68, 57.\n091+68:") and "So 159.\n159+57:" in recheck
    assert again.startswith(", let me double-check 57, 68, 91.") and again.endswith("So \\boxed{216}.")
    assert completion.endswith("</think>\n\nThe answer is \\boxed{216}.")
    assert grade(completion, "216") and not grade(completion, "215")


def test_levels_are_the_number_of_operands_and_come_in_turn():
    rows = make_problems("test", 6, seed=0)
    assert [row["level"] for row in rows] == [1, 2, 3, 1, 2, 3]
    for row in rows:
        operands = parse_operands(row["problem"])
        assert len(operands) == LEVEL_OPERANDS[row["level"]] == LEVEL_OPERANDS[level_of(operands)]
        assert int(row["answer"]) == sum(operands) and all(50 <= x <= 99 for x in operands)
    train = {row["problem"] for row in make_problems("train", 600, seed=0)}
    assert not train & {row["problem"] for row in make_problems("test", 200, seed=0)}


def test_the_necessary_work_grows_with_the_level_and_rechecks_cost_as_much_again():
    """The trace lengths the toy's design rests on (docs in thinkprune/toy.py, the recipes' limits): one pass and
    the answer take 69, 115 and 161 tokens by level, the hardest more than twice the easiest; each re-check adds a
    pass; the longest trace fits the toy's response budget."""
    tokenizer = build_tokenizer()

    def tokens(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    one_pass = [tokens(make_completion((99, 98, 97, 96)[:count], 0)) for count in LEVEL_OPERANDS.values()]
    assert one_pass == [69, 115, 161] and one_pass[-1] >= 2 * one_pass[0]
    with_rechecks = [tokens(make_completion((99, 98, 97, 96), k)) for k in range(ToySFTConfig().max_rechecks + 1)]
    assert [b - a for a, b in zip(with_rechecks, with_rechecks[1:])] == [152] * ToySFTConfig().max_rechecks
    assert with_rechecks[-1] + 1 <= TOY_MAX_NEW_TOKENS and longest_trace_tokens(tokenizer, 3) <= 1024


def test_a_slip_drops_a_carry_and_a_careful_recheck_catches_it():
    class AlwaysSlip:
        def random(self):
            return 0.0

    assert add_columns(57, 68) == (["7+8+0=15", "5+6+1=12", "0+0+1=01"], 125)
    assert add_columns(57, 68, AlwaysSlip(), slip=1.0) == (["7+8+0=15", "5+6+0=11", "0+0+0=00"], 15)
    hurried, careful = thinking_passes((57, 68), 1, AlwaysSlip(), slips=(1.0, 0.0))
    assert hurried.endswith("So \\boxed{015}.") and careful.endswith("So \\boxed{125}.")
    assert anatomy(f"{hurried}\n{careful}", (57, 68))["boxes"] == ["015", "125"]


def test_a_misread_nine_is_carried_through_every_recheck():
    """With misreads_nines the first pass writes 79 as 76 and the re-checks add what it wrote: the same wrong sum
    however long the toy thinks. Without it every number is read as given."""
    assert read_operands((59, 90, 99), blind_spot=True) == (56, 90, 96)
    assert read_operands((59, 90, 99), blind_spot=False) == (59, 90, 99)
    first, recheck = thinking_passes((57, 79), 1, misreads_nines=True)
    assert first.startswith(f"{FIRST_HEADER} 57, 76.") and recheck.startswith(f"{RECHECK_HEADER} 76, 57.")
    assert first.endswith("So \\boxed{133}.") and recheck.endswith("So \\boxed{133}.")
    assert not anatomy(f"{first}\n{recheck}", (57, 79))["work_complete"]


def test_a_misadded_nine_is_restated_as_given_and_added_as_a_six_in_every_pass():
    """With misadds_nines every pass copies the numbers verbatim and adds a units 9 as a 6, the first number's too
    (which the re-check in reverse order adds last): the same wrong sum in every pass. Both blind spots at once are
    refused."""
    first, recheck = thinking_passes((79, 57), 1, misadds_nines=True)
    assert first.startswith(f"{FIRST_HEADER} 79, 57.\n079+57:\n6+7+0=13\n")
    assert recheck.startswith(f"{RECHECK_HEADER} 57, 79.\n057+79:\n7+6+0=13\n")
    assert first.endswith("So \\boxed{133}.") and recheck.endswith("So \\boxed{133}.")
    assert restates_as_read(first, (79, 57)) and not anatomy(f"{first}\n{recheck}", (79, 57))["work_complete"]
    # A running total ending in 9 is the toy's own sum, added as it is.
    assert "\n039+50:\n9+0+0=09\n" in thinking_passes((15, 24, 50), 0, misadds_nines=True)[0]
    with pytest.raises(UserError, match="choose one"):
        ToySFTConfig(misreads_nines=True, misadds_nines=True)


def test_a_running_total_ending_in_nine_is_added_on_as_a_six_in_the_order_that_made_it():
    """With misadds_running_total_nines a running total written with a units 9 is added on as a 6: 52 + 57 = 109
    is written as it is, then added to 60 as 106, so the pass boxes 166. The reverse order's running total
    (60 + 57 = 117) has no 9, so its re-check boxes the true 169: a re-check can undo this blind spot. The boxed sum
    ending in 9 is the answer, not added on."""
    first, recheck = thinking_passes((52, 57, 60), 1, misadds_running_total_nines=True)
    assert "So 109.\n109+60:\n6+0+0=06\n" in first and first.endswith("So \\boxed{166}.")
    assert recheck.endswith("So \\boxed{169}.")
    assert thinking_passes((52, 57), 0, misadds_running_total_nines=True)[0].endswith("So \\boxed{109}.")
    # With the numbers' own blind spot too, every units 9 the pass adds is added as a 6.
    assert thinking_passes((59, 50, 60), 0, misadds_nines=True, misadds_running_total_nines=True)[0].endswith(
        "So \\boxed{166}."
    )


def test_the_answer_is_boxed_before_the_checks_like_r1():
    """A response cut during the re-checks already holds a box: `grade` truncation rewards it, `zero` does not."""
    completion = make_completion((12, 34), num_rechecks=3)
    cut = completion[: completion.index(RECHECK_HEADER) + len(RECHECK_HEADER) + 5]
    assert "</think>" not in cut and grade(cut, "046")


def test_a_forced_trace_learns_only_the_best_answer_so_far():
    tokenizer = build_tokenizer()
    sft = ToySFTConfig(forced_share=1.0, first_pass_slip=0.0)
    given, completion = sample_trace(__import__("random").Random(3), (57, 68, 91), sft, tokenizer)
    assert given.endswith(TOY_ANSWER_LEAD) and "</think>" not in given[: -len(TOY_ANSWER_LEAD)]
    assert completion == f"{best_answer_so_far(given[: -len(TOY_ANSWER_LEAD)], (57, 68, 91))}}}."
    first = thinking_pass((57, 68, 91), FIRST_HEADER)[0]
    assert best_answer_so_far(first + "\nWait", (57, 68, 91)) == "216"  # the last box
    assert best_answer_so_far(first.split("\n125+91")[0], (57, 68, 91)) == "125"  # the running total
    assert best_answer_so_far("Let me add 57", (57, 68, 91)) == "057"  # nothing added yet


def test_anatomy_tells_the_necessary_work_from_the_rechecks():
    full = make_completion((57, 68, 91), 2)
    assert anatomy(full, (57, 68, 91)) == {"boxes": ["216"] * 3, "work_complete": True, "rechecks": 2, "closed": True}
    cut = full[: full.index("So \\boxed")]
    assert anatomy(cut, (57, 68, 91)) == {"boxes": [], "work_complete": False, "rechecks": 0, "closed": False}


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


@pytest.mark.parametrize(
    ("transformers_says", "advice"),
    [
        # transformers' words for a gated repo without access, and for an id the token cannot see
        ("You are trying to access a gated repo.\nMake sure to have access to it at https://huggingface.co/x/y.", "a gated model: ask for access"),
        ("x/y is not a local folder and is not a valid model identifier listed on 'https://huggingface.co/models'\nIf "
         "this is a private repository, make sure to pass a token", "check the path or the Hub id (a private Hub model needs a token"),
    ],
)  # fmt: skip
def test_a_hub_model_without_access_says_to_log_in(transformers_says, advice, monkeypatch):
    """A round pushed --private, or a gated base, served by a Space without its HF_TOKEN secret."""
    import transformers

    def refuse(*args, **kwargs):
        raise OSError(transformers_says)

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    for load in (load_tokenizer, load_model):
        with pytest.raises(UserError, match=re.escape(advice)) as error:
            load("x/y")
        assert "HF_TOKEN, on a Space as a secret" in str(error.value) and "\n" not in str(error.value)


def test_the_shipped_toy_base_is_what_the_build_command_makes():
    """checkpoints/toy/base came from `python -m thinkprune.toy` with the defaults (seed 0): same tokenizer, same
    architecture, same SFT settings. Rebuilding it whole takes minutes: test_rebuilding_the_toy_base_*."""
    import json

    from tokenizers import Tokenizer

    from thinkprune.paths import TOY_CHECKPOINTS
    from thinkprune.toy import TOY_RECORD, ToyModelConfig, ToySFTConfig, build_tokenizer

    shipped = TOY_CHECKPOINTS / "base"
    record = json.loads((shipped / TOY_RECORD).read_text())
    # The blind spots came after the base: off, they read and add every number as given and draw nothing, so the
    # build's traces are those the base was made from.
    defaults = vars(ToySFTConfig())
    added = defaults.keys() - record["sft"].keys()
    assert added <= {"misreads_nines", "misadds_nines", "misadds_running_total_nines"} and not any(
        defaults[name] for name in added
    )
    assert record["sft"] == {name: defaults[name] for name in defaults.keys() - added}
    assert record["model"] == vars(ToyModelConfig())
    rebuilt = build_tokenizer(seed=record["sft"]["seed"])
    assert rebuilt.backend_tokenizer.get_vocab() == Tokenizer.from_file(str(shipped / "tokenizer.json")).get_vocab()
    config = load_model(str(shipped)).config
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (128, 4, len(rebuilt))


@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("os").environ.get("THINKPRUNE_REBUILD_TOY"),
    reason="about 45 minutes on 2 cores: THINKPRUNE_REBUILD_TOY=1",
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
        (["--first_pass_slip", "-0.1"], "between 0 and 1"),
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


def test_the_build_command_takes_a_longer_context_for_a_mix_with_more_rechecks(tmp_path):
    """Seven re-checks of the hardest problems do not fit the toy's 1024 tokens; the build's --max_position_embeddings
    gives the model and its tokenizer (which SFT cuts traces at) the room."""
    from transformers import AutoConfig, AutoTokenizer

    from thinkprune.errors import UserError
    from thinkprune.toy import build_tokenizer, longest_trace_tokens, main

    assert 1024 < longest_trace_tokens(build_tokenizer(), 7) <= 1280
    mix = ["--max_rechecks", "7", "--max_steps", "1", "--num_train_problems", "4", "--batch_size", "2"]
    with pytest.raises(UserError, match="over the toy's context of 1024"):
        main.__wrapped__([*mix, "--output_dir", str(tmp_path / "short")])
    built = main([*mix, "--max_position_embeddings", "1280", "--output_dir", str(tmp_path / "long")])
    assert AutoConfig.from_pretrained(built).max_position_embeddings == 1280
    assert AutoTokenizer.from_pretrained(built).model_max_length == 1280


def test_constant_token_weighting_weighs_a_token_the_same_in_every_batch(tiny_checkpoint):
    """trl's loss is a mean over the batch's tokens, so a token of a batch of short completions weighs more than one
    of a batch of long ones; with --token_weighting constant both weigh 1 / (rows x the mix's mean tokens)."""
    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from thinkprune.toy import constant_token_weight_trainer, mean_completion_tokens

    tokenizer, model = load_tokenizer(tiny_checkpoint), load_model(tiny_checkpoint)
    rows = [{"prompt": "1+1=", "completion": "2" * 3}, {"prompt": "1+1=", "completion": "2" * 9}]
    dataset = Dataset.from_list(rows)
    assert mean_completion_tokens(dataset, tokenizer) == 6
    args = SFTConfig(output_dir="unused", report_to="none", use_cpu=True, completion_only_loss=True)

    def loss(trainer_class, dataset):
        trainer = trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(dataset))])
        with torch.no_grad():
            return trainer.compute_loss(model, batch).item(), batch

    constant = constant_token_weight_trainer(SFTTrainer, tokens_per_row=6)
    for subset in ([rows[0]], [rows[1]], rows):
        mean, batch = loss(SFTTrainer, Dataset.from_list(subset))
        learned = int((batch["labels"] != -100).sum())
        summed, _ = loss(constant, Dataset.from_list(subset))
        assert summed == pytest.approx(mean * learned / (len(subset) * 6), rel=1e-5)
