"""Dry run of a real recipe: the whole ThinkPrune round, one optimizer step, on a tiny stand-in for the real model.

Before anyone spends GPU hours, check that a recipe is wired right: its config parses, its prompts (template, limit
sentence, prompt cap) build, the reward runs on rollouts of the recipe's length, the GRPO step runs, and the round
writes its checkpoint and record. The model is a Qwen2 (R1-Distill-Qwen's architecture) with tiny random weights
and a tokenizer built here with R1-Distill's special tokens and chat template; the data are a few math problems
written below. Nothing is downloaded. The round itself is `train/round.py`'s `main`, run in this process.

Usage:

    # The faithful R1-Distill-Qwen-1.5B recipe at its real shapes (4000-token limit, 16 samples per prompt), CPU
    python scripts/dry_run.py --output results/dry_run/cpu.json

    # Another recipe, with any train/round.py override (later ones win over the dry run's own)
    python scripts/dry_run.py --config recipes/DeepSeek-R1-Distill-Qwen-1.5B/thinkprune_beyond_paper.yaml \\
        --token_limit 64

The report (printed, and written to --output) gives the recipe's values that matter, what the dry run ran (one
optimizer step of `prompts_per_step` prompts x the recipe's samples per prompt, every rollout run to the limit
unless --rollouts_to_limit false), the peak resident memory of the process, the step time and the tokens generated.
Figures are those of the tiny model: they prove the wiring, not the real model's speed or memory.
"""

import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import GenerationConfig, HfArgumentParser, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.modeling import load_tokenizer
from thinkprune.paths import RECIPES_DIR
from thinkprune.prompts import LIMIT_SENTENCE, R1_SYSTEM_PROMPT, TRAIN_SUFFIX, training_messages
from thinkprune.records import RoundRecord, read_trainer_log
from train import round as thinkprune_round
from train.round import library_versions, parse_args, resolve_batch


FAITHFUL_RECIPE = RECIPES_DIR / "DeepSeek-R1-Distill-Qwen-1.5B" / "thinkprune.yaml"
REPORT_FORMAT = "thinkprune-dry-run/1"
NUM_GPUS_OF_THE_RECIPE = 8

# DeepSeek-R1-Distill-Qwen's special tokens. <think> and </think> are ordinary added tokens there: decoding keeps them.
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
USER_TOKEN = "<｜User｜>"
ASSISTANT_TOKEN = "<｜Assistant｜>"
THINK_TOKENS = ["<think>", "</think>"]
# R1-Distill's template without its tool-call branches: the system prompt right after BOS, the reasoning of past
# assistant turns dropped, and a generation prompt that pre-fills "<think>\n".
R1_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system_prompt='') -%}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{%- set ns.system_prompt = message['content'] -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{ '" + USER_TOKEN + "' + message['content'] }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{%- set content = message['content'] -%}"
    "{%- if '</think>' in content -%}{%- set content = content.split('</think>')[-1] -%}{%- endif -%}"
    "{{ '" + ASSISTANT_TOKEN + "' + content + '" + EOS_TOKEN + "' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '" + ASSISTANT_TOKEN + "<think>\\n' }}{%- endif -%}"
)
# Qwen2's pre-tokenizer split: single digits, words with their leading space, punctuation runs, newlines.
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Competition-style problems with their gold answers, in the {"problem", "answer"} layout of a local dataset.
PROBLEMS = [
    ("Find the number of positive integers less than $1000$ that are divisible by $7$ but not by $11$.", "130"),
    ("What is the sum of all positive divisors of $360$?", "1170"),
    (
        "In how many ways can $8$ people be seated around a round table if two particular people must sit next to "
        "each other? (Two seatings are the same if one is a rotation of the other.)",
        "1440",
    ),
    ("Real numbers $x$ and $y$ satisfy $x+y=10$ and $xy=21$. Find $x^3+y^3$.", "370"),
    ("Find the remainder when $3^{100}$ is divided by $7$.", "4"),
    ("A right triangle has legs of lengths $20$ and $21$. Find the radius of its inscribed circle.", "6"),
    ("An arithmetic sequence has $a_3 = 11$ and $a_{10} = 39$. Find $a_{20}$.", "79"),
    (
        "Two fair six-sided dice are rolled. What is the probability that the sum of the numbers shown is $7$? "
        "Express your answer as a common fraction.",
        "\\frac{1}{6}",
    ),
    ("Find the distance between the points $(1, 2)$ and $(4, 8)$ in simplest radical form.", "3\\sqrt{5}"),
    (
        "Let $f(x) = x^2 - 6x + 13$. Over all real numbers $x$, what is the minimum value of $f(x)$, and at which "
        "$x$ is it reached? Give the minimum value.",
        "4",
    ),
]


@dataclass
class DryRunConfig:
    config: str = field(default=str(FAITHFUL_RECIPE), metadata={"help": "The round recipe (YAML) to dry-run."})
    output: str | None = field(default=None, metadata={"help": "Also write the report (JSON) to this file."})
    prompts_per_step: int = field(
        default=1, metadata={"help": "Prompts in the one optimizer step (each with the recipe's samples)."}
    )
    rollouts_to_limit: bool = field(
        default=True,
        metadata={
            "help": "Forbid end-of-sequence before the limit, so every rollout is as long as the recipe allows "
            "(the worst case for memory and time; a random model would otherwise stop anywhere)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the tiny model's random weights."})
    threads: int | None = field(
        default=None,
        metadata={
            "help": "torch CPU threads (default: torch's). On a machine shared with other processes, 1 avoids threads "
            "spinning at barriers while another one is descheduled, which can make a tiny model 10-100x slower."
        },
    )


def build_r1_tokenizer(corpus: list[str], vocab_size: int = 1024):
    """A byte-level BPE with Qwen2's pre-tokenizer, R1-Distill's special tokens and its chat template."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, BOS_TOKEN, USER_TOKEN, ASSISTANT_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.add_tokens(THINK_TOKENS)
    # As R1-Distill-Qwen: padding with the end-of-sentence token, the generation prompt left-padded.
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=EOS_TOKEN,
        chat_template=R1_CHAT_TEMPLATE,
        model_max_length=16384,
        padding_side="left",
    )


# DeepSeek-R1-Distill-Qwen-1.5B's shapes (its config.json), and the tiny ones of the dry run.
R1_DISTILL_QWEN_1_5B = dict(
    vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
    num_key_value_heads=2,
)  # fmt: skip
TINY = dict(hidden_size=96, intermediate_size=560, num_hidden_layers=2, num_attention_heads=6, num_key_value_heads=1)


def build_r1_model(tokenizer, seed: int, full_size: bool = False):
    """DeepSeek-R1-Distill-Qwen-1.5B's config (Qwen2, untied embeddings, grouped-query attention, 128k context)
    and generation config with random weights: at its real size, or shrunk to tiny for CPU."""
    torch.manual_seed(seed)
    shapes = R1_DISTILL_QWEN_1_5B if full_size else {"vocab_size": len(tokenizer), **TINY}
    config = Qwen2Config(
        **shapes,
        max_position_embeddings=131072,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        use_sliding_window=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        do_sample=True,
        temperature=0.6,
        top_p=0.95,
    )
    return model


def write_stand_ins(root: Path, seed: int, full_size: bool = False) -> tuple[Path, Path]:
    """(R1-style checkpoint with random weights, tiny in float32 or at R1-Distill-Qwen-1.5B's size in bfloat16;
    problems .jsonl)."""
    problems = root / "problems.jsonl"
    problems.write_text("".join(json.dumps({"problem": p, "answer": a}) + "\n" for p, a in PROBLEMS))
    corpus = [R1_SYSTEM_PROMPT + LIMIT_SENTENCE, TRAIN_SUFFIX, *(p for p, _ in PROBLEMS), *(a for _, a in PROBLEMS)]
    tokenizer = build_r1_tokenizer(corpus)
    model = build_r1_model(tokenizer, seed, full_size)
    if full_size:
        # Stored as R1-Distill ships, in bfloat16: the GPU check then walks a bf16 checkpoint at the default dtype,
        # and its two evaluation backends read it alike (vLLM casts a float32 checkpoint down to bfloat16 under
        # dtype auto, transformers keeps float32).
        model = model.to(torch.bfloat16)
    checkpoint = root / "model"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    return checkpoint, problems


def recipe_values(recipe: str) -> dict:
    """The recipe's own values that decide cost and behaviour, as a full run on 8 GPUs would use them."""
    # Parsed for CPU only so that a bf16 recipe can be read on a machine without a GPU; these values don't change.
    args, training_args = parse_args(["--config", recipe, "--use_cpu", "true", "--bf16", "false"])
    per_device, accumulation = training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps
    if args.rollouts_per_step is not None:  # what train/round.py derives when launched on 8 GPUs
        per_device, accumulation = resolve_batch(
            args.rollouts_per_step, training_args.num_generations, NUM_GPUS_OF_THE_RECIPE, per_device
        )
    rollouts = per_device * NUM_GPUS_OF_THE_RECIPE * accumulation
    return {
        "model_name_or_path": args.model_name_or_path,
        "dataset_name": args.dataset_name,
        "token_limit": args.token_limit,
        "max_prompt_length": args.max_prompt_length,
        "truncation": args.truncation,
        "prompt_template": args.prompt_template,
        "limit_in_prompt": args.limit_in_prompt,
        "num_generations": training_args.num_generations,
        "per_device_train_batch_size": per_device,
        "gradient_accumulation_steps": accumulation,
        f"rollouts_per_step_on_{NUM_GPUS_OF_THE_RECIPE}_gpus": rollouts,
        f"prompts_per_step_on_{NUM_GPUS_OF_THE_RECIPE}_gpus": rollouts // training_args.num_generations,
        "learning_rate": training_args.learning_rate,
        "entropy_coef": training_args.entropy_coef,
        "max_steps": training_args.max_steps,
        "use_vllm": training_args.use_vllm,
        "dtype": args.dtype,
    }


def round_argv(
    recipe: str, config: DryRunConfig, num_generations: int, checkpoint: Path, problems: Path, output_dir: Path
) -> list[str]:
    """train/round.py arguments: the recipe, made to run one small step on CPU with the stand-ins."""
    return [
        "--config",
        recipe,
        "--model_name_or_path",
        str(checkpoint),
        "--dataset_name",
        str(problems),
        "--output_dir",
        str(output_dir),
        "--use_cpu",
        "true",
        "--bf16",
        "false",
        "--dtype",
        "float32",
        "--use_vllm",
        "false",
        "--max_steps",
        "1",
        # One small step: `prompts_per_step` prompts in one micro-batch, whatever the recipe's step is.
        "--rollouts_per_step",
        str(config.prompts_per_step * num_generations),
        "--per_device_train_batch_size",
        str(config.prompts_per_step * num_generations),
        "--gradient_accumulation_steps",
        "1",
        # One generation for that step, even where the recipe's generation feeds several steps (dler_like.yaml).
        "--generation_batch_size",
        str(config.prompts_per_step * num_generations),
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
    ]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    config, overrides = HfArgumentParser(DryRunConfig).parse_args_into_dataclasses(argv, return_remaining_strings=True)
    if config.prompts_per_step < 1:
        raise UserError(f"prompts_per_step must be at least 1, got {config.prompts_per_step}")
    if not Path(config.config).is_file():
        raise UserError(f"recipe file {config.config} does not exist: pass --config recipes/<model>/<recipe>.yaml")
    if config.threads:
        torch.set_num_threads(config.threads)

    with tempfile.TemporaryDirectory(prefix="thinkprune-dry-run-") as tmp:
        root = Path(tmp)
        # Both parses read this copy: an edit of the recipe during the dry run cannot make them differ.
        recipe_copy = shutil.copy(config.config, root / "recipe.yaml")
        recipe = recipe_values(recipe_copy)
        checkpoint, problems = write_stand_ins(root, config.seed)
        output_dir = root / "round"
        thinkprune_argv = round_argv(recipe_copy, config, recipe["num_generations"], checkpoint, problems, output_dir)
        args, training_args = parse_args(thinkprune_argv + overrides)
        if config.rollouts_to_limit:
            # Sampling arguments go to vLLM's SamplingParams or to transformers' GenerationConfig: different names.
            min_tokens = "min_tokens" if training_args.use_vllm else "min_new_tokens"
            thinkprune_argv += ["--generation_kwargs", json.dumps({min_tokens: args.token_limit})]
        thinkprune_argv += overrides
        rss_before, load_before = peak_rss_mb(), os.getloadavg()
        start = time.perf_counter()
        thinkprune_round.main(thinkprune_argv)
        round_seconds = time.perf_counter() - start
        record = RoundRecord.read(output_dir).to_dict()
        log = read_trainer_log(output_dir)
        card_written = (output_dir / "README.md").exists()
        # The first problem's prompt as the round renders it: a reader sees the template and the limit sentence.
        tokenizer = load_tokenizer(str(checkpoint))
        limit_in_prompt = args.token_limit if args.limit_in_prompt else None
        conversation = training_messages(PROBLEMS[0][0], args.prompt_template, limit_in_prompt)
        first_prompt = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
        first_prompt_tokens = len(tokenizer(first_prompt, add_special_tokens=False)["input_ids"])

    step = next(entry for entry in log if "completions/mean_length" in entry)
    summary = next(entry for entry in log if "train_runtime" in entry)
    rollouts = record["recipe"]["per_device_train_batch_size"] * record["recipe"]["gradient_accumulation_steps"]
    report = {
        "format": REPORT_FORMAT,
        "command": " ".join(["python scripts/dry_run.py", *argv]),
        "recipe_file": os.path.relpath(config.config),  # relative to where the command ran, like its arguments
        "recipe": recipe,
        "dry_run": {
            "device": "cpu" if training_args.use_cpu else "cuda",
            "model": "Qwen2ForCausalLM, tiny random weights, R1-Distill-Qwen config and special tokens",
            "token_limit": record["token_limit"],
            "max_prompt_length": record["recipe"]["max_prompt_length"],
            "num_generations": record["recipe"]["num_generations"],
            "prompts_per_step": rollouts // record["recipe"]["num_generations"],
            "rollouts_per_step": rollouts,
            "rollouts_to_limit": config.rollouts_to_limit,
            "first_prompt": first_prompt,
            "first_prompt_tokens": first_prompt_tokens,
            "dataset": {**record["dataset"], "name": "scripts/dry_run.py PROBLEMS"},
            "global_step": record["global_step"],
            "dynamic_sampling": record["dynamic_sampling"],
            "model_card_written": card_written,
        },
        "measured": {
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_before_round_mb": rss_before,
            "step_seconds": round(step["step_time"], 2),
            "train_seconds": round(summary["train_runtime"], 2),
            "round_seconds": round(round_seconds, 2),
            "tokens_generated": round(step["completions/mean_length"] * rollouts),
            "mean_completion_length": step["completions/mean_length"],
            "clipped_ratio": step["completions/clipped_ratio"],
            "reward": step["reward"],
            "loss": step.get("loss"),
        },
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            # 1, 5 and 15-minute load averages: above cpu_count, other processes competed for the CPUs.
            "load_average_before_round": [round(load, 2) for load in load_before],
            "load_average_after_round": [round(load, 2) for load in os.getloadavg()],
        },
        "versions": library_versions(),
    }
    print(json.dumps(report, indent=2))
    if config.output:
        Path(config.output).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(config.output), report)
    return report


if __name__ == "__main__":
    main()
