"""Predict what a trace mix makes of the toy's sampled responses in seconds, before a pilot's minutes or a build's hour.

    python scripts/toy_mix_simulate.py      # a grid of mixes -> results/toy/mix_simulations/
    python scripts/toy_mix_simulate.py --num_proc 2     # the same on two cores
    python scripts/toy_mix_simulate.py --grid false --no_recheck_share 0.5 --min_rechecks 2 --max_rechecks 5 \
        --first_pass_slip 0.15              # one mix, printed

The model: a toy trained to convergence on a mix samples its traces' own choices, reshaped by the evaluation's
sampling (temperature 0.6, top-p 0.95). Each choice is one token: stop or re-check after a pass (a trace draws its
number of re-checks once, uniformly, so after k of them it stops with probability 1 / (max - k + 1)), and keep or drop
a carry. Temperature sharpens every choice toward its likelier side, then top-p drops a side left under 5%: a first
pass that drops a carry 1 time in 10 in its traces (2.5% once sharpened) never drops one when sampled. A misread
(`--misreads_nines`) or misadded nine (`--misadds_nines`, `--misadds_running_total_nines`) is no choice: the traces
make it every time, so the simulated toy does too; the first two make the same sums and lengths, so the grid holds
the misreads and, beside them, both blind spots made while adding. The rest is the toy's own code: its passes and
tokenizer, and the study's measures (shortest correct response, boxes). The toy's own mistakes (a digit copied wrong)
are not simulated, so pass@1 is an upper bound. The model also takes every trace's choices to weigh the same in SFT,
as `--token_weighting constant` makes them; trl's default mean over each batch's tokens weighs a long trace's choice
less, and a build on it stops after one pass more often than its traces (recipes/toy/README.md). How far a
from-scratch build lands from its prediction is in the report's calibration table, from every from-scratch pilot in
results/toy/mix_pilots.

Each mix is simulated --draws times on the held-out problems at the study's 4 samples each: the range across draws
is how much one measurement of the mix moves by chance.
"""

import json
import multiprocessing
import random
import statistics
import sys
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import AutoTokenizer, HfArgumentParser

from eval.benchmarks import TOY_TEST_PROBLEMS
from scripts.toy_mix_pilot import MIX_FIELDS, SFT_BEFORE_SETTINGS_EXISTED, build_notes, mix_label
from scripts.toy_study import box_accuracy, by_level, shortest_correct
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import write_json_atomic, write_text_atomic
from thinkprune.machine import machine_description
from thinkprune.toy import (
    BLIND_SPOTS,
    BOXED,
    LEVEL_OPERANDS,
    ToySFTConfig,
    answer_sentence,
    draw_operands,
    ensure_toy_base,
    longest_trace_tokens,
    make_problems,
    parse_operands,
    sample_trace,
    thinking_passes,
)


# The evaluation protocol's sampling (R1-Distill's generation config, the toy's too).
TEMPERATURE, TOP_P = 0.6, 0.95
GRID = {
    "no_recheck_share": (0.3, 0.4, 0.5, 0.6),
    "rechecks": ((1, 3), (2, 5), (3, 5), (4, 5), (2, 6), (3, 7)),
    "first_pass_slip": (0.15, 0.2, 0.3),
    # No blind spot; the numbers' nines misread; and both nines blind spots made while adding, the numbers' and the
    # running totals', which the hardest level meets most often (misadding the numbers alone makes misreading's sums).
    "blind_spots": ((), ("misreads_nines",), ("misadds_nines", "misadds_running_total_nines")),
}


@dataclass
class SimulateConfig:
    grid: bool = field(default=True, metadata={"help": "Simulate the grid of mixes and write the report."})
    draws: int = field(default=32, metadata={"help": "Simulations of each mix on the held-out set."})
    num_samples: int = field(default=4, metadata={"help": "Samples per held-out problem (the study's 4)."})
    num_proc: int = field(default=1, metadata={"help": "Processes simulating the mixes side by side."})
    pilots_dir: str = field(
        default="results/toy/mix_pilots", metadata={"help": "The pilots whose from-scratch builds calibrate it."}
    )
    results_dir: str = field(default="results/toy/mix_simulations", metadata={"help": "Where the report is written."})


def sampled(probabilities: list[float]) -> list[float]:
    """The distribution a sampler draws from when the model puts `probabilities` on one choice's tokens."""
    weights = [p ** (1 / TEMPERATURE) for p in probabilities]
    weights = [w / sum(weights) for w in weights]
    kept, mass = set(), 0.0
    for index in sorted(range(len(weights)), key=lambda i: -weights[i]):
        kept.add(index)
        mass += weights[index]
        if mass >= TOP_P:
            break
    total = sum(weights[i] for i in kept)
    return [weights[i] / total if i in kept else 0.0 for i in range(len(weights))]


def sampled_rechecks(rng: random.Random, mix: ToySFTConfig) -> int:
    """How many re-checks a sampled response makes: one stop-or-go choice after each pass."""
    if rng.random() < sampled([mix.no_recheck_share, 1 - mix.no_recheck_share])[0]:
        return 0
    count = mix.min_rechecks
    while count < mix.max_rechecks:
        stop = 1 / (mix.max_rechecks - count + 1)
        if rng.random() < sampled([stop, 1 - stop])[0]:
            break
        count += 1
    return count


def simulated_samples(mix: ToySFTConfig, tokenizer, num_samples: int, seed: int) -> list[dict]:
    """Responses to every held-out problem as the toy would sample them, in the evaluation's sample format."""
    rng = random.Random(seed)
    slips = tuple(sampled([slip, 1 - slip])[0] for slip in (mix.first_pass_slip, mix.recheck_slip))
    samples = []
    for problem_id, row in enumerate(make_problems("test", TOY_TEST_PROBLEMS, seed=0)):
        operands = parse_operands(row["problem"])
        for _ in range(num_samples):
            thinking = "\n".join(
                thinking_passes(
                    operands,
                    sampled_rechecks(rng, mix),
                    rng,
                    slips,
                    **mix.blind_spots(),
                )
            )
            answer = BOXED.findall(thinking)[-1]
            response = thinking + answer_sentence(answer)
            samples.append(
                {
                    **row,
                    "problem_id": problem_id,
                    "response": response,
                    "correct": answer == row["answer"],
                    # The evaluation counts the generated ids, EOS included.
                    "num_tokens": len(tokenizer(response, add_special_tokens=False)["input_ids"]) + 1,
                }
            )
    return samples


def padded_batch_tokens(mix: ToySFTConfig, tokenizer, num_batches: int = 200) -> float:
    """The build's cost per SFT step: a batch of random traces is padded to its longest, so its mean length."""
    rng = random.Random(0)
    lengths = []
    for _ in range(num_batches):
        batch = []
        for _ in range(mix.batch_size):
            given, completion = sample_trace(
                rng, draw_operands(rng, rng.choice(list(LEVEL_OPERANDS)), "train"), mix, tokenizer
            )
            batch.append(len(tokenizer(given + completion, add_special_tokens=False)["input_ids"]))
        lengths.append(max(batch))
    return statistics.fmean(lengths)


def measures(samples: list[dict]) -> dict:
    levels = by_level(samples)
    if not all(any(s["correct"] for s in level_samples) for level_samples in levels.values()):
        raise UserError(
            "on some level no simulated response is right, so there is no shortest correct one: lower the slips"
        )
    easy, hard = next(iter(levels)), list(levels)[-1]
    boxes = box_accuracy(levels[hard])
    per_level = {
        level: {
            "pass@1": statistics.fmean(s["correct"] for s in level_samples),
            "mean_tokens": statistics.fmean(s["num_tokens"] for s in level_samples),
            "mean_shortest_correct": statistics.fmean(shortest_correct(level_samples)),
        }
        for level, level_samples in levels.items()
    }
    return {
        "pass@1": statistics.fmean(s["correct"] for s in samples),
        "ratio": statistics.fmean(s["num_tokens"] for s in samples) / statistics.fmean(shortest_correct(samples)),
        "hardest_over_easiest": per_level[hard]["mean_shortest_correct"] / per_level[easy]["mean_shortest_correct"],
        "hardest_box_gain": boxes["last"] - boxes["first"],
        "levels": per_level,
    }


def simulate(mix: ToySFTConfig, tokenizer, draws: int, num_samples: int) -> dict:
    """A mix's predicted measures: each the mean over `draws` simulated evaluations, with their range."""
    runs = [measures(simulated_samples(mix, tokenizer, num_samples, seed)) for seed in range(draws)]
    summary = {
        name: {
            "mean": statistics.fmean(r[name] for r in runs),
            "min": min(r[name] for r in runs),
            "max": max(r[name] for r in runs),
        }
        for name in ("pass@1", "ratio", "hardest_over_easiest", "hardest_box_gain")
    }
    summary["levels"] = {
        level: {
            name: statistics.fmean(r["levels"][level][name] for r in runs)
            for name in ("pass@1", "mean_tokens", "mean_shortest_correct")
        }
        for level in runs[0]["levels"]
    }
    summary["longest_trace_tokens"] = longest_trace_tokens(tokenizer, mix.max_rechecks)
    summary["padded_batch_tokens"] = padded_batch_tokens(mix, tokenizer)
    return summary


def simulate_each(mixes: list[ToySFTConfig], tokenizer, config: SimulateConfig) -> list[dict]:
    """`simulate` for every mix, in `config.num_proc` processes: the mixes are independent, and each is pure Python,
    so one process uses one core."""
    simulate_one = partial(simulate, tokenizer=tokenizer, draws=config.draws, num_samples=config.num_samples)
    if config.num_proc == 1:
        return [simulate_one(mix) for mix in mixes]
    with multiprocessing.Pool(config.num_proc) as pool:
        return pool.map(simulate_one, mixes)


def grid_mixes(base: ToySFTConfig) -> list[ToySFTConfig]:
    return [
        replace(
            base,
            no_recheck_share=share,
            min_rechecks=low,
            max_rechecks=high,
            first_pass_slip=slip,
            **{name: name in blind_spots for name in BLIND_SPOTS},
        )
        for blind_spots in GRID["blind_spots"]
        for share in GRID["no_recheck_share"]
        for low, high in GRID["rechecks"]
        for slip in GRID["first_pass_slip"]
    ]


def level_ratio(level: dict) -> float | None:
    shortest = level["mean_shortest_correct"]
    return None if shortest is None else level["mean_tokens"] / shortest


def calibration(pilots_dir: Path, base: ToySFTConfig, tokenizer, config: SimulateConfig) -> list[dict]:
    """Every from-scratch build among the pilots, measured against its mix's prediction."""
    pilots = [json.loads(path.read_text()) for path in sorted(pilots_dir.glob("*.json"))]
    # A continuation of the shipped base has its habits, not its mix's.
    builds = [pilot for pilot in pilots if pilot["init_from"] is None]
    mixes = [replace(base, **{**SFT_BEFORE_SETTINGS_EXISTED, **pilot["mix"]}) for pilot in builds]
    rows = []
    for pilot, mix, predicted in zip(builds, mixes, simulate_each(mixes, tokenizer, config)):
        notes = build_notes(pilot["sft"])
        rows.append(
            {
                "build": pilot["name"],
                "label": mix_label(vars(mix)) + (f" ({', '.join(notes)})" if notes else ""),
                "mix": pilot["mix"],
                "pass@1": {"predicted": predicted["pass@1"]["mean"], "measured": pilot["pass@1"]},
                "level_pass@1": {
                    level: {"predicted": predicted["levels"][level]["pass@1"], "measured": measured["pass@1"]}
                    for level, measured in pilot["levels"].items()
                },
                "level_ratios": {
                    str(p["level"]): {
                        "predicted": level_ratio(predicted["levels"][str(p["level"])]),
                        "measured": level_ratio(p),
                    }
                    for p in pilot["profile"]
                },
            }
        )
    return rows


def shown(value: float | None, fmt: str) -> str:
    return "—" if value is None else fmt.format(value)


def report(grid: list[dict], calibrated: list[dict], config: SimulateConfig) -> str:
    lines = [
        "# Toy mix simulations",
        "",
        f"What each trace mix is predicted to make of the toy's sampled responses (`python scripts/toy_mix_simulate.py`"
        f": {config.draws} simulated evaluations of the held-out problems at {config.num_samples} samples each, the "
        "sampling defaults; the model and its limits are in the script's docstring). Pass@1 is an upper bound: the "
        "toy's own mistakes are not simulated. The range is the lowest and highest of the draws: how far one "
        "measurement moves by chance. A padded SFT batch is the build's cost per step (its batches are padded to "
        "their longest trace); the shipped mix's is the first row's.",
        "",
        "## Calibration: from-scratch builds against their prediction",
        "",
        "| build | mix (no re-check share, re-checks, first-pass slip) | pass@1 predicted / measured "
        "| pass@1 by level, predicted / measured | mean / shortest correct by level, predicted / measured |",
        "|---|---|---|---|---|",
    ]
    for row in calibrated:
        level_accuracy = ", ".join(
            f"level {level} {100 * a['predicted']:.1f}% / {100 * a['measured']:.1f}%"
            for level, a in row["level_pass@1"].items()
        )
        ratios = ", ".join(
            f"level {level} {shown(r['predicted'], '{:.2f}x')} / {shown(r['measured'], '{:.2f}x')}"
            for level, r in row["level_ratios"].items()
        )
        lines.append(
            f"| [{row['build']}](../mix_pilots/{row['build']}.md) | {row['label']} | "
            f"{100 * row['pass@1']['predicted']:.1f}% / {100 * row['pass@1']['measured']:.1f}% | {level_accuracy} "
            f"| {ratios} |"
        )
    lines += [
        "",
        "## Grid",
        "",
        "| mix (no re-check share, re-checks, first-pass slip) | pass@1 (at most) | easiest / hardest level "
        "| mean / shortest correct (range) | hardest level: last box over first | hardest / easiest shortest correct "
        "| longest trace | padded SFT batch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in grid:
        ratio, gain, levels = row["ratio"], row["hardest_box_gain"], list(row["levels"].values())
        lines.append(
            f"| {row['label']} | {100 * row['pass@1']['mean']:.1f}% | {100 * levels[0]['pass@1']:.1f}% / "
            f"{100 * levels[-1]['pass@1']:.1f}% | {ratio['mean']:.2f}x ({ratio['min']:.2f}-"
            f"{ratio['max']:.2f}) | {100 * gain['mean']:+.1f} points | {row['hardest_over_easiest']['mean']:.2f}x "
            f"| {row['longest_trace_tokens']} tokens | {row['padded_batch_tokens']:.0f} tokens |"
        )
    return "\n".join(lines) + "\n"


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict:
    config, base = HfArgumentParser((SimulateConfig, ToySFTConfig)).parse_args_into_dataclasses(args=argv)
    if config.num_proc < 1:
        raise UserError(f"--num_proc is a number of processes, at least 1; got {config.num_proc}")
    tokenizer = AutoTokenizer.from_pretrained(ensure_toy_base())
    if not config.grid:
        predicted = simulate(base, tokenizer, config.draws, config.num_samples)
        print(json.dumps(predicted, indent=2))
        return predicted
    shipped = ToySFTConfig()
    mixes = [shipped, *(mix for mix in grid_mixes(base) if mix != shipped)]
    grid = [
        {"label": mix_label(vars(mix)), "mix": {name: getattr(mix, name) for name in MIX_FIELDS}, **predicted}
        for mix, predicted in zip(mixes, simulate_each(mixes, tokenizer, config))
    ]
    calibrated = calibration(Path(config.pilots_dir), base, tokenizer, config)
    results_dir = Path(config.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = {
        "machine": machine_description(),
        "draws": config.draws,
        "num_samples": config.num_samples,
        "sampling": {"temperature": TEMPERATURE, "top_p": TOP_P},
        "calibration": calibrated,
        "grid": grid,
    }
    write_json_atomic(results_dir / "simulations.json", summary)
    write_text_atomic(results_dir / "README.md", report(grid, calibrated, config))
    print(f"Wrote {results_dir}/README.md and simulations.json")
    return summary


if __name__ == "__main__":
    main()
