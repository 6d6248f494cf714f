"""Model cards for ThinkPrune rounds: Hub metadata (lineage, evals) and a body a reader can act on.

    python model_cards/generate.py outputs/toy/r1            # evals found at outputs/toy/r1/eval/results.json
    python model_cards/generate.py outputs/toy/r2 --eval_results evals/r2 --parent_eval evals/r1 --base_eval evals/base

Reads the round directory (`round_record.json`, `trainer_log.json`, evaluation results) and writes `README.md`
and `training_curves.png` into it. `train/push_to_hub.py` writes the same card, with the Hub id, when it pushes.

`base_model` in the metadata is the parent's Hub id (or the nearest ancestor's that has one) so that the Hub's model
tree shows the chain base -> 4k -> 3k -> 2k. A local ancestor is known by its Hub id once it has been pushed: its
card records it under `thinkprune.repo_id`, which a card written again keeps.
"""

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx2
import yaml
from huggingface_hub import EvalResult, EvalResultEntry, HfApi, ModelCard, ModelCardData, eval_result_entries_to_yaml
from matplotlib.figure import Figure
from transformers import HfArgumentParser

from thinkprune.budget import interpolate
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import save_figure_atomic, write_text_atomic
from thinkprune.hub import CARD_FILE, card_metadata, limit_label, looks_like_hub_id, pushed_repo_id
from thinkprune.lineage import display_name, hub_id_of, lineage_names, local_dir, public_recipe
from thinkprune.points import signed_points
from thinkprune.prompts import EVAL_SUFFIX
from thinkprune.records import RoundRecord, read_trainer_log
from thinkprune.toy import TOY_MODEL_NAME, make_problems


TEMPLATE_PATH = Path(__file__).with_name("template.md")
CURVES_FILE = "training_curves.png"
# Where model pages and leaderboards read evaluation results today (model-index in the card is the legacy place).
EVAL_RESULTS_DIR = ".eval_results"
EVAL_RESULTS = Path("eval") / "results.json"
TOY_LICENSE = "apache-2.0"
TAGS = ["thinkprune", "grpo", "trl", "reasoning"]
PAPER_URL = "https://arxiv.org/abs/2504.01296"
CITATION = """@article{hou2025thinkprune,
  title   = {ThinkPrune: Pruning Long Chain-of-Thought of LLMs via Reinforcement Learning},
  author  = {Hou, Bairu and Zhang, Yang and Ji, Jiabao and Liu, Yujian and Qian, Kaizhi and Andreas, Jacob and Chang, Shiyu},
  journal = {arXiv preprint arXiv:2504.01296},
  year    = {2025}
}"""
# The evaluation protocol of the paper; a card shows the settings of its own evaluation when it has one.
DEFAULT_GENERATION = {"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 32768}
# The values a reader needs to reproduce a round; the card lists every other one in a collapsed block.
KEY_RECIPE_VALUES = [
    "model_name_or_path",
    "token_limit",
    "truncation",
    "limit_in_prompt",
    "dataset_name",
    "data_source",
    "num_train_problems",
    "max_prompt_length",
    "learning_rate",
    "lr_scheduler_type",
    "weight_decay",
    "max_grad_norm",
    "num_generations",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_steps",
    "num_train_epochs",
    "temperature",
    "top_p",
    "beta",
    "loss_type",
    "scale_rewards",
    "epsilon",
    "seed",
]
CURVES = [
    ("reward", "mean reward"),
    ("completions/mean_length", "mean completion length (tokens)"),
    ("completions/clipped_ratio", "clipped ratio (cut at the limit)"),
]


# ---------------------------------------------------------------------------------------------------------------
# Reading a round directory
# ---------------------------------------------------------------------------------------------------------------


def read_eval(path: str | Path) -> dict:
    """Evaluation results, given a results.json or the evaluation directory holding it."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"no evaluation results at {path}: pass a results.json or the directory holding it")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON ({error}): rerun the evaluation") from error
    if not isinstance(results, dict) or not isinstance(results.get("benchmarks"), dict):
        raise UserError(f"{path} has no 'benchmarks' mapping: pass the results.json written by eval/evaluate.py")
    return results


def markdown_name(name_or_path: str) -> str:
    """A lineage entry in a card's prose: a link to its Hub page when it has one."""
    name = display_name(name_or_path)
    return f"[`{name}`](https://huggingface.co/{name})" if hub_id_of(name_or_path) else f"`{name}`"


# ---------------------------------------------------------------------------------------------------------------
# Card contents
# ---------------------------------------------------------------------------------------------------------------


def inherited_license(record: RoundRecord) -> str | None:
    """The base model's license, as the parent's card, the base's card or the base's Hub page states it."""
    base = record.base_model
    if base == TOY_MODEL_NAME:
        return TOY_LICENSE
    for entry in (record.parent, base):
        path = local_dir(entry)
        if path and (license_ := card_metadata(path).get("license")):
            return license_
    if not looks_like_hub_id(base):
        return None
    try:
        card_data = HfApi().model_info(base, timeout=10).card_data
    except (OSError, ValueError, httpx2.HTTPError):  # offline, or a private base: the card just has no license
        return None
    return getattr(card_data, "license", None)


def ancestor_eval(name_or_path: str) -> dict | None:
    path = local_dir(name_or_path)
    return read_eval(path / EVAL_RESULTS) if path and (path / EVAL_RESULTS).is_file() else None


def nearest_hub_ancestor(record: RoundRecord) -> str | None:
    """The parent's Hub id, else the closest ancestor's: the Hub's model tree links this model under it."""
    for entry in reversed(record.lineage):
        if hub_id := hub_id_of(entry):
            return hub_id
    return None


def dataset_ids(record: RoundRecord) -> list[str]:
    name = record.dataset.get("name") or record.recipe.get("dataset_name")
    return [name] if isinstance(name, str) and looks_like_hub_id(name) else []


def format_percent(value) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def format_tokens(value) -> str:
    return "–" if value is None else f"{value:,.0f}"


def saving(this: dict, other: dict | None) -> str:
    """Length change and accuracy change of this model against another, e.g. "−53% tokens (pass@1 +0.8)"."""
    if not other or not other.get("mean_tokens") or this.get("mean_tokens") is None:
        return "–"
    change = this["mean_tokens"] / other["mean_tokens"] - 1
    text = f"{'−' if change < 0 else '+'}{abs(100 * change):.0f}% tokens"
    if this.get("pass@1") is not None and other.get("pass@1") is not None:
        text += f" (pass@1 {signed_points(this['pass@1'] - other['pass@1'])})"
    return text


def cell(benchmark: dict | None) -> str:
    if not benchmark:
        return "–"
    return f"{format_percent(benchmark.get('pass@1'))} · {format_tokens(benchmark.get('mean_tokens'))} tokens"


def eval_rows(results: dict | None, parent: dict | None, base: dict | None) -> list[dict]:
    if not results:
        return []
    rows = []
    for name, bench in results["benchmarks"].items():
        parent_bench = (parent or {}).get("benchmarks", {}).get(name)
        base_bench = (base or {}).get("benchmarks", {}).get(name)
        rows.append(
            {
                "name": name,
                "this": cell(bench),
                "parent": cell(parent_bench),
                "base": cell(base_bench),
                "vs_parent": saving(bench, parent_bench),
                "vs_base": saving(bench, base_bench),
            }
        )
    return rows


def budget_rows(results: dict | None, base_results: dict | None) -> list[dict]:
    """The budget tables of the base's and this model's evaluations (`eval/evaluate.py --budgets`): per benchmark,
    model and budget, pass@1 and mean tokens truncated and forced."""
    rows = []
    for model, source in (("base", base_results), ("this model", results)):
        for name, bench in (source or {}).get("benchmarks", {}).items():
            by_budget = {}
            for row in bench.get("budgets", []):
                by_budget.setdefault(row["budget"], {})[row["mode"]] = cell(row)
            rows += [
                {"name": name, "model": model, "budget": f"{budget:,}", **modes}
                for budget, modes in sorted(by_budget.items())
            ]
    return rows


def equal_token_lines(results: dict | None, base_results: dict | None) -> list[str]:
    """Per benchmark, this model against the base's budget curves at this model's own mean tokens."""
    lines = []
    for name, bench in (results or {}).get("benchmarks", {}).items():
        base_rows = (base_results or {}).get("benchmarks", {}).get(name, {}).get("budgets", [])
        if not base_rows or bench.get("mean_tokens") is None:
            continue
        tokens = bench["mean_tokens"]
        at_tokens = []
        for mode, label in (("truncate", "truncated"), ("force", "budget-forced")):
            curve = [(row["mean_tokens"], row["pass@1"]) for row in base_rows if row["mode"] == mode]
            if curve:
                accuracy = interpolate(curve, tokens)
                at_tokens.append(
                    f"{label} {format_percent(accuracy)}" if accuracy is not None else f"{label}: outside its budgets"
                )
        lines.append(
            f"{name}: this model {format_percent(bench.get('pass@1'))} at {format_tokens(tokens)} tokens; the base at "
            f"{format_tokens(tokens)} tokens: {', '.join(at_tokens)}"
        )
    return lines


def eval_results_metadata(results: dict | None):
    """model-index entries: pass@1 (%) and mean generated tokens per benchmark."""
    metrics = [("pass@1", "pass@1 (%)", 100), ("mean_tokens", "mean generated tokens", 1)]
    entries = []
    for name, bench in (results or {}).get("benchmarks", {}).items():
        for metric_type, metric_name, scale in metrics:
            value = bench.get(metric_type)
            if isinstance(value, int | float) and math.isfinite(value):
                entry = EvalResult(
                    task_type="text-generation",
                    dataset_type=bench.get("dataset_id") or name,
                    dataset_name=name,
                    metric_type=metric_type,
                    metric_name=metric_name,
                    metric_value=round(value * scale, 2),
                )
                entries.append(entry)
    return entries or None


def eval_result_entries(results: dict | None) -> dict[str, EvalResultEntry]:
    """One `.eval_results` entry per benchmark that has a Hub dataset id: pass@1 in percent, the setup in the notes."""
    config = (results or {}).get("config") or {}
    entries = {}
    for name, bench in (results or {}).get("benchmarks", {}).items():
        value = bench.get("pass@1")
        if not bench.get("dataset_id") or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        setup = ", ".join(
            f"{key} {config[key]}" for key in ("temperature", "top_p", "max_new_tokens") if config.get(key) is not None
        )
        entries[name] = EvalResultEntry(
            dataset_id=bench["dataset_id"],
            task_id=bench.get("dataset_config") or "default",
            value=round(100 * value, 2),
            dataset_revision=bench.get("dataset_revision"),
            notes=(
                f"pass@1 (%) over {bench.get('num_samples')} samples per problem ({setup}); "
                f"{format_tokens(bench.get('mean_tokens'))} generated tokens on average; "
                f"{'complete' if bench.get('complete', True) else 'PARTIAL'} run"
            ),
        )
    return entries


def write_eval_results(results: dict | None, output_dir: Path) -> list[Path]:
    """`.eval_results/<benchmark>.yaml` for every entry; files of benchmarks no longer evaluated are removed."""
    folder = output_dir / EVAL_RESULTS_DIR
    entries = eval_result_entries(results)
    written = []
    for name, entry in entries.items():
        path = folder / f"{name}.yaml"
        write_text_atomic(path, yaml.safe_dump(eval_result_entries_to_yaml([entry]), sort_keys=False))
        written.append(path)
    for stale in folder.glob("*.yaml") if folder.is_dir() else []:
        if stale not in written:
            stale.unlink()
    return written


def format_value(value) -> str:
    text = json.dumps(value) if isinstance(value, list | dict | bool) or value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def generation_settings(results: dict | None, checkpoint_dir: Path) -> dict:
    config = (results or {}).get("config") or {}
    settings = {key: config.get(key, default) for key, default in DEFAULT_GENERATION.items()}
    if "max_new_tokens" not in config:
        context = _max_positions(checkpoint_dir)
        settings["max_new_tokens"] = (
            min(settings["max_new_tokens"], context) if context else settings["max_new_tokens"]
        )
    return settings


def _max_positions(checkpoint_dir: Path) -> int | None:
    path = checkpoint_dir / "config.json"
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("max_position_embeddings")
    return value if isinstance(value, int) else None


def auto_paragraphs(auto: dict | None) -> list[str]:
    """ "How this limit was chosen": the automatic schedule's measurement, limit, validation and decision, as prose."""
    if not auto:
        return []
    measured, validated, rules = auto["parent_measurement"], auto["validation"], auto["rules"]
    first, parent = auto["first_parent_validation"], auto["parent_validation"]
    spread = ", ".join(f"p{p} {n}" for p, n in measured["correct_finished_percentiles"].items()) or "none"
    outcome = (
        f"The schedule stopped after this round: {auto['stop_reason']}."
        if auto["stop_reason"]
        else f"The schedule went on to a round at {auto['next_limit']} tokens."
    )
    return [
        f"The automatic schedule (`train/schedule.py --auto`) measured the parent on {measured['num_problems']} "
        f"held-out training problems × {measured['num_samples']} samples (temperature {measured['temperature']}, "
        f"top_p {measured['top_p']}, at most {measured['max_new_tokens']} tokens): "
        f"{format_percent(measured['accuracy'])} correct, {format_percent(measured['finished_rate'])} finished; the "
        f"{len(measured['correct_finished_lengths'])} finished, correct responses ran {spread} tokens.",
        f"Limit: **{auto['token_limit']} tokens**, because {auto['limit_reason']} (the rule: the "
        f"{rules['percentile']:g}th percentile of those lengths, never above the previous limit, never below "
        f"{rules['floor']} tokens).",
        f"Validation on {validated['num_problems']} other held-out problems × {validated['num_samples']} samples "
        f"(temperature {validated['temperature']}, top_p {validated['top_p']}, at most {validated['max_new_tokens']} "
        f"tokens): accuracy {format_percent(validated['accuracy'])} "
        f"(± {100 * validated['accuracy_stderr']:.1f}; first parent {format_percent(first['accuracy'])}, parent "
        f"{format_percent(parent['accuracy'])}), mean length {format_tokens(validated['mean_tokens'])} tokens (parent "
        f"{format_tokens(parent['mean_tokens'])}). The schedule stops once accuracy is more than "
        f"{100 * rules['tolerance']:g} points below the first parent's or the length falls by less than "
        f"{100 * rules['min_length_drop']:g}%, or after {rules['max_rounds']} rounds.",
        outcome,
        f"Held out: {auto['held_out']}.",
    ]


def difficulty_text(difficulty: dict | None, token_limit: int) -> str | None:
    if not difficulty:
        return None
    limits = difficulty["limits"]
    return (
        f"Difficulty-aware limits: every training problem had its own limit, {difficulty['min_limit']} + "
        f"({token_limit} − {difficulty['min_limit']}) × (1 − the parent's solve rate over "
        f"{difficulty['num_samples']} samples), from {limits['min']} to {limits['max']} tokens (mean "
        f"{limits['mean']:.0f}; the parent's mean solve rate {format_percent(difficulty['mean_solve_rate'])}). A "
        f"completion longer than its problem's limit earned 0; generation stopped at {token_limit} tokens."
    )


def problem_filter_text(problem_filter: dict | None) -> str | None:
    if not problem_filter:
        return None
    return (
        f"Solved-problem filter: before the round the parent answered every training problem "
        f"{problem_filter['num_samples']} times under the limit; the {problem_filter['num_always_solved']} it always "
        f"solved and the {problem_filter['num_never_solved']} it never solved were dropped (their groups would have "
        f"all-equal rewards), leaving {problem_filter['num_kept']} of {problem_filter['num_problems']}."
    )


def dynamic_sampling_text(dynamic_sampling: dict | None) -> str | None:
    if not dynamic_sampling:
        return None
    trained = dynamic_sampling["groups_kept"] + dynamic_sampling["groups_padded"]
    return (
        f"Dynamic sampling (DAPO): steps trained only on prompt groups whose rewards were not all equal, generating "
        f"up to {dynamic_sampling['max_rounds']} rounds per step to fill them: {dynamic_sampling['groups_generated']} "
        f"groups generated in {dynamic_sampling['generation_rounds']} rounds, {dynamic_sampling['groups_kept']} of "
        f"the {trained} trained on had varied rewards ({dynamic_sampling['groups_padded']} all-equal groups filled "
        f"steps the rounds could not), {dynamic_sampling['extra_generation_seconds']:.1f} s in extra rounds."
    )


def plot_training_curves(log_history: list[dict], token_limit: int, path: Path) -> bool:
    """Reward, mean length and clipped ratio per step as one PNG, written atomically. False when nothing was logged."""
    series = {
        key: [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        for key, _ in CURVES
    }
    if not any(series.values()):
        return False
    figure = Figure(figsize=(4 * len(CURVES), 3.2), dpi=100)
    axes = figure.subplots(1, len(CURVES))
    for axis, (key, label) in zip(axes, CURVES):
        if series[key]:
            steps, values = zip(*series[key])
            axis.plot(steps, values, marker="o" if len(steps) < 30 else None, markersize=3)
        if key == "completions/mean_length":
            axis.axhline(token_limit, color="gray", linestyle="--", linewidth=1)
        axis.set_title(label, fontsize=10)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    save_figure_atomic(figure, path)
    return True


@dataclass
class CardInputs:
    """Everything a card is written from; `write_model_card` fills it from a round directory."""

    checkpoint_dir: Path
    record: RoundRecord
    log_history: list[dict] = field(default_factory=list)
    results: dict | None = None
    parent_results: dict | None = None
    base_results: dict | None = None
    repo_id: str | None = None
    revision: str | None = None


def build_card(inputs: CardInputs, curves_file: str | None):
    """The ModelCard (metadata + body rendered from template.md)."""
    record = inputs.record
    limit = record.token_limit
    title = inputs.repo_id or f"{display_name(record.base_model)}-thinkprune-{limit_label(limit)}"
    parent_is_base = len(record.lineage) <= 1
    base_results = inputs.base_results or (inputs.parent_results if parent_is_base else None)
    thinkprune = {
        "round": record.round,
        "token_limit": limit,
        "truncation": record.truncation,
        "parent": display_name(record.parent),
        "lineage": lineage_names(record.lineage),
    }
    if inputs.repo_id:
        thinkprune |= {"repo_id": inputs.repo_id} | ({"revision": inputs.revision} if inputs.revision else {})
    base_model = nearest_hub_ancestor(record)
    card_data = ModelCardData(
        base_model=base_model,
        base_model_relation="finetune" if base_model else None,
        library_name="transformers",
        pipeline_tag="text-generation",
        license=inherited_license(record),
        tags=TAGS,
        datasets=dataset_ids(record) or None,
        model_name=title,
        eval_results=eval_results_metadata(inputs.results),
        thinkprune=thinkprune,
    )
    limits = {}
    for entry in record.lineage:
        path = local_dir(entry)
        ancestor = RoundRecord.find(path) if path else None
        if ancestor is not None:
            limits[entry] = ancestor.token_limit
    chain = [
        markdown_name(entry) + (f" ({limit_label(limits[entry])})" if limits.get(entry) else "")
        for entry in record.lineage
    ]
    chain.append(f"**this model ({limit_label(limit)})**")
    recipe = public_recipe(record)
    dataset = record.dataset
    dataset_text = (
        f"`{dataset.get('name')}`, {dataset.get('num_prompts')} prompts"
        + (f" ({dataset['num_dropped_too_long']} dropped as too long)" if dataset.get("num_dropped_too_long") else "")
        + (f", {record.global_step} optimizer steps" if record.global_step is not None else "")
        + (f" in {record.train_seconds:.0f} s" if isinstance(record.train_seconds, int | float) else "")
        + "."
        if dataset.get("name")
        else None
    )
    batch = record.batch
    batch_text = (
        f"{batch['rollouts_per_step']} rollouts ({batch['prompts_per_step']} prompts x {batch['num_generations']} "
        f"samples), on processes: {batch['world_size']} x {batch['per_device_train_batch_size']} rollouts x "
        f"{batch['gradient_accumulation_steps']} accumulation steps"
        if batch
        else None
    )
    metrics = record.train_metrics
    final_metrics = [
        (key, f"{value:.4g}" if isinstance(value, float) else value)
        for key, value in metrics.items()
        if key in ("reward", "completions/mean_length", "completions/clipped_ratio", "train_loss")
    ]
    generation = generation_settings(inputs.results, inputs.checkpoint_dir)
    config = (inputs.results or {}).get("config") or {}
    eval_setup = f", {config['num_samples']} samples per problem" if config.get("num_samples") else ""
    truncation_text = (
        "A response cut at the limit was graded on the text it had reached (the official code's behaviour)."
        if record.truncation == "grade"
        else "A response cut at the limit earned zero reward (the paper's rule)."
    )
    example = (
        make_problems("test", 1, seed=0)[0]["problem"]
        if record.base_model == TOY_MODEL_NAME
        else "What is the remainder when 2^100 is divided by 7?"
    )
    model_ref = inputs.repo_id or str(inputs.checkpoint_dir)
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        title=title,
        paper_url=PAPER_URL,
        round=record.round,
        token_limit=limit,
        parent_display=markdown_name(record.parent),
        truncation_text=truncation_text,
        chain=chain,
        recipe_rows=[(key, format_value(recipe[key])) for key in KEY_RECIPE_VALUES if key in recipe],
        recipe_json=json.dumps(recipe, indent=2, default=str),
        dataset_text=dataset_text,
        difficulty_text=difficulty_text(record.difficulty, limit),
        problem_filter_text=problem_filter_text(record.problem_filter),
        dynamic_sampling_text=dynamic_sampling_text(record.dynamic_sampling),
        auto_paragraphs=auto_paragraphs(record.auto),
        batch_text=batch_text,
        curves_file=curves_file,
        final_metrics=final_metrics,
        eval_rows=eval_rows(inputs.results, inputs.parent_results, base_results),
        budget_rows=budget_rows(inputs.results, base_results),
        equal_token_lines=equal_token_lines(inputs.results, base_results),
        show_parent=not parent_is_base,
        eval_setup=eval_setup,
        generation=generation,
        prompt_suffix=EVAL_SUFFIX.strip(),
        prompt_suffix_escaped=json.dumps(EVAL_SUFFIX)[1:-1],
        example_problem=example,
        model_ref=model_ref,
        revision_kwarg=f', revision="{inputs.revision}"' if inputs.revision else "",
        repo_id=inputs.repo_id,
        repo_name=(inputs.repo_id or "").split("/")[-1],
        revision=inputs.revision,
        versions=sorted(record.versions.items()),
        citation=CITATION,
    )


def write_model_card(
    checkpoint_dir: str | Path,
    eval_results: str | Path | None = None,
    parent_eval: str | Path | None = None,
    base_eval: str | Path | None = None,
    repo_id: str | None = None,
    revision: str | None = None,
    output_dir: str | Path | None = None,
    record: RoundRecord | None = None,
) -> Path:
    """Write README.md (and training_curves.png, .eval_results/*.yaml) for a finished round; returns the card's path.

    Evaluation results default to `<dir>/eval/results.json` of the round, its parent and its base when those are
    local directories. `output_dir` (default: the round directory) is where the files go. `record` is the round's
    record when it is not written yet (train/round.py writes it last, after the card and the push). Without
    `repo_id`, a round already pushed keeps the Hub id and branch its card records.
    """
    checkpoint_dir = Path(checkpoint_dir)
    record = record or RoundRecord.read(checkpoint_dir)
    output_dir = Path(output_dir) if output_dir is not None else checkpoint_dir
    if repo_id is None:
        # A card written again once pushed (with the round's evaluation, say) still presents it under its Hub id:
        # the card is where the next round, the demo and the Usage snippet find that id.
        pushed = card_metadata(checkpoint_dir).get("thinkprune") or {}
        repo_id, revision = pushed_repo_id(checkpoint_dir), revision or pushed.get("revision")
    inputs = CardInputs(
        checkpoint_dir=checkpoint_dir,
        record=record,
        log_history=read_trainer_log(checkpoint_dir),
        results=read_eval(eval_results) if eval_results else ancestor_eval(str(checkpoint_dir)),
        parent_results=read_eval(parent_eval) if parent_eval else ancestor_eval(record.parent),
        base_results=read_eval(base_eval) if base_eval else ancestor_eval(record.base_model),
        repo_id=repo_id,
        revision=revision,
    )
    has_curves = plot_training_curves(inputs.log_history, record.token_limit, output_dir / CURVES_FILE)
    card = build_card(inputs, CURVES_FILE if has_curves else None)
    write_eval_results(inputs.results, output_dir)
    card_path = output_dir / CARD_FILE
    write_text_atomic(card_path, str(card))
    return card_path


@dataclass
class CardArguments:
    eval_results: str | None = field(default=None, metadata={"help": "results.json (or its directory) of this round"})
    parent_eval: str | None = field(default=None, metadata={"help": "results.json (or its directory) of the parent"})
    base_eval: str | None = field(default=None, metadata={"help": "results.json (or its directory) of the base"})
    repo_id: str | None = field(default=None, metadata={"help": "Hub id the card presents the model under"})
    revision: str | None = field(default=None, metadata={"help": "Hub branch the model is published on"})


def main(argv: list[str] | None = None) -> Path:
    parser = HfArgumentParser(CardArguments)
    parser.add_argument("checkpoint_dir", help="a finished round directory (holding round_record.json)")
    args, extra = parser.parse_args_into_dataclasses(args=argv)
    path = exit_on_user_error(write_model_card)(
        extra.checkpoint_dir, args.eval_results, args.parent_eval, args.base_eval, args.repo_id, args.revision
    )
    print(f"Wrote {path}")
    return path


if __name__ == "__main__":
    main()
