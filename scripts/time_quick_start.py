"""How long the README's Quick start round trains on this machine, run several times: a timing moves between runs,
so it is reported with its spread.

    python scripts/time_quick_start.py                 # 3 runs of `accelerate launch train/round.py`
    python scripts/time_quick_start.py --repeats 5
    python scripts/time_quick_start.py --repeats 1 --max_steps 1   # any other argument goes to train/round.py

Each run is the Quick start's own command (`accelerate launch train/round.py`, the toy recipe) into a scratch
directory, one after the other; its time is the round record's `train_seconds` (trl's training loop: the
"training" the toy's 150-second criterion counts), and the process's wall-clock time beside it. Writes
results/toy/quick_start/torch-<version>.json (the runs, their median and min-max, the date, the machine and the
versions the records name: one file per torch build, since the time belongs to it) and the README indexing every such
file. A re-run keeps the file's earlier measurements under "earlier": two hosts of one description (cores, torch
build) can differ in speed by half, so a timing is also a reading of the day's host.
Meant for an otherwise idle machine: on a shared one, the times measure the neighbours too.
"""

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch
from transformers import HfArgumentParser

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.records import RoundRecord


# `accelerate launch` of this interpreter's environment, not the first on PATH: the times belong to its torch build.
QUICK_START = [sys.executable, "-m", "accelerate.commands.launch", str(REPO_ROOT / "train" / "round.py")]
CRITERION_SECONDS = 150


@dataclass
class QuickStartTimingConfig:
    repeats: int = field(default=3, metadata={"help": "How many times to run the Quick start round."})
    results_dir: str = field(default="results/toy/quick_start", metadata={"help": "Where the report is written."})


def run_once(scratch: Path, round_args: list[str]) -> dict:
    output_dir = scratch / "round1"
    started = time.time()
    completed = subprocess.run([*QUICK_START, "--output_dir", str(output_dir), *round_args], cwd=REPO_ROOT)
    wall = round(time.time() - started, 1)
    record = RoundRecord.find(output_dir)
    if completed.returncode != 0 or record is None:
        raise UserError(
            f"the Quick start round failed (exit status {completed.returncode}): run `accelerate launch "
            "train/round.py` by itself to see why"
        )
    return {"train_seconds": record.train_seconds, "wall_seconds": wall, "versions": record.versions}


def summarize(runs: list[dict]) -> dict:
    seconds = [run["train_seconds"] for run in runs]
    return {
        "median_train_seconds": statistics.median(seconds),
        "train_seconds_range": {"min": min(seconds), "max": max(seconds)},
        "runs_within_criterion": sum(value <= CRITERION_SECONDS for value in seconds),
    }


def index(results_dir: Path) -> str:
    lines = [
        "# The Quick start round's training time",
        "",
        f"`python scripts/time_quick_start.py`: the README's Quick start round (`accelerate launch train/round.py`) "
        f"run several times in a row, its training time (the round record's `train_seconds`) against the toy's "
        f"{CRITERION_SECONDS} s criterion. One file per torch build; each row one measurement, the latest first, "
        "earlier ones made on other days' hosts (the date is recorded since 2026-12-07).",
        "",
        "| torch | measured | machine | runs | median | min-max | runs within 150 s |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in sorted(results_dir.glob("torch-*.json")):
        latest = json.loads(path.read_text())
        for report in [latest, *latest.get("earlier", [])]:
            summary, span = report["summary"], report["summary"]["train_seconds_range"]
            lines.append(
                f"| [{report['torch']}]({path.name}) | {report.get('date', 'before 2026-12-07')} | {report['machine']} "
                f"| {len(report['runs'])} | {summary['median_train_seconds']:.1f} s "
                f"| {span['min']:.1f}-{span['max']:.1f} s | {summary['runs_within_criterion']} of {len(report['runs'])} |"
            )
    return "\n".join(lines) + "\n"


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    config, round_args = HfArgumentParser(QuickStartTimingConfig).parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True
    )
    if config.repeats < 1:
        raise UserError(f"--repeats is how many runs to time: at least 1, got {config.repeats}")
    runs = []
    for repeat in range(config.repeats):
        with tempfile.TemporaryDirectory(prefix="thinkprune-quick-start-") as scratch:
            runs.append(run_once(Path(scratch), round_args))
        print(f"run {repeat + 1} of {config.repeats}: {runs[-1]['train_seconds']} s of training", flush=True)
    torch_version = runs[0]["versions"]["torch"]
    if torch_version != torch.__version__:
        raise UserError(
            f"the rounds ran with torch {torch_version}, this script with {torch.__version__}: run it with the "
            "Python of the environment to time"
        )
    report = {
        "torch": torch_version,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": machine_description(),
        "round_args": round_args,
        "runs": runs,
        "summary": summarize(runs),
    }
    results_dir = Path(config.results_dir)
    path = results_dir / f"torch-{torch_version}.json"
    if path.is_file():
        previous = json.loads(path.read_text())
        report["earlier"] = [{k: v for k, v in previous.items() if k != "earlier"}, *previous.get("earlier", [])]
    write_json_atomic(path, report)
    write_text_atomic(results_dir / "README.md", index(results_dir))
    print(index(results_dir))
    return report


if __name__ == "__main__":
    main()
