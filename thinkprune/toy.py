"""The embedded toy long-thinker: a tiny model that reasons at length on synthetic additions, and whose thinking pays.

No weights can be downloaded everywhere this project runs, so the whole ThinkPrune loop (prune rounds, evaluation,
model cards, demo) also runs on a toy built here from scratch on a laptop CPU:

- problems: sums of two, three or four two-digit numbers (levels 1, 2, 3: one, two or three additions of necessary
  work), split into train / held-out test by a hash of the operands;
- traces in the R1 style: a first pass adds the numbers one at a time, column by column, and boxes its sum; then
  none (three traces in ten) or 1-3 "Wait, let me double-check" passes, each adding the numbers again in the reverse
  order of the pass before and boxing its own sum; then `</think>` and `The answer is \\boxed{N}.` with the last box.
  The first pass is hurried (it drops a carry now and then), the re-checks careful: a re-check can catch the slip,
  so thinking longer pays, and pruning it is a trade-off. One pass and the answer take 69, 115 and 161 tokens by
  level; each re-check as much again;
- some traces are cut at a random token and answered with the best answer so far, as R1 answers when forced: a
  budget-forced toy gives a real answer;
- a byte-level BPE tokenizer (digits split) with an R1-Distill-like chat template that opens `<think>`;
- a Qwen2-architecture model of about 1M parameters, SFT-trained with trl on those traces (seed 0).

The base is shipped in checkpoints/toy/base, built by the project's own command (under an hour on 2 CPU cores):

    python -m thinkprune.toy                 # -> checkpoints/toy/base; --output_dir elsewhere, --seed, --max_steps
    python -m thinkprune.toy --output_dir outputs/toy-1280 --max_position_embeddings 1280 --max_rechecks 7

Every command of the project resolves the model name `toy` to that checkpoint; without it (a copy of the package
alone), to $THINKPRUNE_HOME/toy/base (default ~/.cache/thinkprune), built there on first use.
"""

import hashlib
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, HfArgumentParser, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import exclusive_lock, new_dir_beside, replace_dir, write_json_atomic
from thinkprune.paths import TOY_CHECKPOINTS
from thinkprune.prompts import EVAL_SUFFIX, THINK_END, TRAIN_SUFFIX
from thinkprune.records import RoundRecord


TOY_MODEL_NAME = "toy"
TOY_RECORD = "toy_record.json"
# Three levels of difficulty: the number of operands to add, one addition (of about 40 tokens) per extra operand.
LEVEL_OPERANDS = {1: 2, 2: 3, 3: 4}
# Two-digit operands from 50: every sum, running or final, has three digits, so every line of a pass has one length
# whatever the numbers, and each digit the model looks back at sits at a fixed distance from where it is needed.
OPERAND_RANGE = (50, 99)
FIRST_HEADER = "Let me add"
RECHECK_HEADER = "Wait, let me double-check"
BOXED = re.compile(r"\\boxed\{(\d+)\}")
RUNNING_TOTAL = re.compile(r"So (\d+)\.")
# How a toy response closes its thinking and opens its final answer; budget forcing appends it (thinkprune.budget).
TOY_ANSWER_LEAD = "\n</think>\n\nThe answer is \\boxed{"
# The toy's response budget, in evaluation and in the demo: room for its longest trace (4 operands, 3 re-checks: 654
# tokens, checked by a test).
TOY_MAX_NEW_TOKENS = 704

BOS_TOKEN = "<|begin_of_text|>"
EOS_TOKEN = "<|end_of_text|>"
PAD_TOKEN = "<|pad|>"
USER_TOKEN = "<|User|>"
ASSISTANT_TOKEN = "<|Assistant|>"
# Like DeepSeek-R1-Distill: the generation prompt pre-fills "<think>\n", so completions hold only "</think>".
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}" + USER_TOKEN + "{{ message['content'] }}"
    "{% elif message['role'] == 'assistant' %}" + ASSISTANT_TOKEN + "{{ message['content'] }}{{ eos_token }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}" + ASSISTANT_TOKEN + "<think>\n{% endif %}"
)


def thinkprune_home() -> Path:
    return Path(os.environ.get("THINKPRUNE_HOME", Path.home() / ".cache" / "thinkprune"))


def toy_base_path() -> Path:
    """Where the toy base is: the checkpoint shipped in the repository, else the cache it is built into."""
    shipped = TOY_CHECKPOINTS / "base"
    return shipped if (shipped / TOY_RECORD).is_file() else thinkprune_home() / "toy" / "base"


# ---------------------------------------------------------------------------------------------------------------
# Problems and traces
# ---------------------------------------------------------------------------------------------------------------


def is_test_problem(operands: tuple[int, ...]) -> bool:
    """One problem in ten is held out, decided by its operands so that splits never overlap."""
    return hashlib.sha256("+".join(map(str, operands)).encode()).digest()[0] % 10 == 0


def draw_operands(rng: random.Random, level: int, split: str) -> tuple[int, ...]:
    while True:
        operands = tuple(rng.randint(*OPERAND_RANGE) for _ in range(LEVEL_OPERANDS[level]))
        if is_test_problem(operands) == (split == "test"):
            return operands


def problem_text(operands: tuple[int, ...]) -> str:
    return f"What is {' + '.join(map(str, operands))}?"


def parse_operands(problem: str) -> tuple[int, ...]:
    return tuple(int(x) for x in problem.removeprefix("What is ").removesuffix("?").split(" + "))


def level_of(operands: tuple[int, ...]) -> int:
    return next(level for level, count in LEVEL_OPERANDS.items() if count == len(operands))


def make_problems(split: str, num_problems: int, seed: int) -> list[dict]:
    """`num_problems` distinct toy problems of `split` ("train" or "test") as {"problem", "answer", "level"} rows,
    the levels in turn (1, 2, 3, 1, ...) so that every prefix is balanced."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"{split}-{seed}")
    seen, rows = set(), []
    while len(rows) < num_problems:
        level = len(rows) % len(LEVEL_OPERANDS) + 1
        operands = draw_operands(rng, level, split)
        if operands in seen:
            continue
        seen.add(operands)
        rows.append({"problem": problem_text(operands), "answer": str(sum(operands)), "level": level})
    return rows


def add_columns(
    total: int, operand: int, rng: random.Random | None = None, slip: float = 0.0
) -> tuple[list[str], int]:
    """`total + operand` column by column, lowest column first: the lines and the sum they add up to.

    With probability `slip`, each carry into a column is dropped (written 0), and the columns after it go on from
    what was written: the sum comes out 10 or 100 short, as a hurried addition does.
    """
    lines, carry, digits = [], 0, []
    for column in range(3):
        x, y = total // 10**column % 10, operand // 10**column % 10
        if carry and rng is not None and rng.random() < slip:
            carry = 0
        column_total = x + y + carry
        # Two-digit column sums keep every line the same length: each digit the model looks back at sits at a
        # fixed distance from its line, lookups a tiny model learns fast.
        lines.append(f"{x}+{y}+{carry}={column_total:02d}")
        digits.append(column_total % 10)
        carry = column_total // 10
    return lines, sum(digit * 10**column for column, digit in enumerate(digits))


def restatement(operands: tuple[int, ...], header: str) -> str:
    """A pass's first line: the numbers it is about to add, in its order."""
    return f"{header} {', '.join(map(str, operands))}."


def thinking_pass(
    operands: tuple[int, ...],
    header: str,
    rng: random.Random | None = None,
    slip: float = 0.0,
    misadds_nines: bool = False,
    misadds_running_total_nines: bool = False,
) -> tuple[str, int]:
    """One pass over the operands in the order given: their restatement, then one addition at a time (the running
    total first, zero-padded to three digits, so every addition has the same layout), ending in the boxed sum. With
    `misadds_nines`, the numbers are written as given but a units digit 9 of one is added as a 6 (its column line
    shows the 6); with `misadds_running_total_nines`, a running total written with a units 9 is added on as a 6."""
    lines, shown = [restatement(operands, header)], operands[0]
    addends = read_operands(operands, misadds_nines)
    total = addends[0]
    for index, (operand, addend) in enumerate(zip(operands[1:], addends[1:]), start=2):
        columns, new_total = add_columns(total, addend, rng, slip)
        result = f"\\boxed{{{new_total:03d}}}" if index == len(operands) else f"{new_total:03d}"
        lines += [f"{shown:03d}+{operand}:", *columns, f"So {result}."]
        shown = new_total
        (total,) = read_operands((new_total,), misadds_running_total_nines)
    return "\n".join(lines), shown


def read_operands(operands: tuple[int, ...], blind_spot: bool) -> tuple[int, ...]:
    """The numbers as the nines blind spot reads them (`misreads_nines` when copying, `misadds_nines` when adding): a
    units digit 9 read as a 6, every time, as R1 has problems it never solves."""
    return tuple(operand - 3 if blind_spot and operand % 10 == 9 else operand for operand in operands)


def thinking_passes(
    operands: tuple[int, ...],
    num_rechecks: int,
    rng: random.Random | None = None,
    slips: tuple[float, float] = (0, 0),
    misreads_nines: bool = False,
    misadds_nines: bool = False,
    misadds_running_total_nines: bool = False,
) -> list[str]:
    """The first pass, then `num_rechecks` re-checks, each in the reverse order of the one before, so that every
    re-check adds other pairs of numbers: it recomputes, and can catch a slip, rather than copy. `slips` are the
    carry-dropping probabilities of the first pass and of the re-checks. A re-check reads the numbers its pass before
    wrote down, so it carries a misread (`read_operands`) along, and every pass adds a nine the same way: errors
    that no amount of re-checking catches. A running total's nine (`misadds_running_total_nines`) depends on the
    order, so a re-check can make such an error or undo it."""
    operands = read_operands(operands, misreads_nines)
    blind_spots = {"misadds_nines": misadds_nines, "misadds_running_total_nines": misadds_running_total_nines}
    passes = [thinking_pass(operands, FIRST_HEADER, rng, slips[0], **blind_spots)[0]]
    for index in range(1, num_rechecks + 1):
        order = operands[::-1] if index % 2 else operands
        passes.append(thinking_pass(order, RECHECK_HEADER, rng, slips[1], **blind_spots)[0])
    return passes


def restates_as_read(response: str, operands: tuple[int, ...], misreads_nines: bool = False) -> bool:
    """Whether a response opens by restating the numbers as its traces do (misread where they misread): the copy that
    every addition after it works from, and where an undertrained build goes wrong first."""
    return response.startswith(restatement(read_operands(operands, misreads_nines), FIRST_HEADER))


def answer_sentence(answer: str) -> str:
    return f"{TOY_ANSWER_LEAD}{answer}}}."


def make_completion(operands: tuple[int, ...], num_rechecks: int) -> str:
    """What the model generates after the pre-filled "<think>\\n" when it makes no slip: its passes, then the last
    box as its answer."""
    return "\n".join(thinking_passes(operands, num_rechecks)) + answer_sentence(f"{sum(operands):03d}")


def best_answer_so_far(thinking: str, operands: tuple[int, ...]) -> str:
    """What a toy forced to stop answers: its last boxed sum, else the last running total it reached, else its first
    operand (as R1, forced, answers with the best it has)."""
    boxes = BOXED.findall(thinking)
    if boxes:
        return boxes[-1]
    totals = RUNNING_TOTAL.findall(thinking)
    return totals[-1] if totals else f"{operands[0]:03d}"


def anatomy(response: str, operands: tuple[int, ...]) -> dict:
    """What a toy response spent its tokens on, pass by pass: the sums it boxed while thinking (first to last), whether
    it did the necessary work (one pass with every addition right, in any order), how many re-checks it started, and
    whether it closed its thinking. The toy's own "what was pruned"."""
    thinking = response.split(THINK_END, 1)[0]
    # A correct pass in any of the orders and under any of the headers a trace can give it.
    correct_passes = {
        thinking_pass(order, header)[0]
        for order in (operands, operands[::-1])
        for header in (FIRST_HEADER, RECHECK_HEADER)
    }
    return {
        "boxes": BOXED.findall(thinking),
        "work_complete": any(text in thinking for text in correct_passes),
        "rechecks": thinking.count(RECHECK_HEADER),
        "closed": THINK_END in response,
    }


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer and model
# ---------------------------------------------------------------------------------------------------------------


def build_tokenizer(vocab_size: int = 400, seed: int = 0):
    """A byte-level BPE tokenizer trained on toy text, with single-digit tokens and R1-style chat markers."""
    rng = random.Random(seed)
    corpus = []
    for row in make_problems("train", 2000, seed):
        corpus.append(row["problem"] + rng.choice([TRAIN_SUFFIX, EVAL_SUFFIX]))
        corpus.append(make_completion(parse_operands(row["problem"]), rng.randint(0, 1)))

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    special_tokens = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, USER_TOKEN, ASSISTANT_TOKEN]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    # Like R1-Distill, <think> and </think> are ordinary (non-special) added tokens: decoding keeps them.
    tokenizer.add_tokens(["<think>", "</think>"])

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        chat_template=CHAT_TEMPLATE,
        model_max_length=1024,
        padding_side="left",
    )


@dataclass
class ToyModelConfig:
    hidden_size: int = 128
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = field(
        default=1024,
        metadata={"help": "The model's context in tokens, and the tokenizer's: a mix with more re-checks needs more."},
    )


def build_model(tokenizer, config: ToyModelConfig | None = None, seed: int = 0):
    """A randomly initialised Qwen2 model sized for the toy tokenizer."""
    config = config or ToyModelConfig()
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer),
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            num_key_value_heads=config.num_key_value_heads,
            max_position_embeddings=config.max_position_embeddings,
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # The sampling defaults of R1-Distill's own generation config, also the evaluation protocol's.
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
    )
    return model


# ---------------------------------------------------------------------------------------------------------------
# SFT
# ---------------------------------------------------------------------------------------------------------------


# The nines blind spots (read_operands): ToySFTConfig fields, and thinking_passes arguments of the same names.
BLIND_SPOTS = ("misreads_nines", "misadds_nines", "misadds_running_total_nines")


@dataclass
class ToySFTConfig:
    # Many small steps beat fewer big ones for a tiny model: on the previous toy (one 3-digit addition) 2000 x 8
    # reached ~85% accuracy, 600 x 32 ~2%.
    num_train_problems: int = 24000
    max_steps: int = 4000
    batch_size: int = 8
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    # The trace mix, fixed from the properties the toy must have before any pruning was run on it. No re-check in
    # `no_recheck_share` of the traces, else `min_rechecks` to `max_rechecks`: the toy over-thinks, as R1 does.
    no_recheck_share: float = 0.3
    min_rechecks: int = 1
    max_rechecks: int = 3
    # The first pass is hurried: each carry is dropped with this probability (its sum comes out 10 or 100 short).
    # Re-checks are careful, so they can catch the slip: thinking more pays, and cutting re-checks is a trade-off.
    # The slip is a single token with much probability mass (a carry of 0 or 1), so it survives sampling at
    # temperature 0.6, where a rarer slip would all but vanish.
    first_pass_slip: float = 0.3
    recheck_slip: float = 0.05
    # With misreads, the first pass reads a units digit 9 as a 6, every time (thinkprune.toy.read_operands), and the
    # re-checks work from what it wrote: the problems holding such a number (19% of level 1's, 34% of level 3's) are
    # beyond the toy however long it thinks, as R1 has problems it never solves. The careful re-checks alone would
    # lift pass@1 near the ceiling, where a pruned toy has no accuracy left to lose.
    misreads_nines: bool = False
    # The same blind spot made while adding, not while copying: every pass restates the numbers as given, and adds a
    # units digit 9 of one as a 6 (its column line shows the 6). The copy stays verbatim, as the same mix without
    # misreads learned it on every level, where the misreading copy was not learned on level 3 (recipes/toy/README.md).
    misadds_nines: bool = False
    # The blind spot on the running totals too: one it wrote with a units 9 is added on as a 6. Level 1 has no
    # running total to add on, level 3 two, so the hardest level is beyond the toy more often than the blind spot on
    # the numbers alone makes it (about 19% of level 1's problems, 47% of level 3's, with misadds_nines): R1 too fails
    # long derivations more often, one step's slip at a time. It depends on the order a pass adds in, so a re-check
    # can make or undo it.
    misadds_running_total_nines: bool = False
    # A share of the traces is cut at a random token and closed with the answer lead-in and the best answer so far
    # (thinkprune.toy.best_answer_so_far), as R1 answers when its thinking is forced to stop: a budget-forced toy
    # then gives a real answer, and forcing measures what the cut thinking was worth. Only that answer is learned
    # from these traces (their cut thinking is in the prompt), so the toy never learns to stop mid-pass by itself.
    forced_share: float = 0.15
    # Batches drawn at random, not grouped by length, although grouping is faster: with trl's per-batch token
    # weighting the loss is a mean over each batch's tokens, so batches of short traces would weigh their "stop
    # here" several times more than the "go on" of long ones, and a grouped toy stops early about twice as often as
    # its traces do. With token_weighting "constant" every token weighs the same in any batch: grouped, a build took
    # under half the time of the same build on random batches, on a slower host, and stopped after one pass within
    # the range of those builds (recipes/toy/README.md).
    group_by_length: bool = False
    # How the loss weighs a completion token. "per_batch" is trl's: a mean over each batch's tokens, so a token of a
    # batch of short traces weighs more than one of a batch of long ones, and a trace's stop-or-go choice weighs
    # 1 / (its batch's tokens). "constant": every token weighs the same in every batch (the batch's token losses
    # summed and divided by batch_size x the mix's mean completion tokens, a constant as Dr. GRPO's), so the model
    # is taught each choice as often as the traces make it.
    token_weighting: Literal["per_batch", "constant"] = "per_batch"
    seed: int = 0

    def blind_spots(self) -> dict[str, bool]:
        """The nines blind spots, as thinking_passes takes them."""
        return {name: getattr(self, name) for name in BLIND_SPOTS}

    def __post_init__(self):
        for name in ("no_recheck_share", "first_pass_slip", "recheck_slip", "forced_share"):
            if not 0 <= getattr(self, name) <= 1:
                raise UserError(f"{name} is a probability, between 0 and 1; got {getattr(self, name)}")
        if self.misreads_nines and self.misadds_nines:
            raise UserError("misreads_nines and misadds_nines are two places for one blind spot: choose one")
        if not 0 <= self.min_rechecks <= self.max_rechecks:
            raise UserError(
                f"re-checks go from min_rechecks to max_rechecks: need 0 <= min_rechecks <= max_rechecks, got "
                f"{self.min_rechecks} and {self.max_rechecks}"
            )


def sample_trace(rng: random.Random, operands: tuple[int, ...], sft: ToySFTConfig, tokenizer) -> tuple[str, str]:
    """One SFT trace of `operands` drawn from the mix of `sft`: (the thinking it is given, what it learns to write).
    A forced trace is given its cut thinking and the answer lead-in, and learns only the answer."""
    num_rechecks = 0 if rng.random() < sft.no_recheck_share else rng.randint(sft.min_rechecks, sft.max_rechecks)
    thinking = "\n".join(
        thinking_passes(
            operands,
            num_rechecks,
            rng,
            (sft.first_pass_slip, sft.recheck_slip),
            **sft.blind_spots(),
        )
    )
    if rng.random() < sft.forced_share:
        # Cut where budget forcing cuts: after any whole number of the model's own tokens.
        ids = tokenizer(thinking, add_special_tokens=False)["input_ids"]
        cut = tokenizer.decode(ids[: rng.randrange(len(ids))])
        return cut + TOY_ANSWER_LEAD, f"{best_answer_so_far(cut, operands)}}}."
    return "", thinking + answer_sentence(BOXED.findall(thinking)[-1])


def sft_dataset(tokenizer, sft: ToySFTConfig):
    """Prompt-completion rows; the prompt is the rendered chat (ending in "<think>\\n") in either suffix style."""
    from datasets import Dataset  # training-only dependency: a Space that serves the toy has no datasets

    # SFT cuts a trace longer than the context without a word: refuse a mix whose longest trace would be cut.
    longest = longest_trace_tokens(tokenizer, sft.max_rechecks)
    if longest > tokenizer.model_max_length:
        raise UserError(
            f"max_rechecks {sft.max_rechecks} makes traces of {longest} tokens, over the toy's context of "
            f"{tokenizer.model_max_length}: lower --max_rechecks"
        )
    rng = random.Random(sft.seed)
    rows = []
    # Traces are drawn with replacement: level 1 has fewer distinct problems (about 2250) than there are traces.
    for index in range(sft.num_train_problems):
        operands = draw_operands(rng, index % len(LEVEL_OPERANDS) + 1, "train")
        suffix = rng.choice([TRAIN_SUFFIX, EVAL_SUFFIX])
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": problem_text(operands) + suffix}], tokenize=False, add_generation_prompt=True
        )
        given, completion = sample_trace(rng, operands, sft, tokenizer)
        rows.append({"prompt": prompt + given, "completion": completion + tokenizer.eos_token})
    return Dataset.from_list(rows)


def constant_token_weight_trainer(sft_trainer_class, tokens_per_row: float):
    """`sft_trainer_class` (trl's SFTTrainer, imported by the caller) with every completion token weighing
    1 / (rows in its batch x `tokens_per_row`), whatever else its batch holds."""

    class ConstantTokenWeightSFTTrainer(sft_trainer_class):
        # trl's loss is the batch's summed token losses over num_items_in_batch (its token count): a constant instead.
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            rows = inputs["input_ids"].shape[0]
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch=rows * tokens_per_row)

    return ConstantTokenWeightSFTTrainer


def mean_completion_tokens(dataset, tokenizer) -> float:
    """The mean tokens a row of `dataset` learns from (its completion)."""
    completions = tokenizer(list(dataset["completion"]), add_special_tokens=False)["input_ids"]
    return sum(map(len, completions)) / len(completions)


def longest_trace_tokens(tokenizer, num_rechecks: int) -> int:
    """Prompt and completion tokens of the longest trace with `num_rechecks` re-checks."""
    operands = (OPERAND_RANGE[1],) * LEVEL_OPERANDS[max(LEVEL_OPERANDS)]
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": problem_text(operands) + max(TRAIN_SUFFIX, EVAL_SUFFIX, key=len)}],
        tokenize=False,
        add_generation_prompt=True,
    ) + make_completion(operands, num_rechecks)
    return len(tokenizer(text + tokenizer.eos_token, add_special_tokens=False)["input_ids"])


def train_base(
    output_dir: str | Path,
    sft: ToySFTConfig | None = None,
    model_config: ToyModelConfig | None = None,
    init_from: str | Path | None = None,
):
    """Build tokenizer + model, SFT them with trl, and save the checkpoint atomically to `output_dir`.

    With `init_from` (a toy checkpoint), its tokenizer and weights are trained further on the mix of `sft` instead:
    what a candidate trace mix does to the sampled toy is then measured in minutes, not a build's hour
    (scripts/toy_mix_pilot.py)."""
    from trl import SFTConfig, SFTTrainer  # training-only dependency: a Space that serves the toy has no trl

    if init_from is not None and model_config is not None:
        raise ValueError("a model trained further keeps the architecture of init_from: give model_config or init_from")
    sft = sft or ToySFTConfig()
    output_dir = Path(output_dir)
    if init_from is None:
        tokenizer = build_tokenizer(seed=sft.seed)
        model = build_model(tokenizer, model_config, seed=sft.seed)
        # The tokenizer's length is the one SFT cuts traces at and the evaluation reads as the model's room.
        tokenizer.model_max_length = model.config.max_position_embeddings
    else:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(init_from)
        model = Qwen2ForCausalLM.from_pretrained(init_from)
    dataset = sft_dataset(tokenizer, sft)

    staging = new_dir_beside(output_dir)
    try:
        args = SFTConfig(
            output_dir=str(staging / "trainer"),
            max_steps=sft.max_steps,
            per_device_train_batch_size=sft.batch_size,
            learning_rate=sft.learning_rate,
            lr_scheduler_type="cosine_with_min_lr",
            lr_scheduler_kwargs={"min_lr_rate": 0.1},
            warmup_steps=sft.warmup_steps,
            weight_decay=0.0,
            max_length=tokenizer.model_max_length,
            completion_only_loss=True,
            train_sampling_strategy="group_by_length" if sft.group_by_length else "random",
            logging_steps=25,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            bf16=False,
            seed=sft.seed,
            dataloader_num_workers=0,
        )
        start = time.time()
        trainer_class = SFTTrainer
        if sft.token_weighting == "constant":
            trainer_class = constant_token_weight_trainer(SFTTrainer, mean_completion_tokens(dataset, tokenizer))
        trainer = trainer_class(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        result = trainer.train()
        model.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        record = {
            "kind": "thinkprune-toy-base",
            "sft": vars(sft),
            # Read off the model itself: one trained further has init_from's architecture and context.
            "model": {name: getattr(model.config, name) for name in vars(ToyModelConfig())},
            **({"init_from": str(init_from)} if init_from is not None else {}),
            "num_parameters": model.num_parameters(),
            "train_loss": result.training_loss,
            "train_seconds": round(time.time() - start, 1),
        }
        write_json_atomic(staging / "model" / TOY_RECORD, record)
        replace_dir(staging / "model", output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output_dir


def ensure_toy_base() -> Path:
    """The toy base checkpoint: the shipped one, else built into the cache on first use (minutes on CPU)."""
    path = toy_base_path()
    if (path / TOY_RECORD).exists():
        return path
    # Several processes of one launch all ask for it: the first builds it, the others wait and then use it.
    with exclusive_lock(path.parent / f".{path.name}.lock"):
        if not (path / TOY_RECORD).exists():
            print(f"Building the toy long-thinker in {path} (once, a few minutes on CPU)...", file=sys.stderr)
            train_base(path)
    return path


def resolve_model_name(name_or_path: str) -> str:
    """`toy` means the embedded toy base; anything else is a local path or Hub id, returned as given."""
    return str(ensure_toy_base()) if name_or_path == TOY_MODEL_NAME else name_or_path


def is_toy_model(name_or_path: str) -> bool:
    """The toy itself, a copy of it, or a round trained from it (its record names the toy as base model)."""
    if name_or_path == TOY_MODEL_NAME or (Path(name_or_path) / TOY_RECORD).is_file():
        return True
    try:
        record = RoundRecord.find(name_or_path)
    except UserError:  # an unreadable record is reported where the round is used, not here
        return False
    # A base built elsewhere (`python -m thinkprune.toy --output_dir DIR`) is named by its path in its rounds' records.
    return record is not None and (
        record.base_model == TOY_MODEL_NAME or (Path(record.base_model) / TOY_RECORD).is_file()
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path:
    parser = HfArgumentParser((ToySFTConfig, ToyModelConfig))
    parser.add_argument("--output_dir", default=str(TOY_CHECKPOINTS / "base"))
    sft_config, model_config, extra = parser.parse_args_into_dataclasses(argv)
    path = train_base(extra.output_dir, sft_config, model_config)
    print(f"Saved the toy base to {path}")
    return path


if __name__ == "__main__":
    main()
