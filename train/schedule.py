"""Chain ThinkPrune rounds with stricter limits, each starting from the previous round's checkpoint.

Usage:

    # The toy schedule (3 rounds on a laptop CPU; builds the toy base on first use)
    python train/schedule.py

    # The paper's 4k -> 3k -> 2k chain on DeepSeek-R1-Distill-Qwen-1.5B, 8 GPUs per round
    python train/schedule.py --config recipes/DeepSeek-R1-Distill-Qwen-1.5B/schedule.yaml

    # Anything after `--` is passed to every round, e.g.
    python train/schedule.py -- --max_steps 10

    # Launcher arguments for every round (several processes, several machines: see docs/scaling.md)
    python train/schedule.py --launch_args="--multi_gpu --num_processes 2"

    # The automatic schedule: every limit chosen from a measurement of the parent, every round validated, stopped by
    # its own rules (recipes/toy/schedule_auto.yaml without --config)
    python train/schedule.py --auto

Each round runs as its own `accelerate launch train/round.py` (fresh process, fresh optimizer) and writes
`<output_root>/round<i>`. Rounds already finished are skipped, so re-running the same command after a crash
resumes where it stopped (an unfinished round resumes only if it is this schedule's: train/round.py checks its
start marker); a failing round leaves the finished ones untouched. On several machines the same command runs on
each one; the main machine writes every round's record, the others wait for it before starting the next round.

With `auto`, the limits are not given but chosen (train/auto.py): before each round the parent's responses to
held-out training problems are measured with the round's sampling, and the limit is the smallest length within
which `auto_percentile`% of its finished, correct responses fit (never above the previous limit, never below
`auto_floor`); after each round the model is validated on other held-out problems with the evaluation protocol's
prompt and sampling, and the schedule stops when validation accuracy falls more than `auto_tolerance` below the
first parent's, when the mean length falls by less than `auto_min_length_drop`, when no tighter limit follows, or
after `auto_max_rounds`. The decisions go into `<output_root>/auto_schedule.json` and into every round's record and
card; with `--push_to_hub true` each round is pushed once they are written.
"""

import json
import multiprocessing
import shlex
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import yaml
from trl import TrlParser

from model_cards.generate import card_metadata, write_model_card
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic
from thinkprune.generation import Sampling
from thinkprune.paths import RECIPES_DIR, REPO_ROOT
from thinkprune.prompts import eval_messages, training_messages
from thinkprune.records import RoundRecord, model_reference
from train.auto import choose_limit, measure, should_stop, summarize, within_tolerance
from train.push_to_hub import push_round
from train.round import parse_args as parse_round_args
from train.round import round_problems


DEFAULT_SCHEDULE = RECIPES_DIR / "toy" / "schedule.yaml"
DEFAULT_AUTO_SCHEDULE = RECIPES_DIR / "toy" / "schedule_auto.yaml"
# The automatic schedule's decisions so far: a re-run of the same command resumes from them.
AUTO_STATE = "auto_schedule.json"


@dataclass
class ScheduleConfig:
    recipe: str = field(metadata={"help": "The round recipe (YAML) every round starts from."})
    model_name_or_path: str = field(metadata={"help": "The model the first round prunes."})
    output_root: str = field(metadata={"help": "Round i is written to <output_root>/round<i>."})
    token_limits: list[int] = field(
        default_factory=list, metadata={"help": "One token limit per round, e.g. 4000 3000 2000 (not with auto)."}
    )
    accelerate_config: str | None = field(
        default=None, metadata={"help": "accelerate config file for every round (DDP, ZeRO-2/3)."}
    )
    launch_args: str = field(
        default="",
        metadata={
            "help": "More `accelerate launch` arguments for every round, as one string: "
            '--launch_args="--num_machines 2 --machine_rank 1 --main_process_ip 10.0.0.1 --main_process_port 29500"'
        },
    )
    record_timeout: int = field(
        default=3600,
        metadata={"help": "On a machine other than the main one: seconds to wait for the main one's round record."},
    )
    auto: bool = field(
        default=False,
        metadata={
            "help": "Choose every limit from a measurement of the parent, validate every round, and stop by the "
            "rules below instead of following token_limits."
        },
    )
    auto_max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": "auto: the token budget the first parent is measured under and every model is validated with "
            "(e.g. 32768 for R1-Distill, 512 for the toy)."
        },
    )
    auto_percentile: float = field(
        default=75.0,
        metadata={
            "help": "auto: the limit is the smallest length within which this %% of the parent's finished, "
            "correct responses fit."
        },
    )
    auto_floor: int = field(default=512, metadata={"help": "auto: no limit below this many tokens."})
    auto_max_rounds: int = field(default=5, metadata={"help": "auto: stop after this many rounds."})
    auto_tolerance: float = field(
        default=0.02,
        metadata={"help": "auto: stop once validation accuracy falls more than this below the first parent's."},
    )
    auto_min_length_drop: float = field(
        default=0.05,
        metadata={"help": "auto: stop once a round shortens the mean validation length by less than this fraction."},
    )
    auto_measure_problems: int = field(
        default=64, metadata={"help": "auto: held-out training problems the parent is measured on before a round."}
    )
    auto_validation_problems: int = field(
        default=128, metadata={"help": "auto: other held-out training problems every round is validated on."}
    )
    auto_num_samples: int = field(default=4, metadata={"help": "auto: samples per problem, measuring and validating."})
    auto_validation_temperature: float = field(
        default=0.6,
        metadata={
            "help": "auto: validation sampling temperature; the evaluation protocol's, so that the accuracy guard "
            "watches the accuracy evaluations report (parents are measured with the round's own sampling)."
        },
    )
    auto_validation_top_p: float = field(default=0.95, metadata={"help": "auto: validation top_p (the protocol's)."})


def launch_arg(config: ScheduleConfig, name: str) -> str | None:
    """The value of an `accelerate launch` argument in launch_args (`--name value` or `--name=value`), if given."""
    args = shlex.split(config.launch_args)
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def launch_setting(config: ScheduleConfig, name: str):
    """A setting of the launch as `accelerate launch` resolves it: launch_args' --name, else the accelerate config
    file's `name`, else None."""
    value = launch_arg(config, f"--{name}")
    if value is None and config.accelerate_config and Path(config.accelerate_config).is_file():
        value = (yaml.safe_load(Path(config.accelerate_config).read_text()) or {}).get(name)
    return value


def machine_rank(config: ScheduleConfig) -> int:
    """This machine's rank in a multi-machine launch (0 on a single machine)."""
    value = launch_setting(config, "machine_rank")
    if value is None:
        return 0
    if not str(value).isdigit():
        raise UserError(f"machine_rank (launch_args or the accelerate config) must be a number, got {value!r}")
    return int(value)


def num_machines(config: ScheduleConfig) -> int:
    """Machines of the launch: launch_args' --num_machines, else the accelerate config's num_machines, else 1."""
    value = launch_setting(config, "num_machines")
    return int(value) if str(value).isdigit() else 1


def wait_for_record(output_dir: Path, timeout: int) -> RoundRecord | None:
    """The round record the main machine writes (on the shared filesystem) once it has published the round."""
    deadline = time.monotonic() + timeout
    while (record := RoundRecord.find(output_dir)) is None and time.monotonic() < deadline:
        time.sleep(5)
    return record


def round_dir(config: ScheduleConfig, index: int) -> Path:
    return Path(config.output_root) / f"round{index}"


def round_command(config: ScheduleConfig, index: int, limit: int, parent: str, extra_args: list[str]) -> list[str]:
    launcher = [sys.executable, "-m", "accelerate.commands.launch"]
    if config.accelerate_config:
        launcher += ["--config_file", config.accelerate_config]
    launcher += shlex.split(config.launch_args)
    return [
        *launcher,
        str(REPO_ROOT / "train" / "round.py"),
        "--config",
        config.recipe,
        "--model_name_or_path",
        parent,
        "--token_limit",
        str(limit),
        "--round_index",
        str(index),
        "--output_dir",
        str(round_dir(config, index)),
        # An interrupted round picks up from its last checkpoint, if it saved any.
        "--resume_from_checkpoint",
        "true",
        *extra_args,
    ]


def run_round(config: ScheduleConfig, index: int, limit: int, parent: str, extra_args: list[str]) -> Path:
    """Round `index` at `limit` from `parent`, unless it is finished already; its directory."""
    output_dir = round_dir(config, index)
    record = RoundRecord.find(output_dir)
    if record is not None:
        if record.token_limit != limit or record.parent != model_reference(parent):
            raise UserError(
                f"{output_dir} holds a round of another schedule (limit {record.token_limit}, parent "
                f"{record.parent}): choose another output_root or remove that directory"
            )
        print(f"Round {index} (limit {limit}) already finished in {output_dir}: skipped", flush=True)
        return output_dir
    print(f"Round {index}: limit {limit} tokens, from {parent} -> {output_dir}", flush=True)
    completed = subprocess.run(round_command(config, index, limit, parent, extra_args))
    if completed.returncode == 0 and machine_rank(config) > 0:
        print(f"Round {index}: waiting for the main machine's record in {output_dir}", flush=True)
        record = wait_for_record(output_dir, config.record_timeout)
        if record is None:
            raise UserError(
                f"round {index} trained, but the main machine's {output_dir}/round_record.json did not appear "
                f"within {config.record_timeout} s: is output_root on a filesystem every machine shares? "
                "Re-run the same command once the main machine has finished the round"
            )
    elif completed.returncode == 0:
        record = RoundRecord.find(output_dir)
    if record is None:
        finished = ", ".join(str(round_dir(config, i)) for i in range(1, index)) or "none"
        raise UserError(
            f"round {index} failed (exit status {completed.returncode}); finished rounds are intact "
            f"({finished}): fix the cause above and re-run the same command to resume"
        )
    return output_dir


def run_schedule(config: ScheduleConfig, extra_args: list[str] = ()) -> list[Path]:
    """Run the rounds not finished yet; return every round directory."""
    if config.auto:
        return run_auto_schedule(config, list(extra_args))
    if not config.token_limits or any(limit <= 0 for limit in config.token_limits):
        raise UserError(
            f"token_limits must be positive numbers of tokens, got {config.token_limits}: give one per round, or "
            "pass --auto to have them chosen"
        )
    check_recipe(config)
    parent = config.model_name_or_path
    for index, limit in enumerate(config.token_limits, start=1):
        parent = str(run_round(config, index, limit, parent, list(extra_args)))
    return [round_dir(config, index) for index in range(1, len(config.token_limits) + 1)]


def check_recipe(config: ScheduleConfig) -> None:
    if not Path(config.recipe).is_file():
        raise UserError(f"recipe file {config.recipe} does not exist: fix `recipe` in the schedule")


# ---------------------------------------------------------------------------------------------------------------
# The automatic schedule
# ---------------------------------------------------------------------------------------------------------------


def check_auto(config: ScheduleConfig) -> None:
    """Refuse, before anything runs, an automatic schedule that cannot work."""
    if config.token_limits:
        raise UserError(
            "auto chooses the limits itself: remove token_limits from the schedule, or run it without auto"
        )
    budget = config.auto_max_new_tokens
    if budget is None or budget <= 0:
        raise UserError(
            "auto needs auto_max_new_tokens, the budget the first parent is measured under and every round "
            "validated with: e.g. 32768 for R1-Distill, 512 for the toy"
        )
    if not 0 < config.auto_floor < budget:
        raise UserError(f"auto_floor must be between 1 and auto_max_new_tokens ({budget}), got {config.auto_floor}")
    if not 0 < config.auto_percentile <= 100:
        raise UserError(f"auto_percentile must be in (0, 100], got {config.auto_percentile}")
    counts = ("auto_max_rounds", "auto_measure_problems", "auto_validation_problems", "auto_num_samples")
    for name in counts:
        if getattr(config, name) < 1:
            raise UserError(f"{name} must be at least 1, got {getattr(config, name)}")
    if not 0 <= config.auto_tolerance < 1 or not 0 <= config.auto_min_length_drop < 1:
        raise UserError("auto_tolerance and auto_min_length_drop are fractions in [0, 1): 0.02 is 2 points")
    if num_machines(config) > 1:
        raise UserError(
            "the automatic schedule runs on one machine (its measurements decide every limit there): run it with "
            "the GPUs of one machine, or give fixed token_limits to a schedule over several machines"
        )
    check_recipe(config)


def run_apart(function, *args):
    """`function(*args)` in a fresh child process: a process gives back the GPU memory it held (the CUDA context,
    vLLM's pool) only when it ends, and the round launched next needs all of it."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def responses(
    model: str, prompts: list[list[dict]], answers: list[str], sampling: Sampling, num_samples: int, backend: str
) -> dict:
    """The summary of `model`'s responses to the chat `prompts`, graded against `answers`."""
    call = (model, prompts, answers, sampling, num_samples, backend)
    return summarize(run_apart(measure, *call) if torch.cuda.is_available() else measure(*call))


def held_out_problems(config: ScheduleConfig, args, seed: int) -> tuple:
    """(the problems parents are measured on, the problems every model is validated on): the last training problems
    after the recipe's shuffle, which no round trains on."""
    measured, total = config.auto_measure_problems, config.auto_measure_problems + config.auto_validation_problems
    _, held_out = round_problems(replace(args, num_held_out_problems=total), seed)
    return held_out.select(range(measured)), held_out.select(range(measured, total))


def auto_settings(config: ScheduleConfig, extra_args: list[str]) -> dict:
    """What makes an automatic schedule this one: its recipe, first parent, rules and the arguments every round gets."""
    rules = {name: value for name, value in asdict(config).items() if name.startswith("auto")}
    return {
        "recipe": config.recipe,
        "model": model_reference(config.model_name_or_path),
        "extra_args": extra_args,
        # Validations made with the training prompt (before this was recorded) are not comparable: not resumed.
        "validation_prompt": "evaluation protocol",
        **rules,
    }


def read_auto_state(path: Path, settings: dict) -> dict:
    """The decisions taken so far by this automatic schedule (a re-run resumes from them), or a fresh state."""
    if not path.is_file():
        return {"settings": settings, "rounds": []}
    state = json.loads(path.read_text())
    if state.get("settings") != settings:
        raise UserError(
            f"{path} holds an automatic schedule with other settings: choose another output_root, or remove "
            f"{path.parent} to start over"
        )
    return state


def round_auto_record(config: ScheduleConfig, state: dict, index: int, seed: int) -> dict:
    """The decisions about round `index` as its round record and card show them."""
    entry = state["rounds"][index - 1]
    previous = state["rounds"][index - 2]["validation"] if index > 1 else state["first_parent"]
    return {
        "rules": {
            "percentile": config.auto_percentile,
            "floor": config.auto_floor,
            "tolerance": config.auto_tolerance,
            "min_length_drop": config.auto_min_length_drop,
            "max_rounds": config.auto_max_rounds,
            "max_new_tokens": config.auto_max_new_tokens,
        },
        "held_out": (
            f"the last {config.auto_measure_problems + config.auto_validation_problems} training problems after a "
            f"shuffle with seed {seed}: the first {config.auto_measure_problems} measure each parent, the other "
            f"{config.auto_validation_problems} validate every model; no round trains on them"
        ),
        "parent_measurement": entry["measurement"],
        "token_limit": entry["token_limit"],
        "limit_reason": entry["limit_reason"],
        "first_parent_validation": state["first_parent"],
        "parent_validation": previous,
        "validation": entry["validation"],
        "stop_reason": entry["stop_reason"],
        "next_limit": state["rounds"][index]["token_limit"] if len(state["rounds"]) > index else None,
    }


def publish_auto_decisions(round_path: Path, auto: dict) -> None:
    """Add the decisions to the round's record and card (a pushed card keeps its Hub id)."""
    record = RoundRecord.read(round_path)
    if record.auto == auto:
        return
    record.auto = auto
    write_model_card(round_path, record=record)
    # Last, as train/round.py does: a record without the decisions makes the next run write both again.
    record.write(round_path)


def push_decided_round(round_path: Path, training_args) -> None:
    """Push a round of the automatic schedule, its decisions written, as train/round.py would have pushed it; a round
    whose card names its Hub repo was pushed already."""
    if (card_metadata(round_path).get("thinkprune") or {}).get("repo_id"):
        return
    commit = push_round(
        round_path,
        repo_id=training_args.hub_model_id,
        private=bool(training_args.hub_private_repo),
        revision=training_args.hub_revision,
        token=training_args.hub_token,
    )
    print(f"Pushed {round_path} with the schedule's decisions: {commit.commit_url}", flush=True)


def selected_round(state: dict, tolerance: float) -> int | None:
    """The last round whose validation accuracy is within the tolerance of the first parent's."""
    first = state["first_parent"]["accuracy"]
    kept = [
        entry["round"]
        for entry in state["rounds"]
        if "validation" in entry and within_tolerance(first, entry["validation"]["accuracy"], tolerance)
    ]
    return kept[-1] if kept else None


def describe(summary: dict) -> str:
    return (
        f"accuracy {100 * summary['accuracy']:.1f}%, mean {summary['mean_tokens']:.0f} tokens "
        f"({summary['num_problems']} problems x {summary['num_samples']}, {summary['seconds']:.0f} s)"
    )


def run_auto_schedule(config: ScheduleConfig, extra_args: list[str]) -> list[Path]:
    """Measure, choose a limit, train, validate, decide; round after round until a stopping rule holds. Every decision
    is kept in <output_root>/auto_schedule.json (a re-run resumes from it) and in each round's record and card."""
    check_auto(config)
    args, training_args = parse_round_args(["--config", config.recipe, *extra_args])
    num_held_out = config.auto_measure_problems + config.auto_validation_problems
    measure_rows, validation_rows = held_out_problems(config, args, training_args.seed)
    # A parent is measured with the prompt its round trains on (without the limit sentence: the limit is what the
    # measurement decides); every model is validated with the evaluation protocol's prompt, so that the accuracy
    # guard watches the accuracy an evaluation reports.
    measure_prompts = [training_messages(problem, args.prompt_template, None) for problem in measure_rows["problem"]]
    validation_prompts = [eval_messages(problem) for problem in validation_rows["problem"]]

    # A round's card and record carry the decisions about it, which its validation completes after it has trained:
    # the schedule pushes each round once they are written, instead of the round pushing itself first.
    push_to_hub = training_args.push_to_hub

    def round_args(limit: int) -> list[str]:
        # vLLM's context holds the prompt cap plus the round's limit, which only the measurement decides.
        context = ["--vllm_max_model_length", str(args.max_prompt_length + limit)] if training_args.use_vllm else []
        no_push = ["--push_to_hub", "false"] if push_to_hub else []
        return [*extra_args, "--num_held_out_problems", str(num_held_out), *context, *no_push]

    backend, budget = ("vllm" if training_args.use_vllm else "transformers"), config.auto_max_new_tokens

    def plan(model: str, previous_limit: int) -> tuple[dict, int | None, str]:
        """The parent measured with the round's sampling under the limit it was trained with, and the limit that
        follows (None, and why, when none does)."""
        sampling = Sampling(training_args.temperature, training_args.top_p, previous_limit, training_args.seed)
        measurement = responses(
            model, measure_prompts, list(measure_rows["answer"]), sampling, config.auto_num_samples, backend
        )
        lengths = measurement["correct_finished_lengths"]
        return measurement, *choose_limit(lengths, previous_limit, config.auto_percentile, config.auto_floor)

    def validate(model: str) -> dict:
        sampling = Sampling(
            config.auto_validation_temperature, config.auto_validation_top_p, budget, training_args.seed
        )
        return responses(
            model, validation_prompts, list(validation_rows["answer"]), sampling, config.auto_num_samples, backend
        )

    state_path = Path(config.output_root) / AUTO_STATE
    state = read_auto_state(state_path, auto_settings(config, extra_args))

    def save() -> None:
        write_json_atomic(state_path, state)

    parent = config.model_name_or_path
    if "first_parent" not in state:
        state["first_parent"] = validate(parent)
        save()
    print(f"First parent {parent}, validated: {describe(state['first_parent'])}", flush=True)
    if not state["rounds"]:
        measurement, limit, why = plan(parent, budget)
        if limit is None:
            raise UserError(
                f"no first limit follows from measuring {parent}: {why}. Raise auto_max_new_tokens, lower "
                "auto_floor, or check that the recipe's prompt suits the model"
            )
        state["rounds"].append({"round": 1, "measurement": measurement, "token_limit": limit, "limit_reason": why})
        save()

    index = 1
    while True:
        entry = state["rounds"][index - 1]
        print(f"Round {index}'s limit, {entry['token_limit']} tokens: {entry['limit_reason']}", flush=True)
        output_dir = run_round(config, index, entry["token_limit"], parent, round_args(entry["token_limit"]))
        if "validation" not in entry:
            entry["validation"] = validate(str(output_dir))
            save()
        print(f"Round {index} validated: {describe(entry['validation'])}", flush=True)
        if "stop_reason" not in entry:
            previous = state["rounds"][index - 2]["validation"] if index > 1 else state["first_parent"]
            stop = should_stop(
                state["first_parent"]["accuracy"],
                entry["validation"]["accuracy"],
                previous["mean_tokens"],
                entry["validation"]["mean_tokens"],
                config.auto_tolerance,
                config.auto_min_length_drop,
            )
            if stop is None and index >= config.auto_max_rounds:
                stop = f"reached auto_max_rounds ({config.auto_max_rounds})"
            if stop is None:
                measurement, limit, why = plan(str(output_dir), entry["token_limit"])
                if limit is None:
                    stop = f"no tighter limit for a round {index + 1}: {why}"
                    entry["next_measurement"] = measurement
                else:
                    state["rounds"].append(
                        {"round": index + 1, "measurement": measurement, "token_limit": limit, "limit_reason": why}
                    )
            entry["stop_reason"] = stop
            state["stop_reason"] = stop
            state["selected_round"] = selected_round(state, config.auto_tolerance)
            save()
        publish_auto_decisions(output_dir, round_auto_record(config, state, index, training_args.seed))
        if push_to_hub:
            push_decided_round(output_dir, training_args)
        if entry["stop_reason"] is not None:
            break
        parent, index = str(output_dir), index + 1
    print(
        f"Stopped after round {index}: {entry['stop_reason']}. Last round within the accuracy tolerance: "
        f"{state['selected_round'] or 'none'} (decisions in {state_path})",
        flush=True,
    )
    return [round_dir(config, i) for i in range(1, index + 1)]


def parse_args(argv: list[str] | None = None) -> tuple[ScheduleConfig, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, extra_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    if not any(arg == "--config" or arg.startswith("--config=") for arg in argv):
        default = DEFAULT_AUTO_SCHEDULE if any(arg in ("--auto", "--auto=true") for arg in argv) else DEFAULT_SCHEDULE
        argv = ["--config", str(default), *argv]
    config_path = Path(argv[argv.index("--config") + 1]) if "--config" in argv else None
    if config_path is not None and not config_path.is_file():
        raise UserError(f"schedule file {config_path} does not exist: pass --config recipes/<model>/schedule.yaml")
    try:
        (config,) = TrlParser((ScheduleConfig,)).parse_args_and_config(argv)
    except SystemExit as exit_:
        if exit_.code == 0:  # --help
            raise
        raise UserError("invalid schedule arguments or file: see the message above") from exit_
    except ValueError as error:  # arguments no field takes
        raise UserError(f"invalid schedule arguments: {error} (round arguments go after `--`)") from error
    return config, extra_args


@exit_on_user_error
def main(argv: list[str] | None = None) -> list[Path]:
    config, extra_args = parse_args(argv)
    rounds = run_schedule(config, extra_args)
    print("Finished rounds:\n" + "\n".join(f"  {path}" for path in rounds))
    return rounds


if __name__ == "__main__":
    main()
