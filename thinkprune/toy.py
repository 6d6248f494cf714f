"""The embedded toy long-thinker: a tiny model that reasons at length on synthetic additions.

No weights can be downloaded everywhere this project runs, so the whole ThinkPrune loop (prune rounds, evaluation,
model cards, demo) also runs on a toy built here from scratch on a laptop CPU:

- problems: 3-digit + 3-digit additions, split into train / held-out test by a hash of the operands;
- traces in the R1 style: the useful column-by-column steps ending in a boxed answer, then none (two traces in five)
  or 3-9 redundant "Wait, let me double-check." passes repeating the columns (each boxing the answer again, as R1
  keeps checking after it has an answer), then `</think>` and `The answer is \\boxed{N}.`: 66 tokens without
  re-checks, 46 more per re-check;
- a byte-level BPE tokenizer (digits split) with an R1-Distill-like chat template that opens `<think>`;
- a Qwen2-architecture model of about 1M parameters, SFT-trained with trl on those traces (seed 0).

Most of each trace is waste, which is what ThinkPrune should learn to cut. The base is shipped in
checkpoints/toy/base, built by the project's own command (about half an hour on 2 CPU cores):

    python -m thinkprune.toy                 # -> checkpoints/toy/base; --output_dir elsewhere, --seed, --max_steps

Every command of the project resolves the model name `toy` to that checkpoint; without it (a copy of the package
alone), to $THINKPRUNE_HOME/toy/base (default ~/.cache/thinkprune), built there on first use.
"""

import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import GenerationConfig, HfArgumentParser, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import exclusive_lock, replace_dir, write_json_atomic
from thinkprune.paths import TOY_CHECKPOINTS
from thinkprune.prompts import EVAL_SUFFIX, TRAIN_SUFFIX
from thinkprune.records import RoundRecord


TOY_MODEL_NAME = "toy"
TOY_RECORD = "toy_record.json"
RECHECK_HEADER = "Wait, let me double-check."
# How a toy response closes its thinking and opens its final answer; budget forcing appends it (thinkprune.budget).
TOY_ANSWER_LEAD = "\n</think>\n\nThe answer is \\boxed{"
# The toy's response budget, in evaluation and in the demo: room for its longest trace (9 re-checks, 480 tokens).
TOY_MAX_NEW_TOKENS = 512

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


def is_test_problem(a: int, b: int) -> bool:
    """One problem in ten is held out, decided by its operands so that splits never overlap."""
    return hashlib.sha256(f"{a}+{b}".encode()).digest()[0] % 10 == 0


def make_problems(split: str, num_problems: int, seed: int) -> list[dict]:
    """`num_problems` distinct toy problems of `split` ("train" or "test") as {"problem", "answer"} rows."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rng = random.Random(f"{split}-{seed}")
    seen, rows = set(), []
    while len(rows) < num_problems:
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        if (a, b) in seen or is_test_problem(a, b) != (split == "test"):
            continue
        seen.add((a, b))
        rows.append({"problem": f"What is {a} + {b}?", "answer": str(a + b)})
    return rows


def solve_steps(a: int, b: int) -> str:
    """The useful part of a trace: column-by-column addition with carries."""
    # Restating the operands puts their digits at a fixed distance from the column lines, whatever the prompt's
    # wording: a tiny model learns the column lookups several times faster than from the prompt itself.
    lines, carry = [f"Add {a}+{b} column by column."], 0
    da, db = str(a)[::-1], str(b)[::-1]
    for i in range(max(len(da), len(db))):
        x, y = int(da[i]) if i < len(da) else 0, int(db[i]) if i < len(db) else 0
        total = x + y + carry
        # Two-digit sums keep every column line the same length, so each digit the model must look back at sits
        # at a fixed distance: lookups a tiny model learns fast (with 1-2 digit sums it barely gets the answers).
        lines.append(f"{x}+{y}+{carry}={total:02d}")
        carry = total // 10
    # Like R1, the toy boxes an answer as soon as it has one, then keeps checking: a response cut during the checks
    # already holds a box, which is where the `zero` and `grade` truncation rules part ways.
    lines.append(f"So \\boxed{{{a + b}}}.")
    return "\n".join(lines)


def make_completion(a: int, b: int, num_rechecks: int) -> str:
    """What the model generates after the pre-filled "<think>\\n": steps, re-checks, then the boxed answer."""
    steps = solve_steps(a, b)
    columns = steps.split("\n", 1)[1]
    thinking = "\n".join([steps] + [f"{RECHECK_HEADER}\n{columns}" for _ in range(num_rechecks)])
    return f"{thinking}{TOY_ANSWER_LEAD}{a + b}}}."


def sample_num_rechecks(rng: random.Random, sft: "ToySFTConfig") -> int:
    """No re-check in `sft.no_recheck_share` of the traces, else `sft.min_rechecks` to `sft.max_rechecks` of them."""
    return 0 if rng.random() < sft.no_recheck_share else rng.randint(sft.min_rechecks, sft.max_rechecks)


def parse_operands(problem: str) -> tuple[int, int]:
    left, right = problem.removeprefix("What is ").removesuffix("?").split(" + ")
    return int(left), int(right)


# ---------------------------------------------------------------------------------------------------------------
# Tokenizer and model
# ---------------------------------------------------------------------------------------------------------------


def build_tokenizer(vocab_size: int = 400, seed: int = 0):
    """A byte-level BPE tokenizer trained on toy text, with single-digit tokens and R1-style chat markers."""
    rng = random.Random(seed)
    corpus = []
    for row in make_problems("train", 2000, seed):
        a, b = parse_operands(row["problem"])
        corpus.append(row["problem"] + rng.choice([TRAIN_SUFFIX, EVAL_SUFFIX]))
        corpus.append(make_completion(a, b, rng.randint(0, 1)))

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
    max_position_embeddings: int = 1024


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


@dataclass
class ToySFTConfig:
    # Many small steps beat fewer big ones here: at 2000 x 8 a toy with 0-5 re-checks reached ~85% accuracy, at
    # 600 x 32 ~2%.
    num_train_problems: int = 24000
    max_steps: int = 3000
    batch_size: int = 8
    learning_rate: float = 3e-3
    warmup_steps: int = 30
    # The trace mix. R1 stops at once on some problems and re-checks many times on others; so does the toy: no
    # re-check in 40% of its traces, else 3-9 of them (mean 6: the base thinks three times longer than it needs to).
    # The share without re-checks is what lets a pruned toy stay accurate: a tiny model copies its answer after
    # `</think>` reliably only from contexts it has seen often, and a trace pruned to no re-checks is that context.
    # Measured (200 or 800 samples; lengths are mean response tokens): 1-9 re-checks with that share at a fifth, 95%
    # at 168 tokens, at a tenth 44%; uniform 0-6, 81%; re-checks of 67 tokens, 38%; 3-9 at a fifth, 9% (its first
    # box miscomposes the sum); 1-12 at 40%, 77%; 1-9 at 40%, 100% at 184 tokens; 3-9 at 40% (these defaults), 100%
    # at 219 tokens.
    no_recheck_share: float = 0.4
    min_rechecks: int = 3
    max_rechecks: int = 9
    # Batches drawn at random, not grouped by length, although grouping is 1.8x faster (708 s vs 1298 s for 1-9
    # re-checks at a fifth): the loss is a mean over each batch's tokens, so batches of short traces weigh their
    # "stop after the first box" several times more than the "re-check" it competes with, and a grouped toy stops at
    # once in about twice as many answers as its traces do, thinking far less than its traces teach.
    group_by_length: bool = False
    seed: int = 0

    def __post_init__(self):
        if not 0 <= self.no_recheck_share <= 1:
            raise UserError(f"no_recheck_share is a share of the traces, between 0 and 1; got {self.no_recheck_share}")
        if not 0 <= self.min_rechecks <= self.max_rechecks:
            raise UserError(
                f"re-checks go from min_rechecks to max_rechecks: need 0 <= min_rechecks <= max_rechecks, got "
                f"{self.min_rechecks} and {self.max_rechecks}"
            )


def sft_dataset(tokenizer, sft: ToySFTConfig):
    """Prompt-completion rows; the prompt is the rendered chat (ending in "<think>\\n") in either suffix style."""
    from datasets import Dataset  # training-only dependency: a Space that serves the toy has no datasets

    # SFT cuts a trace longer than the context without a word: refuse a mix whose longest trace would be cut.
    longest = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 999 + 999?" + max(TRAIN_SUFFIX, EVAL_SUFFIX, key=len)}],
        tokenize=False,
        add_generation_prompt=True,
    ) + make_completion(999, 999, sft.max_rechecks)
    num_tokens = len(tokenizer(longest + tokenizer.eos_token, add_special_tokens=False)["input_ids"])
    if num_tokens > tokenizer.model_max_length:
        raise UserError(
            f"max_rechecks {sft.max_rechecks} makes traces of {num_tokens} tokens, over the toy's context of "
            f"{tokenizer.model_max_length}: lower --max_rechecks"
        )
    rng = random.Random(sft.seed)
    rows = []
    for row in make_problems("train", sft.num_train_problems, sft.seed):
        a, b = parse_operands(row["problem"])
        suffix = rng.choice([TRAIN_SUFFIX, EVAL_SUFFIX])
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": row["problem"] + suffix}], tokenize=False, add_generation_prompt=True
        )
        completion = make_completion(a, b, sample_num_rechecks(rng, sft)) + tokenizer.eos_token
        rows.append({"prompt": prompt, "completion": completion})
    return Dataset.from_list(rows)


def train_base(output_dir: str | Path, sft: ToySFTConfig | None = None, model_config: ToyModelConfig | None = None):
    """Build tokenizer + model, SFT them with trl, and save the checkpoint atomically to `output_dir`."""
    from trl import SFTConfig, SFTTrainer  # training-only dependency: a Space that serves the toy has no trl

    sft = sft or ToySFTConfig()
    output_dir = Path(output_dir)
    tokenizer = build_tokenizer(seed=sft.seed)
    model = build_model(tokenizer, model_config, seed=sft.seed)
    dataset = sft_dataset(tokenizer, sft)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
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
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        result = trainer.train()
        model.save_pretrained(staging / "model")
        tokenizer.save_pretrained(staging / "model")
        record = {
            "kind": "thinkprune-toy-base",
            "sft": vars(sft),
            "model": vars(model_config or ToyModelConfig()),
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
    parser = HfArgumentParser(ToySFTConfig)
    parser.add_argument("--output_dir", default=str(TOY_CHECKPOINTS / "base"))
    sft_config, extra = parser.parse_args_into_dataclasses(argv)
    path = train_base(extra.output_dir, sft_config)
    print(f"Saved the toy base to {path}")
    return path


if __name__ == "__main__":
    main()
