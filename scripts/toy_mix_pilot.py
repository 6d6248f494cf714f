"""Measure a candidate trace mix for the toy long-thinker in minutes, before spending an hour's build on it.

    python scripts/toy_mix_pilot.py --name shipped      # the control: the shipped mix itself
    python scripts/toy_mix_pilot.py --name stop50-rechecks2to5 --no_recheck_share 0.5 --min_rechecks 2 --max_rechecks 5

Trains the shipped toy base further on the mix of `thinkprune.toy.ToySFTConfig` given on the command line (800 steps
by default: 8-22 minutes on 2 cores in results/toy/mix_pilots), then evaluates it on the held-out toy problems as
the toy study evaluates the base (4 samples per problem, the sampling defaults, the same responses forced at half
and a quarter of their mean tokens), with room for the mix's longest trace. Writes to --results_dir:

- <name>.json  the mix, the testbed properties of issue #22 that the responses decide (not the build's time and
               size), and the over-thinking profile per level: how often a response stops after one pass, how often
               that pass is right, how many re-checks the others make, mean and mean shortest correct tokens
- README.md    every pilot in the folder side by side

A pilot starts from a base that already has the shipped mix's habits: it shows the direction and rough size of a
mix's effect on the sampled toy, not the figures a from-scratch build (`python -m thinkprune.toy`) on it would give.
With --from_scratch it is such a build (the build's code and SFT defaults, the mix and --context given), measured the
same way: a candidate for the shipped base, with the build's time to set against the hour allowed.

    python scripts/toy_mix_pilot.py --name scratch-stop50-rechecks3to7 --from_scratch --context 1280 \
        --no_recheck_share 0.5 --min_rechecks 3 --max_rechecks 7 --first_pass_slip 0.15
"""

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import HfArgumentParser, PreTrainedTokenizerFast, Qwen2ForCausalLM

from scripts.toy_study import (
    ToyStudyConfig,
    by_level,
    evaluate_with_forcing,
    overthinking_profile,
    overthinking_table,
    read_run_samples,
    testbed_properties,
    testbed_table,
)
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.toy import (
    BLIND_SPOTS,
    BOXED,
    TOY_RECORD,
    ToyModelConfig,
    ToySFTConfig,
    anatomy,
    ensure_toy_base,
    parse_operands,
    thinking_passes,
    train_base,
)


MIX_FIELDS = (
    "no_recheck_share",
    "min_rechecks",
    "max_rechecks",
    "first_pass_slip",
    "recheck_slip",
    "misreads_nines",
    "misadds_nines",
    "misadds_running_total_nines",
    "forced_share",
)
# What a build did before these settings existed, for the records and reports written then: it weighed tokens per
# batch (trl's way) and misread and misadded nothing.
SFT_BEFORE_SETTINGS_EXISTED = {"token_weighting": "per_batch"} | dict.fromkeys(BLIND_SPOTS, False)
# A pilot's SFT: a short continuation at a higher learning rate than the build's, on data drawn with another seed.
PILOT_SFT_DEFAULTS = {
    "max_steps": 800,
    "num_train_problems": 6400,
    "learning_rate": 1e-3,
    "warmup_steps": 20,
    "seed": 7,
}


def mix_label(mix: dict) -> str:
    """A mix as the reports name it: no re-check share, re-checks, first-pass slip, and its blind spots if any."""
    mix = {**SFT_BEFORE_SETTINGS_EXISTED, **mix}
    names = {
        "misreads_nines": "misreads units 9s",
        "misadds_nines": "misadds units 9s",
        "misadds_running_total_nines": "misadds running totals' units 9s",
    }
    blind_spots = "".join(f", {label}" for name, label in names.items() if mix[name])
    rechecks = f"{mix['min_rechecks']}-{mix['max_rechecks']}"
    return f"{mix['no_recheck_share']}, {rechecks}, {mix['first_pass_slip']}{blind_spots}"


def build_notes(sft: dict) -> list[str]:
    """How a from-scratch build's SFT (its record's "sft") differs from the build's defaults, beside its mix."""
    notes = []
    sft = {**SFT_BEFORE_SETTINGS_EXISTED, **sft}
    if sft["token_weighting"] != "per_batch":
        notes.append(f"{sft['token_weighting']} token weighting")
    if sft.get("group_by_length", ToySFTConfig.group_by_length):
        notes.append("batches grouped by length")
    if sft.get("learning_rate", ToySFTConfig.learning_rate) != ToySFTConfig.learning_rate:
        notes.append(f"learning rate {sft['learning_rate']:g}")
    if sft.get("seed", ToySFTConfig.seed) != ToySFTConfig.seed:  # a replication of another build
        notes.append(f"seed {sft['seed']}")
    return notes


INDEX_PREFACE = (
    "Each pilot: the shipped toy base trained further on a candidate trace mix, then evaluated on the held-out toy "
    "problems as the study evaluates the base (`python scripts/toy_mix_pilot.py`; its file gives the mix, the "
    "machine, the times and the over-thinking profile per level). The properties are issue #22's that the "
    "responses decide. A pilot shows a mix's direction, not the figures a from-scratch build on it would give; one "
    "marked from scratch is such a build (`--from_scratch`), with its time against the hour a build is allowed."
)


@dataclass
class PilotConfig:
    name: str = field(metadata={"help": "The pilot's name: its files are <name>.json and <work_dir>/<name>/."})
    num_samples: int = field(default=4, metadata={"help": "Samples per held-out problem (the study's 4)."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N held-out problems."})
    context: int = field(
        default=1024,
        metadata={
            "help": "The model's context in tokens, the toy's 1024 by default: a mix with more re-checks than "
            "1024 tokens hold needs more (the base's rotary positions run past the length it was trained at)."
        },
    )
    budgets: str = field(
        default="",
        metadata={
            "help": "Token budgets to force and truncate the responses at, besides half and a quarter of "
            "their mean tokens (the testbed's; none else by default)."
        },
    )
    from_scratch: bool = field(
        default=False,
        metadata={
            "help": "Build the base from scratch on the mix (`python -m thinkprune.toy`'s code and SFT defaults) "
            "instead of training the shipped base further."
        },
    )
    work_dir: str = field(default="outputs/toy-mix-pilots", metadata={"help": "Where models and evaluations go."})
    results_dir: str = field(default="results/toy/mix_pilots", metadata={"help": "Where the report is written."})


def with_context(base: Path, context: int, copy_dir: Path) -> Path:
    """The base itself, or a copy of it whose tokenizer and model take `context` tokens."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)
    if context == tokenizer.model_max_length:
        return base
    model = Qwen2ForCausalLM.from_pretrained(base)
    tokenizer.model_max_length = model.config.max_position_embeddings = context
    tokenizer.save_pretrained(copy_dir)
    model.save_pretrained(copy_dir)
    return copy_dir


def blind_spot_boxes(samples: list[dict], sft: ToySFTConfig) -> dict[str, dict]:
    """Per level, over the responses to the problems the nines blind spots of `sft` decide (a units 9 taken for a 6
    changes the sum a careful pass boxes, in the problem's order or in reverse): how often the first and the last box
    are the sum its traces box there, the last in the order its pass adds in. That the build learned its blind spot,
    where a wrong answer alone would not tell it from any other mistake."""
    measured = {}
    for level, level_samples in by_level(samples).items():
        first, last = [], []
        for sample in level_samples:
            operands = parse_operands(sample["problem"])
            # The passes alternate the two orders: the first adds in the problem's, the first re-check in reverse.
            careful = [BOXED.search(text)[1] for text in thinking_passes(operands, 1, **sft.blind_spots())]
            if any(int(box) != sum(operands) for box in careful):
                answered = anatomy(sample["response"], operands)["boxes"] or [None]
                first.append(answered[0] == careful[0])
                last.append(answered[-1] == careful[(len(answered) - 1) % 2])
        if first:
            measured[level] = {
                "responses": len(first),
                "first": statistics.fmean(first),
                "last": statistics.fmean(last),
            }
    return measured


def index_table(results_dir: Path) -> str:
    lines = [
        "| pilot | mix (no re-check share, re-checks, first-pass slip) | pass@1 | mean / shortest correct "
        "| hardest level: first box → last box | properties met |",
        "|---|---|---|---|---|---|",
    ]
    for path in sorted(results_dir.glob("*.json")):
        pilot = json.loads(path.read_text())
        mix, met = pilot["mix"], sum(p["met"] for p in pilot["testbed"])
        ratio = next(p for p in pilot["testbed"] if p["criterion"].startswith("mean response"))["measured"]
        boxes = next(p for p in pilot["testbed"] if p["criterion"].startswith("hardest level: the last box"))
        # Pilots written before --context existed ran at the toy's 1024 tokens.
        notes = [f"context {pilot['context']}"] if pilot.get("context", 1024) != 1024 else []
        if pilot["init_from"] is None:
            notes += build_notes(pilot["sft"])
            notes.append(f"from scratch: {pilot['sft']['max_steps']} steps in {pilot['train_seconds'] / 60:.0f} min")
        context = f" ({', '.join(notes)})" if notes else ""
        lines.append(
            f"| [{pilot['name']}]({pilot['name']}.md) | {mix_label(mix)}{context} | {100 * pilot['pass@1']:.1f}% "
            f"| {ratio} "
            f"| {boxes['measured']} | {met} of {len(pilot['testbed'])} |"
        )
    return "\n".join(lines)


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    pilot, sft = HfArgumentParser((PilotConfig, ToySFTConfig)).parse_args_into_dataclasses(args=argv)
    if not pilot.from_scratch:  # a continuation's SFT defaults, where a build keeps the build's
        parser = HfArgumentParser((PilotConfig, ToySFTConfig))
        parser.set_defaults(**PILOT_SFT_DEFAULTS)
        pilot, sft = parser.parse_args_into_dataclasses(args=argv)
    if not pilot.name or "/" in pilot.name:
        raise UserError(f"--name is a file name without '/', got {pilot.name!r}")
    work_dir, results_dir = Path(pilot.work_dir) / pilot.name, Path(pilot.results_dir)
    base = None if pilot.from_scratch else ensure_toy_base()

    model_dir = work_dir / "model"
    if not (model_dir / TOY_RECORD).is_file():  # a finished pilot model is reused
        if base is None:
            train_base(model_dir, sft, ToyModelConfig(max_position_embeddings=pilot.context))
        else:
            train_base(model_dir, sft, init_from=with_context(base, pilot.context, work_dir / "init"))
    record = json.loads((model_dir / TOY_RECORD).read_text())
    trained_context = json.loads((model_dir / "config.json").read_text())["max_position_embeddings"]
    if (
        {**SFT_BEFORE_SETTINGS_EXISTED, **record["sft"]} != asdict(sft)
        or trained_context != pilot.context
        or ("init_from" in record) == pilot.from_scratch
    ):
        raise UserError(
            f"{model_dir} was trained on another mix, context or start: give another --name, or delete {work_dir}"
        )

    study = ToyStudyConfig(num_samples=pilot.num_samples, limit=pilot.limit, budgets=pilot.budgets)
    # A finished evaluation is reused in seconds: its time is the earlier report's, not this run's.
    previous = results_dir / f"{pilot.name}.json"
    reused = (work_dir / "eval" / "results.json").is_file() and previous.is_file()
    started = time.time()
    # The context's room, not the protocol's 704 tokens: a mix with more re-checks writes longer responses.
    metrics, forcing = evaluate_with_forcing(str(model_dir), work_dir / "eval", study, max_new_tokens=pilot.context)
    samples = read_run_samples(work_dir / "eval")
    testbed = testbed_properties(samples, metrics, forcing)
    profile = overthinking_profile(samples, sft.misreads_nines)
    summary = {
        "name": pilot.name,
        "machine": machine_description(),
        "init_from": None if base is None else str(base),
        "mix": {name: getattr(sft, name) for name in MIX_FIELDS},
        "context": pilot.context,
        "sft": asdict(sft),
        "train_seconds": record["train_seconds"],
        "eval_seconds": (
            json.loads(previous.read_text())["eval_seconds"] if reused else round(time.time() - started, 1)
        ),
        "num_samples": pilot.num_samples,
        "pass@1": metrics["pass@1"],
        "mean_tokens": metrics["mean_tokens"],
        "levels": {
            level: {name: level_metrics[name] for name in ("pass@1", "pass@1_ci", "mean_tokens")}
            for level, level_metrics in metrics["levels"].items()
        },
        "forcing_budgets": forcing,
        "testbed": testbed,
        "profile": profile,
        "blind_spot_boxes": (blind_spot_boxes(samples, sft) if any(sft.blind_spots().values()) else None),
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(results_dir / f"{pilot.name}.json", summary)
    mix = ", ".join(f"{name} {value}" for name, value in summary["mix"].items())
    report = [
        f"# Toy mix pilot: {pilot.name}",
        "",
        f"{'A toy base built from scratch in' if base is None else 'The shipped toy base trained'} "
        f"{sft.max_steps} {'' if base is None else 'more '}steps on the mix {mix} (learning rate "
        f"{sft.learning_rate}, {sft.token_weighting} token weighting, context {pilot.context} tokens, "
        f"{record['train_seconds']:.0f} s), then evaluated on "
        "the held-out toy problems "
        f"({pilot.num_samples} samples each, {summary['eval_seconds']:.0f} s). Measured on {summary['machine']} by "
        f"`python scripts/toy_mix_pilot.py`.",
        "",
        "pass@1 by level: "
        + ", ".join(
            f"{level} {100 * m['pass@1']:.1f}% [{100 * m['pass@1_ci'][0]:.1f}, {100 * m['pass@1_ci'][1]:.1f}]"
            for level, m in summary["levels"].items()
        )
        + ".",
        "",
        testbed_table(testbed),
        "",
        overthinking_table(profile),
        "",
    ]
    if summary["blind_spot_boxes"]:
        report += [
            "On the problems its blind spot decides (a number ending in 9), the sum its traces box there was "
            + ", ".join(
                f"level {level} {100 * b['first']:.1f}% / {100 * b['last']:.1f}% ({b['responses']} responses)"
                for level, b in summary["blind_spot_boxes"].items()
            )
            + " of the first / last boxes.",
            "",
        ]
    write_text_atomic(results_dir / f"{pilot.name}.md", "\n".join(report))
    write_text_atomic(
        results_dir / "README.md", f"# Toy mix pilots\n\n{INDEX_PREFACE}\n\n{index_table(results_dir)}\n"
    )
    print("\n".join(report))
    return summary


if __name__ == "__main__":
    main()
