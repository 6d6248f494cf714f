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

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import accelerate
import datasets
import torch
import transformers
import trl
from accelerate.utils import broadcast_object_list, gather_object
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, TrainerCallback, set_seed
from transformers.integrations import is_trackio_available
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import (
    CONFIG_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)
from trl import GRPOConfig, GRPOTrainer, TrlParser

from model_cards.generate import write_model_card
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import atomic_path, write_json_atomic
from thinkprune.generation import Sampling
from thinkprune.hub import looks_like_hub_id
from thinkprune.modeling import eos_token_ids, load_model, load_tokenizer
from thinkprune.paths import RECIPES_DIR
from thinkprune.records import ROUND_RECORD, ROUND_STATE, TRAINER_LOG, RoundRecord, model_reference
from thinkprune.toy import resolve_model_name
from train.auto import measure, problem_limits, solve_rates
from train.data import build_round_dataset, hold_out, load_problems
from train.dynamic_sampling import DynamicSamplingGRPOTrainer
from train.push_to_hub import push_round
from train.rewards import TRUNCATION_MODES, get_thinkprune_reward


logger = logging.getLogger(__name__)

DEFAULT_RECIPE = RECIPES_DIR / "toy" / "round.yaml"
# The parent's responses to every training problem, measured for difficulty-aware limits and the solved-problem filter.
DIFFICULTY_FILE = "difficulty_measurement.json"


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
    rollouts_per_step: int | None = field(
        default=None,
        metadata={
            "help": "Completions per optimizer step (prompts x num_generations), whatever the number of processes: "
            "per_device_train_batch_size (then the most one device holds) and gradient_accumulation_steps are "
            "derived for the processes launched."
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace an output directory that holds another or a finished run."}
    )
    num_held_out_problems: int = field(
        default=0,
        metadata={
            "help": "Keep the last N problems (after a shuffle with the seed) out of training: the automatic "
            "schedule measures and validates on them (it sets this)."
        },
    )
    difficulty_aware_limits: bool = field(
        default=False,
        metadata={
            "help": "Give every training problem its own limit from the parent's solve rate (easy problems a tighter "
            "one): difficulty_min_limit + (token_limit - difficulty_min_limit) x (1 - solve rate). A completion "
            "longer than its problem's limit counts as unfinished; generation stops at token_limit."
        },
    )
    difficulty_min_limit: int | None = field(
        default=None, metadata={"help": "Difficulty-aware limits: the limit of a problem the parent always solved."}
    )
    difficulty_num_samples: int = field(
        default=4,
        metadata={
            "help": "Difficulty-aware limits: samples of the parent per training problem to measure its solve rate."
        },
    )
    filter_solved_problems: bool = field(
        default=False,
        metadata={
            "help": "Before training, drop the problems the parent solved in none or all of difficulty_num_samples "
            "samples under the round's limit: their groups would have all-equal rewards and teach nothing."
        },
    )
    dynamic_sampling: bool = field(
        default=False,
        metadata={
            "help": "DAPO's dynamic sampling (train/dynamic_sampling.py): train only on groups whose rewards are not "
            "all equal, generating again (at most dynamic_sampling_max_rounds rounds) to fill the step."
        },
    )
    dynamic_sampling_max_rounds: int = field(
        default=3, metadata={"help": "Dynamic sampling: the most generation rounds per step, the first included."}
    )
    max_train_seconds: float | None = field(
        default=None,
        metadata={"help": "Stop training after the step that passes this wall-clock time (max_steps still applies)."},
    )


def recipe_path(argv: list[str]) -> Path | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None


def resolve_batch(rollouts_per_step: int, num_generations: int, world_size: int, max_per_device: int):
    """(per-device batch, gradient accumulation) giving exactly `rollouts_per_step` completions per optimizer step on
    `world_size` processes: the largest per-device batch up to `max_per_device`, so the fewest accumulation steps."""
    if rollouts_per_step % num_generations:
        raise UserError(
            f"rollouts_per_step {rollouts_per_step} is not a whole number of prompts x num_generations "
            f"{num_generations}: make it a multiple of {num_generations}"
        )
    for accumulation in range(1, rollouts_per_step + 1):
        if rollouts_per_step % (world_size * accumulation) == 0:
            per_device = rollouts_per_step // (world_size * accumulation)
            if per_device <= max_per_device:
                return per_device, accumulation
    fitting = [n for n in range(1, 65) if rollouts_per_step % n == 0]
    raise UserError(
        f"rollouts_per_step {rollouts_per_step} cannot be split evenly over {world_size} processes: launch a number "
        f"of processes that divides it ({', '.join(map(str, fitting))}...), or change rollouts_per_step"
    )


def parse_args(argv: list[str] | None = None):
    """(ThinkPruneConfig, GRPOConfig) from a YAML recipe plus CLI overrides; the toy recipe without --config.

    With `rollouts_per_step`, the per-device batch and gradient accumulation are derived for the processes actually
    launched (the recipe's `per_device_train_batch_size` is then the most a device may hold), so a step has the
    recipe's rollouts on 8 GPUs, on 4, or with GPUs given to a vLLM server.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    config_path = recipe_path(argv)
    if config_path is None:
        config_path, argv = DEFAULT_RECIPE, ["--config", str(DEFAULT_RECIPE), *argv]
    if not config_path.is_file():
        raise UserError(f"recipe file {config_path} does not exist: pass --config recipes/<model>/<recipe>.yaml")
    args, training_args = parse_recipe(argv, config_path)
    if args.rollouts_per_step is not None:
        per_device, accumulation = resolve_batch(
            args.rollouts_per_step,
            training_args.num_generations,
            training_args.world_size,
            training_args.per_device_train_batch_size,
        )
        # GRPOConfig derives its generation batch when built: build it again with the resolved batch.
        batch = ["--per_device_train_batch_size", str(per_device), "--gradient_accumulation_steps", str(accumulation)]
        args, training_args = parse_recipe([*argv, *batch], config_path)
    resolve_reporting(training_args)
    return args, training_args


def parse_recipe(argv: list[str], config_path: Path):
    parser = TrlParser((ThinkPruneConfig, GRPOConfig))
    try:
        args, training_args = parser.parse_args_and_config(argv)
    except SystemExit as exit_:
        if exit_.code == 0:  # --help
            raise
        raise UserError(f"invalid arguments or recipe {config_path}: see the message above") from exit_
    except ValueError as error:
        if "gpu" in str(error).lower() and not torch.cuda.is_available():
            raise UserError(
                f"recipe {config_path} needs a GPU (bf16/fp16) and none is visible: run it on a GPU machine, or "
                "use recipes/toy/round.yaml on CPU"
            ) from error
        raise UserError(f"invalid recipe {config_path}: {error}") from error
    # `--resume_from_checkpoint false` is a choice, not a checkpoint path.
    if str(training_args.resume_from_checkpoint).lower() in ("false", "none", ""):
        training_args.resume_from_checkpoint = None
    return args, training_args


def batch_arithmetic(args: ThinkPruneConfig, training_args) -> dict:
    """What one optimizer step is, as launched: recorded in the round record and shown on the card."""
    rollouts = (
        training_args.per_device_train_batch_size
        * training_args.world_size
        * training_args.gradient_accumulation_steps
    )
    return {
        "world_size": training_args.world_size,
        "rollouts_per_step": rollouts,
        "num_generations": training_args.num_generations,
        "prompts_per_step": rollouts // training_args.num_generations,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
    }


def keeps_fp32_master_weights(training_args) -> bool:
    """DeepSpeed ZeRO keeps float32 master weights of half-precision parameters, and so does FSDP under bf16 or fp16
    mixed precision (accelerate upcasts the parameters it shards to float32, FSDP1 and FSDP2 alike, and computes in
    half precision); the Trainer's own optimizer (single device, DDP) updates the parameters themselves."""
    if training_args.deepspeed or os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return True
    fsdp = training_args.fsdp or os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    return bool(fsdp and (training_args.bf16 or training_args.fp16))


def stored_dtype(model_name_or_path: str) -> str | None:
    """The dtype a checkpoint's config declares its weights are stored in. None when it declares none, or for a Hub
    id that cannot be read now."""
    try:
        config = AutoConfig.from_pretrained(resolve_model_name(model_name_or_path))
    except (OSError, ValueError):
        return None
    return str(config.dtype).removeprefix("torch.") if config.dtype is not None else None


def planned_dtype(args: ThinkPruneConfig) -> str | None:
    """The dtype the weights will be loaded in: the one asked for or, under `auto`, the one the checkpoint's config
    declares (None when only loading tells: `auto` then keeps the weights' own dtype)."""
    return args.dtype if args.dtype != "auto" else stored_dtype(args.model_name_or_path)


def refuse_weights_without_master_copies(weights_dtype: str | None, args: ThinkPruneConfig, training_args) -> None:
    if weights_dtype in ("bfloat16", "float16") and not keeps_fp32_master_weights(training_args):
        raise UserError(
            f"{args.model_name_or_path} loads in {weights_dtype} (dtype {args.dtype}), and without DeepSpeed ZeRO "
            "(or FSDP with --bf16 true) it trains with no float32 master weights: AdamW updates of a small learning "
            "rate round away and the weights never move. Launch with --config_file "
            "recipes/accelerate_configs/zero2.yaml (or zero3.yaml), or load float32 weights and compute in bf16 "
            "autocast: --dtype float32 --bf16 true"
        )


def resolve_reporting(training_args) -> None:
    """`report_to: auto` (the R1 recipes) logs to trackio where it is installed and nowhere otherwise. A round logs to
    the trackio project named after its output directory's parent (a schedule's output_root) as a run named after the
    directory (round<i>), unless the recipe names them (`project`, `run_name`)."""
    if "auto" in training_args.report_to:
        training_args.report_to = [name for name in training_args.report_to if name != "auto"]
        training_args.report_to += ["trackio"] if is_trackio_available() else []
    if "trackio" not in training_args.report_to:
        return
    if not is_trackio_available():
        raise UserError(
            "report_to trackio, but trackio is not installed: pip install -e '.[trackio]', or pass --report_to none"
        )
    output_dir = Path(training_args.output_dir).resolve()
    if training_args.project == GRPOConfig.project and output_dir.parent.name:
        training_args.project = output_dir.parent.name
    training_args.run_name = training_args.run_name or output_dir.name


def validate(args: ThinkPruneConfig, training_args) -> None:
    """Refuse, before anything is loaded or written, what cannot work."""
    if args.token_limit <= 0:
        raise UserError(f"token_limit must be a positive number of tokens, got {args.token_limit}")
    if args.truncation not in TRUNCATION_MODES:
        raise UserError(f"unknown truncation {args.truncation!r}: use one of {', '.join(TRUNCATION_MODES)}")
    if args.difficulty_aware_limits:
        validate_difficulty(args)
    if args.filter_solved_problems and args.difficulty_num_samples < 2:
        raise UserError(
            f"filter_solved_problems needs difficulty_num_samples of at least 2, got {args.difficulty_num_samples}: "
            "with one sample every problem is solved at rate 0 or 1"
        )
    if args.dynamic_sampling_max_rounds < 1:
        raise UserError(f"dynamic_sampling_max_rounds must be at least 1, got {args.dynamic_sampling_max_rounds}")
    validate_vllm_context(args, training_args)
    needs_gpu = training_args.use_vllm or training_args.bf16 or training_args.fp16
    if needs_gpu and not training_args.use_cpu and not torch.cuda.is_available():
        raise UserError(
            "this recipe needs a GPU (bf16/fp16 or vLLM) and none is visible: run it on a GPU machine, or use "
            "recipes/toy/round.yaml on CPU"
        )
    if training_args.use_vllm and importlib.util.find_spec("vllm") is None:
        raise UserError("use_vllm is set but vLLM is not installed: pip install -e '.[vllm]'")
    refuse_weights_without_master_copies(planned_dtype(args), args, training_args)


def validate_vllm_context(args: ThinkPruneConfig, training_args) -> None:
    """A colocated vLLM ends a sequence at its context without an error (finish reason "length"): a context shorter
    than the longest prompt plus the limit would cut rollouts before the limit, and a cut rollout earns 0."""
    context = training_args.vllm_max_model_length
    needed = args.max_prompt_length + args.token_limit
    if training_args.use_vllm and training_args.vllm_mode == "colocate" and context is not None and context < needed:
        raise UserError(
            f"vllm_max_model_length {context} is shorter than max_prompt_length + token_limit = {needed}: vLLM would "
            f"cut rollouts before the limit; pass --vllm_max_model_length {needed}"
        )


def validate_difficulty(args: ThinkPruneConfig) -> None:
    if args.truncation != "zero":
        raise UserError(
            "difficulty_aware_limits needs truncation zero: under grade a completion over its problem's limit would "
            "still be graded, so the per-problem limits would change nothing"
        )
    if args.difficulty_min_limit is None or not 0 < args.difficulty_min_limit <= args.token_limit:
        raise UserError(
            f"difficulty_aware_limits needs difficulty_min_limit between 1 and token_limit ({args.token_limit}), got "
            f"{args.difficulty_min_limit}: the limit of the problems the parent always solves"
        )
    if args.difficulty_num_samples < 1:
        raise UserError(f"difficulty_num_samples must be at least 1, got {args.difficulty_num_samples}")


def recipe_values(args: ThinkPruneConfig, training_args) -> dict:
    """Every recipe value that shapes training (not where it is written, how it is resumed or where it is pushed),
    as JSON values."""
    volatile = {
        "output_dir",
        "logging_dir",
        "resume_from_checkpoint",
        "overwrite_output_dir",
        "run_name",
        "local_rank",
        # What is logged and where: a run resumed after trackio was installed is the same run.
        "report_to",
        "project",
        "log_completions",
        # Where a vLLM server serves the rollouts: a Slurm job resubmitted after a time limit or a node failure lands
        # on other nodes, and its rounds must resume, not be refused as another run.
        "vllm_server_base_url",
        "vllm_server_host",
        "vllm_server_port",
        "vllm_server_timeout",
        "vllm_group_port",
    }
    recipe = {**asdict(args), **training_args.to_dict()}
    recipe = {
        k: v for k, v in recipe.items() if k not in volatile and not k.startswith(("hub_", "push_to_hub", "trackio_"))
    }
    return json.loads(json.dumps(recipe, default=str))


def run_identity(args: ThinkPruneConfig, training_args) -> dict:
    """What makes a round directory this run's: its place in the chain and a hash of its recipe_values."""
    recipe = recipe_values(args, training_args)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "round": args.round_index,
        "token_limit": args.token_limit,
        "parent": model_reference(args.model_name_or_path),
        "recipe_sha256": digest,
    }


def read_state(output_dir: Path) -> dict:
    path = output_dir / ROUND_STATE
    return json.loads(path.read_text()) if path.is_file() else {}


def check_output_dir(output_dir: Path, args: ThinkPruneConfig, training_args, identity: dict) -> None:
    """A finished round or another run is never overwritten silently. One of THIS run (same place in the chain,
    limit, parent and recipe: its start marker says) goes on: trained, it is published; unfinished, it is resumed
    when asked."""
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
    state = read_state(output_dir)
    started = state.get("identity")
    if started == identity:
        if not state.get("trained") and not training_args.resume_from_checkpoint:
            raise UserError(
                f"{output_dir} holds an unfinished run of this round: pass --resume_from_checkpoint true to resume "
                "it, or choose another --output_dir"
            )
        return
    what = (
        f"round {started['round']}, limit {started['token_limit']}, parent {started['parent']}, recipe "
        f"{started['recipe_sha256']}"
        if started
        else "no start marker"
    )
    # Rounds started before the recipe was kept name only its hash.
    if started and "recipe" in state and state["identity"]["recipe_sha256"] != identity["recipe_sha256"]:
        ours = recipe_values(args, training_args)
        differing = sorted(k for k in {*ours, *state["recipe"]} if ours.get(k) != state["recipe"].get(k))
        what += f", differing from this run's in {', '.join(differing)}"
    raise UserError(
        f"{output_dir} holds another run ({what}): choose another --output_dir, or pass --overwrite_output_dir true "
        "to replace it"
    )


def main_process_decides(decide, training_args):
    """`decide()` run by the main process alone, its answer the same on every process and machine; its refusal (a
    UserError) stops every one, where a refusal on one process alone would leave the others waiting for it."""
    decision = [None]
    if training_args.process_index == 0:
        try:
            decision = [{"answer": decide()}]
        except UserError as error:
            decision = [{"refused": str(error)}]
    decision = broadcast_object_list(decision)[0]
    if "refused" in decision:
        raise UserError(decision["refused"])
    return decision["answer"]


def checked_state(output_dir: Path, args: ThinkPruneConfig, training_args, identity: dict) -> dict:
    """The output directory's state once the main process checked it (and emptied it under --overwrite_output_dir):
    the same on every process, so all of them train, or all publish."""

    def check_and_read() -> dict:
        check_output_dir(output_dir, args, training_args, identity)
        return read_state(output_dir)

    return main_process_decides(check_and_read, training_args)


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


def round_problems(args: ThinkPruneConfig, seed: int):
    """(training problems, held-out problems): the automatic schedule measures and validates on the held-out ones."""
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
    return hold_out(problems, args.num_held_out_problems, seed)


def prepare_dataset(args: ThinkPruneConfig, seed: int, tokenizer):
    """The round's prompts (with the limit sentence when asked) and how many were dropped as too long."""
    problems, _ = round_problems(args, seed)
    token_limit_in_prompt = args.token_limit if args.limit_in_prompt else None
    return build_round_dataset(
        problems, tokenizer, args.prompt_template, token_limit_in_prompt, args.max_prompt_length
    )


def measure_on_every_process(dataset, args: ThinkPruneConfig, training_args) -> dict:
    """The parent's responses to every training problem, each process measuring its own contiguous share: one pass
    over the problems in all, no process waiting for another's whole pass, and gathered in order so that every
    process and machine holds the same measurement."""
    rank, world_size = training_args.process_index, training_args.world_size
    begin, end = rank * len(dataset) // world_size, (rank + 1) * len(dataset) // world_size
    share = dataset.select(range(begin, end))
    measured = None
    if len(share):
        sampling = Sampling(training_args.temperature, training_args.top_p, args.token_limit, training_args.seed)
        measured = measure(
            args.model_name_or_path,
            list(share["prompt"]),
            list(share["answer"]),
            sampling,
            args.difficulty_num_samples,
            first_problem_index=begin,
        )
    shares = [part for part in gather_object([measured]) if part is not None]
    return {
        **shares[0],
        "num_problems": len(dataset),
        "num_processes": world_size,
        "seconds": max(part["seconds"] for part in shares),
        "problems": [row for part in shares for row in part["problems"]],
    }


def parent_measurement(dataset, args: ThinkPruneConfig, training_args, output_dir: Path) -> dict:
    """The parent's responses to every training problem, with the round's prompt, sampling and limit, measured by
    all processes together; the main process keeps it in the output directory, where a resumed run of this round
    finds it. Difficulty-aware limits and the solved-problem filter both read it."""
    path = output_dir / DIFFICULTY_FILE
    # The main process's copy decides for every process and machine: their filesystems may differ.
    saved = [json.loads(path.read_text()) if training_args.process_index == 0 and path.is_file() else None]
    measurement = broadcast_object_list(saved)[0]
    if measurement is None or measurement["num_problems"] != len(dataset):
        measurement = measure_on_every_process(dataset, args, training_args)
        if training_args.process_index == 0:
            write_json_atomic(path, measurement)
    return measurement


def add_problem_limits(dataset, measurement: dict, args: ThinkPruneConfig):
    """Difficulty-aware limits as a `token_limit` column (the reward reads it) and their summary for the record."""
    rates = solve_rates(measurement)
    limits = problem_limits(rates, args.token_limit, args.difficulty_min_limit)
    summary = {
        "rule": "min_limit + (token_limit - min_limit) x (1 - parent's solve rate)",
        "min_limit": args.difficulty_min_limit,
        "num_samples": args.difficulty_num_samples,
        "mean_solve_rate": sum(rates) / len(rates),
        "limits": {"min": min(limits), "mean": sum(limits) / len(limits), "max": max(limits)},
        "measure_seconds": measurement["seconds"],
    }
    return dataset.add_column("token_limit", limits), summary


def drop_solved_problems(dataset, measurement: dict, args: ThinkPruneConfig, training_args):
    """The problems the parent solved sometimes but not always under the round's limit, and what was dropped.

    A problem solved in none or all of its samples will most likely give GRPO groups of all-equal rewards: zero
    advantage, nothing learned (DAPO and DLER drop such groups online; this drops the problems once, before the round).
    """
    if args.truncation == "grade":  # a cut response is graded too: its reward is whether it is correct
        rates = [sum(row["correct"]) / len(row["correct"]) for row in measurement["problems"]]
    else:
        rates = solve_rates(measurement)
    keep = [index for index, rate in enumerate(rates) if 0 < rate < 1]
    prompts_per_step = training_args.generation_batch_size // training_args.num_generations
    if len(keep) < prompts_per_step:
        raise UserError(
            f"filter_solved_problems left {len(keep)} of {len(rates)} problems (the parent solved the others always "
            f"or never in {args.difficulty_num_samples} samples), fewer than one step's {prompts_per_step} prompts: "
            "use more problems or samples, or train without the filter"
        )
    summary = {
        "rule": "dropped the problems whose samples by the parent, under the round's limit, all earned 0 or all 1",
        "num_samples": args.difficulty_num_samples,
        "num_problems": len(rates),
        "num_never_solved": sum(rate == 0 for rate in rates),
        "num_always_solved": sum(rate == 1 for rate in rates),
        "num_kept": len(keep),
        "measure_seconds": measurement["seconds"],
    }
    return dataset.select(keep), summary


def shape_by_parent(dataset, args: ThinkPruneConfig, training_args, output_dir: Path):
    """(training set, difficulty summary, filter summary): difficulty-aware limits and the solved-problem filter, as
    asked, from one measurement of the parent.

    Every process calls this outside `main_process_first`: the measurement is a collective, and a barrier around the
    whole pass would time out on a real model. It is gathered, so every process keeps the same problems and limits.
    """
    if not (args.difficulty_aware_limits or args.filter_solved_problems):
        return dataset, None, None
    measurement = parent_measurement(dataset, args, training_args, output_dir)
    difficulty = problem_filter = None
    if args.difficulty_aware_limits:
        dataset, difficulty = add_problem_limits(dataset, measurement, args)
    if args.filter_solved_problems:
        # After the limits: the measurement's rows follow the whole training set, which the filter then narrows.
        dataset, problem_filter = drop_solved_problems(dataset, measurement, args, training_args)
    return dataset, difficulty, problem_filter


class WallClockBudget(TrainerCallback):
    """Stops training after the step that passes `seconds`. The main process decides and tells the others, so every
    process stops after the same step (one that stopped alone would leave the others waiting in a collective)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        stop = torch.tensor([time.monotonic() - self.started > self.seconds], dtype=torch.int, device=args.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.broadcast(stop, src=0)
        if stop.item():
            control.should_training_stop = True


def use_machine_cores(training_args) -> None:
    """`accelerate launch` without --cpu on a machine without a GPU sets OMP_NUM_THREADS=1: torch would use one core.
    (Only under `accelerate launch`, which sets ACCELERATE_MIXED_PRECISION: a run started with python keeps the
    thread count its caller chose.)"""
    launched = "ACCELERATE_MIXED_PRECISION" in os.environ
    if launched and not torch.cuda.is_available() and os.environ.get("OMP_NUM_THREADS") == "1":
        local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", training_args.world_size))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, local_processes)))


def dynamic_sampling_summary(trainer, args: ThinkPruneConfig) -> dict | None:
    """What dynamic sampling did over the round, for the record and the card."""
    if not args.dynamic_sampling:
        return None
    totals = dict(trainer.dynamic_sampling_totals)
    totals["extra_generation_seconds"] = round(totals["extra_generation_seconds"], 3)
    return {"max_rounds": args.dynamic_sampling_max_rounds, **totals}


def save_final_model(trainer, output_dir: Path) -> None:
    """The trained weights as a checkpoint `from_pretrained` loads (the next round's parent, the pushed model), every
    process taking part in gathering them and the main process writing them."""
    if trainer.is_fsdp_enabled:
        # Under FSDP's sharded state dict (FSDP2's default, and recipes/accelerate_configs/fsdp2.yaml's)
        # Trainer.save_model writes nothing at all: gather the full weights for this save (checkpoint-* stay sharded).
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(output_dir))
    weights = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
    if trainer.accelerator.is_main_process and not any((output_dir / name).is_file() for name in weights):
        raise UserError(
            f"training finished but no model weights were saved in {output_dir} (DeepSpeed ZeRO-3 saves them only "
            "with zero3_save_16bit_model: true, as recipes/accelerate_configs/zero3.yaml sets): fix the launch "
            f"config, or recover the weights from the DeepSpeed checkpoint in {output_dir} with zero_to_fp32.py"
        )


def store_as_parent(output_dir: Path, parent_dtype: str | None) -> None:
    """Store a round's weights in the half-precision dtype its parent is stored in, a drop-in replacement of it. Trained
    as float32 (DDP with --dtype float32, FSDP's float32 master weights), an R1 round would be twice the size of its
    bf16 parent, and `dtype="auto"` would evaluate it at another precision than the base. ZeRO already saves it so."""
    if parent_dtype not in ("bfloat16", "float16"):
        return
    dtype = getattr(torch, parent_dtype)
    total_size = 0
    for path in sorted(output_dir.glob("*.safetensors")):
        tensors = load_file(path)
        if any(tensor.is_floating_point() and tensor.dtype != dtype for tensor in tensors.values()):
            tensors = {
                name: tensor.to(dtype) if tensor.is_floating_point() else tensor for name, tensor in tensors.items()
            }
            with atomic_path(path) as tmp:
                save_file(tensors, tmp, metadata={"format": "pt"})
        total_size += sum(tensor.numel() * tensor.element_size() for tensor in tensors.values())
    index_path = output_dir / SAFE_WEIGHTS_INDEX_NAME
    if index_path.is_file():
        index = json.loads(index_path.read_text())
        index.setdefault("metadata", {})["total_size"] = total_size
        write_json_atomic(index_path, index)
    config = json.loads((output_dir / CONFIG_NAME).read_text())
    config["dtype"] = parent_dtype
    write_json_atomic(output_dir / CONFIG_NAME, config)


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The checkpoint `--resume_from_checkpoint true` resumes: the latest checkpoint-N of `output_dir` whose save
    finished. The Trainer writes trainer_state.json last, so a checkpoint cut by a kill (a time limit mid-save of
    gigabytes of optimizer state) has none; transformers would take it for the latest and fail on every retry."""
    steps = [
        int(path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-"))
        for path in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
        if path.name.removeprefix(f"{PREFIX_CHECKPOINT_DIR}-").isdigit() and (path / TRAINER_STATE_NAME).is_file()
    ]
    return str(output_dir / f"{PREFIX_CHECKPOINT_DIR}-{max(steps)}") if steps else None


def train(args: ThinkPruneConfig, training_args, output_dir: Path, identity: dict) -> RoundRecord | None:
    """The GRPO round itself; on the main process, the round's record (not yet written: it is the last file)."""
    # The limit IS the round: rollouts are cut there, and a cut rollout must stay in the loss (it earns 0).
    training_args.max_completion_length = args.token_limit
    training_args.mask_truncated_completions = False
    # trl would push its own README on save; our card is written and pushed at the end instead.
    training_args.push_to_hub = False
    set_seed(training_args.seed)

    tokenizer = load_tokenizer(args.model_name_or_path)
    model = load_model(args.model_name_or_path, dtype=args.dtype)
    # Read before training, while a Hub that cannot be reached costs nothing: the record needs it at the end.
    base_model, lineage = main_process_decides(lambda: lineage_of(args.model_name_or_path), training_args)
    # What `validate` could not tell from the config, the loaded weights do.
    refuse_weights_without_master_copies(str(model.dtype).removeprefix("torch."), args, training_args)
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and args.max_prompt_length + args.token_limit > context:
        raise UserError(
            f"max_prompt_length + token_limit = {args.max_prompt_length + args.token_limit} exceeds the model's "
            f"context of {context} tokens: lower --token_limit or --max_prompt_length"
        )

    if training_args.process_index == 0 and read_state(output_dir).get("identity") != identity:
        # Once anything can be written here, say which run this directory holds: only it may resume it.
        state = {"identity": identity, "recipe": recipe_values(args, training_args), "trained": False}
        write_json_atomic(output_dir / ROUND_STATE, state)
    with training_args.main_process_first(desc="preparing the training prompts"):
        train_dataset, num_dropped = prepare_dataset(args, training_args.seed, tokenizer)
    train_dataset, difficulty, problem_filter = shape_by_parent(train_dataset, args, training_args, output_dir)
    batch = batch_arithmetic(args, training_args)
    logger.info(
        "Round %d: limit %d tokens, %d prompts (%d dropped as longer than %d tokens); %d processes x %d rollouts x "
        "%d accumulation = %d rollouts (%d prompts x %d samples) per step",
        args.round_index,
        args.token_limit,
        len(train_dataset),
        num_dropped,
        args.max_prompt_length,
        batch["world_size"],
        batch["per_device_train_batch_size"],
        batch["gradient_accumulation_steps"],
        batch["rollouts_per_step"],
        batch["prompts_per_step"],
        batch["num_generations"],
    )

    # A rollout is finished when trl stopped it on an end-of-sequence id: the generation config's or the tokenizer's.
    reward = get_thinkprune_reward(eos_token_ids(tokenizer, model.generation_config), truncation=args.truncation)
    start = time.time()
    trainer_class = GRPOTrainer
    if args.dynamic_sampling:
        trainer_class = partial(DynamicSamplingGRPOTrainer, max_generation_rounds=args.dynamic_sampling_max_rounds)
    trainer = trainer_class(
        model=model,
        reward_funcs=reward,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        callbacks=[WallClockBudget(args.max_train_seconds)] if args.max_train_seconds else None,
    )
    resume = training_args.resume_from_checkpoint
    if str(resume).lower() == "true":
        resume = last_complete_checkpoint(output_dir)
    trainer.train(resume_from_checkpoint=resume)
    save_final_model(trainer, output_dir)
    if not trainer.accelerator.is_main_process:
        return None
    store_as_parent(output_dir, stored_dtype(args.model_name_or_path))
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
            "num_held_out": args.num_held_out_problems,
        },
        difficulty=difficulty,
        problem_filter=problem_filter,
        dynamic_sampling=dynamic_sampling_summary(trainer, args),
        batch=batch,
        global_step=trainer.state.global_step,
        train_metrics=final_train_metrics(trainer.state.log_history),
        versions=library_versions(),
        train_seconds=round(time.time() - start, 1),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    # Trained: a later run of the same command publishes this round instead of training it again.
    state = {"identity": identity, "recipe": recipe_values(args, training_args), "trained": True}
    write_json_atomic(output_dir / ROUND_STATE, {**state, "record": record.to_dict()})
    return record


def publish(record: RoundRecord, output_dir: Path, push_to_hub: bool, training_args) -> None:
    """The card, the push when asked, and only then the round record: a round is finished once it is published."""
    # trl wrote its own README.md when saving: replace it with the ThinkPrune card.
    write_model_card(output_dir, record=record)
    if push_to_hub:
        commit = push_round(
            output_dir,
            repo_id=training_args.hub_model_id,
            private=bool(training_args.hub_private_repo),
            revision=training_args.hub_revision,
            token=training_args.hub_token,
            record=record,
        )
        logger.info("Pushed round %d: %s", record.round, commit.commit_url)
    record.write(output_dir)
    logger.info("Round %d finished: %s", record.round, output_dir)


@exit_on_user_error
def main(argv: list[str] | None = None) -> Path:
    args, training_args = parse_args(argv)
    validate(args, training_args)
    use_machine_cores(training_args)
    logging.basicConfig(level=logging.INFO if training_args.process_index == 0 else logging.WARNING)
    if "trackio" in training_args.report_to:
        logger.info(
            "Logging to trackio project %s, run %s: watch it with `trackio show --project %s`",
            training_args.project,
            training_args.run_name,
            training_args.project,
        )
    output_dir = Path(training_args.output_dir)
    identity = run_identity(args, training_args)
    push_to_hub = training_args.push_to_hub
    try:
        state = checked_state(output_dir, args, training_args, identity)
        if state.get("trained") and state.get("identity") == identity:
            logger.info("Round %d was trained earlier in %s: publishing it", args.round_index, output_dir)
            record = RoundRecord.from_dict(state["record"]) if training_args.process_index == 0 else None
        else:
            record = train(args, training_args, output_dir, identity)
        if record is not None:
            publish(record, output_dir, push_to_hub, training_args)
    finally:
        # Several processes (gloo or nccl) abort at exit unless their process group is ended.
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return output_dir


if __name__ == "__main__":
    main()
