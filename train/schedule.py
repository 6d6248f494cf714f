"""Chain ThinkPrune rounds with stricter limits, each starting from the previous round's checkpoint.

Usage:

    # The toy schedule (3 rounds on a laptop CPU; builds the toy base on first use)
    python train/schedule.py

    # The paper's 4k -> 3k -> 2k chain on DeepSeek-R1-Distill-Qwen-1.5B, 8 GPUs per round
    python train/schedule.py --config recipes/DeepSeek-R1-Distill-Qwen-1.5B/schedule.yaml

    # Anything after `--` is passed to every round, e.g.
    python train/schedule.py -- --max_steps 10

    # Launcher arguments for every round (several processes, several machines: see the README's scale-out section)
    python train/schedule.py --launch_args="--multi_gpu --num_processes 2"

Each round runs as its own `accelerate launch train/round.py` (fresh process, fresh optimizer) and writes
`<output_root>/round<i>`. Rounds already finished are skipped, so re-running the same command after a crash
resumes where it stopped (an unfinished round resumes only if it is this schedule's: train/round.py checks its
start marker); a failing round leaves the finished ones untouched. On several machines the same command runs on
each one; the main machine writes every round's record, the others wait for it before starting the next round.
"""

import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trl import TrlParser

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.paths import RECIPES_DIR, REPO_ROOT
from thinkprune.records import RoundRecord, model_reference


DEFAULT_SCHEDULE = RECIPES_DIR / "toy" / "schedule.yaml"


@dataclass
class ScheduleConfig:
    recipe: str = field(metadata={"help": "The round recipe (YAML) every round starts from."})
    model_name_or_path: str = field(metadata={"help": "The model the first round prunes."})
    token_limits: list[int] = field(metadata={"help": "One token limit per round, e.g. 4000 3000 2000."})
    output_root: str = field(metadata={"help": "Round i is written to <output_root>/round<i>."})
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


def machine_rank(config: ScheduleConfig) -> int:
    """This machine's rank in a multi-machine launch (0 on a single machine)."""
    args = shlex.split(config.launch_args)
    for i, arg in enumerate(args):
        value = args[i + 1] if arg == "--machine_rank" and i + 1 < len(args) else None
        value = arg.split("=", 1)[1] if arg.startswith("--machine_rank=") else value
        if value is not None:
            if not value.isdigit():
                raise UserError(f"--machine_rank in launch_args must be a number, got {value!r}")
            return int(value)
    return 0


def wait_for_record(output_dir: Path, timeout: int) -> RoundRecord | None:
    """The round record the main machine writes (on the shared filesystem) once it has published the round."""
    deadline = time.monotonic() + timeout
    while (record := RoundRecord.find(output_dir)) is None and time.monotonic() < deadline:
        time.sleep(5)
    return record


def round_dir(config: ScheduleConfig, index: int) -> Path:
    return Path(config.output_root) / f"round{index}"


def round_command(config: ScheduleConfig, index: int, parent: str, extra_args: list[str]) -> list[str]:
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
        str(config.token_limits[index - 1]),
        "--round_index",
        str(index),
        "--output_dir",
        str(round_dir(config, index)),
        # An interrupted round picks up from its last checkpoint, if it saved any.
        "--resume_from_checkpoint",
        "true",
        *extra_args,
    ]


def run_schedule(config: ScheduleConfig, extra_args: list[str] = ()) -> list[Path]:
    """Run the rounds not finished yet; return every round directory."""
    if not config.token_limits or any(limit <= 0 for limit in config.token_limits):
        raise UserError(f"token_limits must be positive numbers of tokens, got {config.token_limits}")
    if not Path(config.recipe).is_file():
        raise UserError(f"recipe file {config.recipe} does not exist: fix `recipe` in the schedule")
    parent = config.model_name_or_path
    for index, limit in enumerate(config.token_limits, start=1):
        output_dir = round_dir(config, index)
        record = RoundRecord.find(output_dir)
        if record is not None:
            if record.token_limit != limit or record.parent != model_reference(parent):
                raise UserError(
                    f"{output_dir} holds a round of another schedule (limit {record.token_limit}, parent "
                    f"{record.parent}): choose another output_root or remove that directory"
                )
            print(f"Round {index} (limit {limit}) already finished in {output_dir}: skipped", flush=True)
        else:
            print(f"Round {index}: limit {limit} tokens, from {parent} -> {output_dir}", flush=True)
            completed = subprocess.run(round_command(config, index, parent, list(extra_args)))
            record = None
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
        parent = str(output_dir)
    return [round_dir(config, index) for index in range(1, len(config.token_limits) + 1)]


def parse_args(argv: list[str] | None = None) -> tuple[ScheduleConfig, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv, extra_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    if not any(arg == "--config" or arg.startswith("--config=") for arg in argv):
        argv = ["--config", str(DEFAULT_SCHEDULE), *argv]
    config_path = Path(argv[argv.index("--config") + 1]) if "--config" in argv else None
    if config_path is not None and not config_path.is_file():
        raise UserError(f"schedule file {config_path} does not exist: pass --config recipes/<model>/schedule.yaml")
    try:
        (config,) = TrlParser((ScheduleConfig,)).parse_args_and_config(argv)
    except SystemExit as exit_:
        raise UserError("invalid schedule arguments or file: see the message above") from exit_
    return config, extra_args


@exit_on_user_error
def main(argv: list[str] | None = None) -> list[Path]:
    config, extra_args = parse_args(argv)
    rounds = run_schedule(config, extra_args)
    print("Finished rounds:\n" + "\n".join(f"  {path}" for path in rounds))
    return rounds


if __name__ == "__main__":
    main()
