"""One ThinkPrune pruning round: GRPO where every rollout has a hard token limit.

A rollout earns 1 when it finishes within the limit with a correct final answer and 0 otherwise, so the policy
learns to reach its answer within the limit. Rounds chain with stricter limits, each from the last one's weights
(see train/schedule.py).

Usage:

    # The embedded toy (no downloads; the toy base is built on first use): one round on a laptop CPU
    accelerate launch train/round.py

    # Any recipe, with CLI overrides
    accelerate launch train/round.py --config recipes/toy/round.yaml --token_limit 90 --output_dir outputs/toy/r1

    # The faithful DeepSeek-R1-Distill-Qwen-1.5B round 1 (4k limit) on 8 GPUs
    accelerate launch --config_file recipes/accelerate_configs/zero2.yaml \\
        train/round.py --config recipes/DeepSeek-R1-Distill-Qwen-1.5B/thinkprune.yaml

The output directory holds the checkpoint (model, tokenizer, generation config), `trainer_log.json` (trl's log
history) and, written last, `round_record.json`: a round without it is not finished.
"""

import importlib.util
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accelerate
import datasets
import torch
import transformers
import trl
from transformers import set_seed
from trl import GRPOConfig, GRPOTrainer, TrlParser

from model_cards.generate import write_model_card
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.hub import looks_like_hub_id
from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.paths import RECIPES_DIR
from thinkprune.records import ROUND_RECORD, TRAINER_LOG, RoundRecord, model_reference
from train.data import build_round_dataset, load_problems
from train.push_to_hub import push_round
from train.rewards import TRUNCATION_MODES, get_thinkprune_reward


logger = logging.getLogger(__name__)

DEFAULT_RECIPE = RECIPES_DIR / "toy" / "round.yaml"


@dataclass
class ThinkPruneConfig:
    """ThinkPrune's own options; everything else is trl's `GRPOConfig`."""

    model_name_or_path: str = field(
        default="toy", metadata={"help": "Parent checkpoint: a local path, a Hub id, or 'toy' (the embedded toy)."}
    )
    dtype: str = field(default="auto", metadata={"help": "Weights dtype: auto, bfloat16, float16 or float32."})
    token_limit: int = field(default=4000, metadata={"help": "Hard limit on generated tokens for every rollout."})
    truncation: str = field(
        default="zero",
        metadata={
            "help": "'zero': an unfinished rollout earns 0 (the paper). 'grade': it is graded like any other "
            "(the official code)."
        },
    )
    prompt_template: str = field(
        default="r1_distill", metadata={"help": "'r1_distill' (the paper's system prompt) or 'plain' (no system)."}
    )
    limit_in_prompt: bool = field(
        default=True, metadata={"help": "Tell the model its token limit in the system prompt (r1_distill)."}
    )
    dataset_name: str = field(
        default="PRIME-RL/Eurus-2-RL-Data",
        metadata={"help": "Hub dataset id, local .jsonl/.json/.parquet/.csv file or directory, or 'toy'."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_split: str = field(default="train", metadata={"help": "Split to train on."})
    problem_column: str | None = field(default=None, metadata={"help": "Problem column (default: 'problem')."})
    answer_column: str | None = field(default=None, metadata={"help": "Gold answer column (default: 'answer')."})
    data_source: str | None = field(default=None, metadata={"help": "Keep only rows with this data_source."})
    num_train_problems: int | None = field(default=None, metadata={"help": "Use at most this many problems."})
    max_prompt_length: int = field(default=768, metadata={"help": "Longer prompts are dropped, not truncated."})
    round_index: int = field(default=1, metadata={"help": "Position of this round in its chain (1, 2, 3...)."})
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace an output directory that holds another or a finished run."}
    )


def recipe_path(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None


def parse_args(argv: list[str] | None = None):
    """(ThinkPruneConfig, GRPOConfig) from a YAML recipe plus CLI overrides; the toy recipe without --config."""
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = recipe_path(argv)
    if config_path is None:
        config_path, argv = DEFAULT_RECIPE, ["--config", str(DEFAULT_RECIPE), *argv]
    if not config_path.is_file():
        raise UserError(f"recipe file {config_path} does not exist: pass --config recipes/<model>/<recipe>.yaml")
    parser = TrlParser((ThinkPruneConfig, GRPOConfig))
    try:
        return parser.parse_args_and_config(argv)
    except SystemExit as exit_:
        raise UserError(f"invalid arguments or recipe {config_path}: see the message above") from exit_
    except ValueError as error:
        if "gpu" in str(error).lower() and not torch.cuda.is_available():
            raise UserError(
                f"recipe {config_path} needs a GPU (bf16/fp16) and none is visible: run it on a GPU machine, or "
                "use recipes/toy/round.yaml on CPU"
            ) from error
        raise UserError(f"invalid recipe {config_path}: {error}") from error


def validate(args: ThinkPruneConfig, training_args) -> None:
    """Refuse, before anything is loaded or written, what cannot work."""
    if args.token_limit <= 0:
        raise UserError(f"token_limit must be a positive number of tokens, got {args.token_limit}")
    if args.truncation not in TRUNCATION_MODES:
        raise UserError(f"unknown truncation {args.truncation!r}: use one of {', '.join(TRUNCATION_MODES)}")
    needs_gpu = training_args.use_vllm or training_args.bf16 or training_args.fp16
    if needs_gpu and not training_args.use_cpu and not torch.cuda.is_available():
        raise UserError(
            "this recipe needs a GPU (bf16/fp16 or vLLM) and none is visible: run it on a GPU machine, or use "
            "recipes/toy/round.yaml on CPU"
        )
    if training_args.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UserError("use_vllm is set but vLLM is not installed: pip install -r requirements-vllm.txt")


def check_output_dir(output_dir: Path, args: ThinkPruneConfig, training_args) -> None:
    """A finished round or another run is never overwritten silently; an unfinished one is resumed if asked."""
    if not output_dir.exists() or not any(output_dir.iterdir()):
        return
    if args.overwrite_output_dir:
        shutil.rmtree(output_dir)
        return
    if (output_dir / ROUND_RECORD).exists():
        raise UserError(
            f"{output_dir} already holds a finished round: choose another --output_dir, or pass "
            "--overwrite_output_dir true to replace it"
        )
    if not training_args.resume_from_checkpoint:
        raise UserError(
            f"{output_dir} holds another (unfinished) run: pass --resume_from_checkpoint true to resume it, "
            "--overwrite_output_dir true to replace it, or choose another --output_dir"
        )


def lineage_of(parent: str) -> tuple[str, list[str]]:
    """(base model, ancestors oldest first) of a round started from `parent`."""
    parent = model_reference(parent)
    # A parent pushed to the Hub publishes its record: the chain continues across machines.
    record = RoundRecord.find_on_hub(parent) if looks_like_hub_id(parent) else RoundRecord.find(parent)
    if record is None:
        return parent, [parent]
    return record.base_model, [*record.lineage, parent]


def library_versions() -> dict:
    return {
        "python": sys.version.split()[0],
        **{module.__name__: module.__version__ for module in (torch, transformers, trl, accelerate, datasets)},
    }


def final_train_metrics(log_history: list[dict]) -> dict:
    """The last logged value of every metric (train_loss etc. come from the final summary entry)."""
    metrics = {}
    for entry in log_history:
        metrics.update({key: value for key, value in entry.items() if key not in ("step", "epoch")})
    return metrics


def prepare_dataset(args: ThinkPruneConfig, seed: int, tokenizer):
    """The round's prompts (with the limit sentence when asked) and how many were dropped as too long."""
    problems = load_problems(
        args.dataset_name,
        args.dataset_config,
        args.dataset_split,
        args.problem_column,
        args.answer_column,
        args.data_source,
        args.num_train_problems,
        seed,
    )
    token_limit_in_prompt = args.token_limit if args.limit_in_prompt else None
    return build_round_dataset(
        problems, tokenizer, args.prompt_template, token_limit_in_prompt, args.max_prompt_length
    )


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path:
    args, training_args = parse_args(argv)
    validate(args, training_args)
    output_dir = Path(training_args.output_dir)
    if training_args.process_index == 0:
        check_output_dir(output_dir, args, training_args)
    logging.basicConfig(level=logging.INFO if training_args.process_index == 0 else logging.WARNING)

    # The limit IS the round: rollouts are cut there, and a cut rollout must stay in the loss (it earns 0).
    training_args.max_completion_length = args.token_limit
    training_args.mask_truncated_completions = False
    # trl would push its own README on save; our card is written and pushed at the end instead.
    push_to_hub, training_args.push_to_hub = training_args.push_to_hub, False
    set_seed(training_args.seed)

    tokenizer = load_tokenizer(args.model_name_or_path)
    model = load_model(args.model_name_or_path, dtype=args.dtype)
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and args.max_prompt_length + args.token_limit > context:
        raise UserError(
            f"max_prompt_length + token_limit = {args.max_prompt_length + args.token_limit} exceeds the model's "
            f"context of {context} tokens: lower --token_limit or --max_prompt_length"
        )

    with training_args.main_process_first(desc="preparing the training prompts"):
        train_dataset, num_dropped = prepare_dataset(args, training_args.seed, tokenizer)
    logger.info(
        "Round %d: limit %d tokens, %d prompts (%d dropped as longer than %d tokens)",
        args.round_index,
        args.token_limit,
        len(train_dataset),
        num_dropped,
        args.max_prompt_length,
    )

    # A rollout is finished when trl stopped it on an end-of-sequence id: the generation config's or the tokenizer's.
    eos_token_ids = model.generation_config.eos_token_id
    eos_token_ids = set(eos_token_ids if isinstance(eos_token_ids, list) else [eos_token_ids]) - {None}
    reward = get_thinkprune_reward(eos_token_ids | {tokenizer.eos_token_id}, truncation=args.truncation)

    start = time.time()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
    )
    # `--resume_from_checkpoint true` picks the latest checkpoint-* of output_dir; a path names one.
    resume = training_args.resume_from_checkpoint
    if resume in ("true", "True"):
        resume = True if any(output_dir.glob("checkpoint-*")) else None
    trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(output_dir))

    if trainer.accelerator.is_main_process:
        base_model, lineage = lineage_of(args.model_name_or_path)
        write_json_atomic(output_dir / TRAINER_LOG, trainer.state.log_history)
        recipe = {**asdict(args), **training_args.to_dict()}
        recipe.pop("hub_token", None)
        record = RoundRecord(
            round=args.round_index,
            token_limit=args.token_limit,
            truncation=args.truncation,
            parent=model_reference(args.model_name_or_path),
            base_model=base_model,
            lineage=lineage,
            recipe=recipe,
            dataset={
                "name": args.dataset_name,
                "num_prompts": len(train_dataset),
                "num_dropped_too_long": num_dropped,
            },
            global_step=trainer.state.global_step,
            train_metrics=final_train_metrics(trainer.state.log_history),
            versions=library_versions(),
            train_seconds=round(time.time() - start, 1),
            finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        record.write(output_dir)
        logger.info("Round %d finished: %s", args.round_index, output_dir)

        # trl wrote its own README.md when saving: replace it with the ThinkPrune card, then publish.
        write_model_card(output_dir)
        if push_to_hub:
            commit = push_round(
                output_dir,
                repo_id=training_args.hub_model_id,
                private=bool(training_args.hub_private_repo),
                revision=training_args.hub_revision,
                token=training_args.hub_token,
            )
            logger.info("Pushed round %d: %s", args.round_index, commit.commit_url)
    return output_dir


if __name__ == "__main__":
    main()
