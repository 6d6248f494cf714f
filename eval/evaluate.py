"""Evaluate a checkpoint the way the ThinkPrune paper does: pass@1 and response length per benchmark.

    python eval/evaluate.py --model toy                                   # the toy benchmark, a minute on CPU
    python eval/evaluate.py --model outputs/toy/round1 --output_dir eval_results/round1
    python eval/evaluate.py --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --benchmarks aime24,amc23,math500 \\
        --num_samples 16 --max_new_tokens 32768 --output_dir eval_results/base
    python eval/evaluate.py --config recipes/eval/r1_distill_protocol.yaml --model PATH --output_dir DIR
    python eval/evaluate.py --output_dir eval_results/base --rescore      # re-grade samples.jsonl, no generation
    python eval/evaluate.py --model toy --budgets 60,80,100,120,150,200   # + accuracy when the thinking is cut

Protocol (docs/evaluation.md): no system prompt, user message = problem + " Please reason step by step, and put your final
answer within \\boxed{}.", the model's chat template (R1-style templates pre-fill "<think>\\n"), temperature 0.6,
top_p 0.95, 32k new tokens, 64 samples per problem for AIME24/AMC23 and 16 for the others. Every response is graded
by `thinkprune.grading.grade` (the last `\\boxed{}`), truncated or not; truncated responses are also counted apart.

With `--budgets`, every benchmark also reports accuracy and mean tokens at each token budget, with the responses
truncated there and with budget forcing (eval/budgets.py): is a pruned model better than the original simply cut?

The output directory gets `samples.jsonl` (appended as batches finish: a killed run, started again with the same
command, resumes where it stopped), `results.json`, `results.md`, `run.json` (what was run, to refuse mixing two
runs in one directory) and, with budgets, `budgets.jsonl` (the forced answers). Uses vLLM when installed, batched
transformers `generate` otherwise.
"""

import contextlib
import dataclasses
import importlib.metadata
import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tqdm.auto import tqdm
from transformers import AutoConfig, set_seed
from trl import TrlParser

from eval import parallel
from eval.benchmarks import get_benchmark, load_benchmark, parse_mapping
from eval.budgets import Forcing, check_budgets, evaluate_budgets, parse_budgets, parse_modes
from eval.metrics import aes, benchmark_metrics, paired_change
from eval.results import (
    BUDGETS_FILE,
    RESULTS_FILE,
    RESULTS_MD_FILE,
    RUN_FILE,
    SAMPLES_FILE,
    append_samples,
    budgets_table,
    group_by_benchmark,
    levels_table,
    load_results,
    outcomes_by_benchmark,
    read_all_samples,
    read_samples,
    results_markdown,
    results_table,
    shard_paths,
    unpaired_note,
    write_samples,
)
from thinkprune.budget import FORCE_ANSWER_TOKENS, default_lead_in, lead_in_ids
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import exclusive_lock, write_json_atomic, write_text_atomic
from thinkprune.generation import Sampling, decode_ids, make_backend, resolve_backend, sample_seed, vllm_available
from thinkprune.grading import extract_answer, grade
from thinkprune.modeling import load_tokenizer
from thinkprune.prompts import EVAL_SUFFIX, eval_prompt_ids
from thinkprune.toy import TOY_MAX_NEW_TOKENS, TOY_MODEL_NAME, is_toy_model, resolve_model_name


PAPER_BENCHMARKS = "aime24,amc23,math500"
PAPER_MAX_NEW_TOKENS = 32768
DEFAULT_BATCH_SIZE = {"transformers": 64, "vllm": 2048}
# What makes two runs the same run: samples of runs that differ in any of these never share a directory. The
# backend as resolved (vLLM and transformers sample differently), and the samples per problem per benchmark.
RUN_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "system_prompt", "prompt_suffix", "limit", "dtype")
# What the budget table is computed with: no part of the run's identity (the samples do not depend on it).
BUDGET_KEYS = ("budgets", "budget_modes", "force_lead_in", "force_answer_tokens")
LOCK_FILE = ".lock"


@dataclass
class EvalConfig:
    model: str = field(
        default=TOY_MODEL_NAME, metadata={"help": "Local checkpoint directory, Hub model id, or 'toy'."}
    )
    benchmarks: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated: aime24, amc23, math500, olympiadbench, minerva, toy. Default: toy for a "
            f"toy model (or a round trained from it), {PAPER_BENCHMARKS} otherwise."
        },
    )
    num_samples: int | None = field(
        default=None, metadata={"help": "Samples per problem. Default: the protocol's (64 AIME24/AMC23, 16 others)."}
    )
    max_new_tokens: int | None = field(
        default=None,
        metadata={
            "help": f"Token budget per response. Default: {PAPER_MAX_NEW_TOKENS}, {TOY_MAX_NEW_TOKENS} for a "
            "toy model; capped to the model's context."
        },
    )
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (0 = greedy)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling threshold."})
    seed: int = field(default=0, metadata={"help": "Random seed of the sampling."})
    system_prompt: str | None = field(default=None, metadata={"help": "System message; the protocol has none."})
    prompt_suffix: str = field(default=EVAL_SUFFIX, metadata={"help": "Appended to every problem."})
    limit: int | None = field(default=None, metadata={"help": "Evaluate only the first N problems of each benchmark."})
    output_dir: str | None = field(
        default=None, metadata={"help": "Where results go. Default: eval_results/<model name>."}
    )
    overwrite: bool = field(
        default=False, metadata={"help": "Delete the results of another run found in output_dir instead of failing."}
    )
    rescore: bool = field(
        default=False, metadata={"help": "Re-grade output_dir/samples.jsonl and rewrite the results; no generation."}
    )
    reference: str | None = field(
        default=None,
        metadata={
            "help": "Results directory of a reference run (base model, previous round): AES and the paired pass@1 "
            "change against it."
        },
    )
    data_dir: str | None = field(
        default=None,
        metadata={"help": "Folder with local benchmark copies (aime24.jsonl, amc23.jsonl...) instead of the Hub."},
    )
    data_files: str | None = field(
        default=None, metadata={"help": "Per-benchmark local files: 'aime24=a.parquet,minerva=m.jsonl'."}
    )
    problem_columns: str | None = field(
        default=None, metadata={"help": "Per-benchmark problem column of a local copy: 'amc23=question'."}
    )
    answer_columns: str | None = field(
        default=None, metadata={"help": "Per-benchmark gold answer column of a local copy: 'minerva=final_answer'."}
    )
    backend: str = field(default="auto", metadata={"help": "auto (vLLM when installed), vllm or transformers."})
    batch_size: int | None = field(
        default=None, metadata={"help": "Sequences per generate call (default: 64 transformers, 2048 vLLM)."}
    )
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs to shard the model over."})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vLLM: share of GPU memory to use."})
    dtype: str = field(
        default="auto",
        metadata={"help": "Model dtype: auto (checkpoint's; float32 on CPU), bfloat16, float16, float32."},
    )
    budgets: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated token budgets (at most max_new_tokens), e.g. 2000,4000,8000: accuracy and mean "
            "tokens of the responses cut at each, truncated and budget-forced (docs/evaluation.md)."
        },
    )
    budget_modes: str = field(default="truncate,force", metadata={"help": "truncate, force, or truncate,force."})
    force_lead_in: str | None = field(
        default=None,
        metadata={
            "help": "Appended when a response is forced at a budget; must close the thinking (</think>). Default: "
            "the toy's answer sentence for a toy model, else '\\n</think>\\n\\n**Final Answer**\\n\\\\boxed{'."
        },
    )
    force_answer_tokens: int = field(
        default=FORCE_ANSWER_TOKENS,
        metadata={"help": "Most tokens a forced response may write after the lead-in (counted in its tokens)."},
    )


# ---------------------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------------------


def split_names(value) -> list[str]:
    """Benchmarks given as "a,b" (CLI) or as a YAML list."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [item.strip() for item in items if str(item).strip()]


def model_key(name: str) -> str:
    """How run.json names the model: local paths absolute, so `./x` and `x` are the same model."""
    return str(Path(name).resolve()) if name != TOY_MODEL_NAME and Path(name).exists() else name


def default_output_dir(model: str) -> str:
    return str(Path("eval_results") / (Path(model.rstrip("/")).name or "model"))


def with_defaults(config: EvalConfig) -> EvalConfig:
    toy = is_toy_model(config.model)
    return dataclasses.replace(
        config,
        benchmarks=",".join(split_names(config.benchmarks or ("toy" if toy else PAPER_BENCHMARKS))),
        max_new_tokens=config.max_new_tokens or (TOY_MAX_NEW_TOKENS if toy else PAPER_MAX_NEW_TOKENS),
        output_dir=config.output_dir or default_output_dir(config.model),
        force_lead_in=config.force_lead_in or default_lead_in(config.model),
    )


def check_config(config: EvalConfig) -> None:
    for name in split_names(config.benchmarks):
        get_benchmark(name)
    if config.num_samples is not None and config.num_samples < 1:
        raise UserError(f"num_samples must be at least 1, got {config.num_samples}")
    if config.max_new_tokens < 1:
        raise UserError(f"max_new_tokens must be at least 1, got {config.max_new_tokens}")
    if config.temperature < 0 or not 0 < config.top_p <= 1:
        raise UserError("temperature must be >= 0 and top_p in (0, 1]")
    if config.limit is not None and config.limit < 1:
        raise UserError(f"limit must be at least 1, got {config.limit}")
    if config.batch_size is not None and config.batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {config.batch_size}")
    if config.backend not in ("auto", "vllm", "transformers"):
        raise UserError(f"unknown backend {config.backend!r}: use auto, vllm or transformers")
    if config.backend == "vllm" and not vllm_available():
        raise UserError("backend vllm needs vLLM (GPU only): pip install -e '.[vllm]', or use transformers")
    if config.budgets is not None:
        parse_budgets(config.budgets)
        parse_modes(config.budget_modes)
        if config.force_answer_tokens < 1:
            raise UserError(f"force_answer_tokens must be at least 1, got {config.force_answer_tokens}")


def model_max_positions(model_path: str) -> int | None:
    try:
        return getattr(AutoConfig.from_pretrained(model_path), "max_position_embeddings", None)
    except (OSError, ValueError) as error:
        raise UserError(
            f"cannot read the model config of {model_path!r} ({type(error).__name__}): check --model"
        ) from error


def package_versions(backend: str | None) -> dict:
    packages = ["torch", "transformers", "datasets", "math-verify", "trl"] + (["vllm"] if backend == "vllm" else [])
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


# ---------------------------------------------------------------------------------------------------------------
# Output directory
# ---------------------------------------------------------------------------------------------------------------


def run_identity(config: EvalConfig, expected_samples: dict[str, tuple[int, int]]) -> dict:
    """What run.json records: the identity of the run and, per benchmark, (problems, samples per problem)."""
    return {
        "model": model_key(config.model),
        "backend": resolve_backend(config.backend),
        **{key: getattr(config, key) for key in RUN_KEYS},
        "num_samples": {name: samples for name, (_, samples) in expected_samples.items()},
        "num_problems": {name: problems for name, (problems, _) in expected_samples.items()},
    }


def identity_conflicts(previous: dict, identity: dict) -> dict:
    """The keys on which two runs differ; per-benchmark counts only count for benchmarks both have."""
    different = {}
    for key, value in identity.items():
        before = previous.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            if any(before[name] != value[name] for name in set(before) & set(value)):
                different[key] = before
        elif before != value:
            different[key] = before
    return different


def prepare_output_dir(output_dir: Path, identity: dict, overwrite: bool, world_size: int = 1) -> None:
    """Refuse a directory holding another run's samples; `overwrite` deletes them. Then record this run and the
    number of processes of this launch (no part of its identity: a run resumes with any number)."""
    run_file = output_dir / RUN_FILE
    if overwrite:
        for name in (SAMPLES_FILE, BUDGETS_FILE, RESULTS_FILE, RESULTS_MD_FILE, RUN_FILE):
            (output_dir / name).unlink(missing_ok=True)
        for shard in shard_paths(output_dir):
            shard.unlink()
    elif run_file.exists():
        previous = json.loads(run_file.read_text())
        different = identity_conflicts(previous, identity)
        if different:
            summary = ", ".join(f"{key}={value!r}" for key, value in different.items())
            raise UserError(
                f"{output_dir} holds another run ({summary}): pass another --output_dir, or --overwrite to delete it"
            )
        # Benchmarks evaluated earlier into this directory stay part of the run.
        for key in ("num_samples", "num_problems"):
            identity[key] = {**previous.get(key, {}), **identity[key]}
    write_json_atomic(run_file, {**identity, "world_size": world_size})


def completeness(results: dict, run: dict) -> None:
    """Mark every benchmark, and the run, complete or partial against the counts run.json expects."""
    for name, metrics in results["benchmarks"].items():
        expected = run.get("num_problems", {}).get(name, 0) * run.get("num_samples", {}).get(name, 0)
        metrics["expected_samples"] = expected or None
        metrics["complete"] = bool(expected) and metrics["num_generated"] == expected
    results["complete"] = all(metrics["complete"] for metrics in results["benchmarks"].values())


def check_resumed_samples(name: str, done: dict, rows: list[dict], output_dir: Path) -> None:
    """Samples kept from an earlier run must be about the problems loaded now (same data source)."""
    for (problem_index, _), sample in done.items():
        if sample["problem"] != rows[problem_index]["problem"] or sample["answer"] != rows[problem_index]["answer"]:
            raise UserError(
                f"{output_dir / SAMPLES_FILE} holds {name} samples of other problems (problem {problem_index} "
                "differs): use the same data source as before, another --output_dir, or --overwrite"
            )


# ---------------------------------------------------------------------------------------------------------------
# Generation and scoring
# ---------------------------------------------------------------------------------------------------------------


def score(sample: dict) -> dict:
    return {
        **sample,
        "extracted_answer": extract_answer(sample["response"]),
        "correct": grade(sample["response"], sample["answer"]),
    }


def generate_benchmark(name, rows, prompts, pending, backend, batch_size, tokenizer, sampling, samples_path):
    """Generate every pending (problem, sample), appending graded samples to `samples_path` (samples.jsonl, or this
    process's shard) batch by batch."""
    set_seed(sampling.seed)
    start, tokens, generated = time.perf_counter(), 0, []
    with tqdm(total=len(pending), desc=name, unit="sample", dynamic_ncols=True) as progress:
        for begin in range(0, len(pending), batch_size):
            batch = pending[begin : begin + batch_size]
            # Each sample its own seed: the same responses whatever the batches, processes or resumes.
            seeds = [
                sample_seed(sampling.seed, name, problem_index, sample_index) for problem_index, sample_index in batch
            ]
            generations = backend.generate([prompts[problem_index] for problem_index, _ in batch], sampling, seeds)
            records = []
            for (problem_index, sample_index), generation in zip(batch, generations, strict=True):
                row = rows[problem_index]
                record = {
                    "benchmark": name,
                    "problem_index": problem_index,
                    "sample_index": sample_index,
                    "problem_id": row["id"],
                    "problem": row["problem"],
                    "answer": row["answer"],
                    "level": row.get("level"),  # compare and --rescore group by it without the benchmark
                    "response": decode_ids(tokenizer, generation.token_ids),
                    "num_tokens": len(generation.token_ids),
                    "finished": generation.finished,
                    "token_ids": generation.token_ids,  # budget baselines are computed from them (eval/budgets.py)
                }
                records.append(score(record))
                tokens += len(generation.token_ids)
            append_samples(samples_path, records)
            generated.extend(records)
            progress.set_postfix_str(f"{tokens / (time.perf_counter() - start):,.0f} tok/s", refresh=False)
            progress.update(len(batch))
    return generated


def add_aes(results: dict, reference: dict | None) -> None:
    for name, metrics in results["benchmarks"].items():
        ref = (reference or {}).get("benchmarks", {}).get(name)
        metrics["aes"] = (
            aes(metrics["pass@1"], metrics["mean_tokens"], ref["pass@1"], ref["mean_tokens"]) if ref else None
        )


def write_results(output_dir: Path, results: dict) -> None:
    write_json_atomic(output_dir / RESULTS_FILE, results)
    write_text_atomic(output_dir / RESULTS_MD_FILE, results_markdown(results))


def evaluate(config: EvalConfig, backend=None) -> dict | None:
    """Generate (or resume), grade and score every benchmark of `config`; returns the results.json content (None on
    the other processes of a data-parallel launch: the main process scores).

    `backend` is an already built generation backend (e.g. to time the harness); by default one is made here.
    """
    processes = parallel.Processes.from_env()
    uses_vllm = config.backend != "transformers" and vllm_available()
    parallel.pin_gpus(processes, config.tensor_parallel_size if uses_vllm else 1)  # before anything touches CUDA
    if config.rescore:
        return rescore(config) if processes.is_main else None
    config = with_defaults(config)
    check_config(config)
    reference = load_results(config.reference) if config.reference else None
    reference_samples = outcomes_by_benchmark(config.reference)
    model_path = resolve_model_name(config.model)
    tokenizer = load_tokenizer(model_path)
    if not tokenizer.chat_template:
        raise UserError(f"{config.model!r} has no chat template: evaluate a chat / reasoning checkpoint")
    data_files = parse_mapping(config.data_files, "data_files")
    problem_columns = parse_mapping(config.problem_columns, "problem_columns")
    answer_columns = parse_mapping(config.answer_columns, "answer_columns")

    # Load every benchmark before the model: a bad data source fails in seconds, not after loading 30 GB.
    names = split_names(config.benchmarks)
    benchmarks = {}
    for name in names:
        rows = load_benchmark(
            name,
            config.data_dir,
            data_files.get(name),
            problem_columns.get(name),
            answer_columns.get(name),
            config.limit,
        )
        prompts = [
            eval_prompt_ids(tokenizer, row["problem"], config.prompt_suffix, config.system_prompt) for row in rows
        ]
        benchmarks[name] = (rows, prompts, config.num_samples or get_benchmark(name).default_num_samples)

    longest_prompt = max(len(ids) for _, prompts, _ in benchmarks.values() for ids in prompts)
    max_positions = model_max_positions(model_path)
    if max_positions and longest_prompt + config.max_new_tokens > max_positions:
        budget = max_positions - longest_prompt
        if budget < 1:
            raise UserError(
                f"the longest prompt ({longest_prompt} tokens) fills the model's context ({max_positions})"
            )
        print(
            f"warning: max_new_tokens {config.max_new_tokens} -> {budget} (the model's context is {max_positions} "
            "tokens)",
            file=sys.stderr,
        )
        config = dataclasses.replace(config, max_new_tokens=budget)
    if config.budgets is not None:
        check_budgets(parse_budgets(config.budgets), config.max_new_tokens)
    max_model_len = longest_prompt + max(config.max_new_tokens, forced_length(config, tokenizer))
    if max_positions and max_model_len > max_positions:
        raise UserError(
            f"the largest budget and its forced answer ({max_model_len - longest_prompt} tokens) do not fit in the "
            f"model's context ({max_positions}) after a {longest_prompt}-token prompt: use smaller budgets"
        )

    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    parallel.start(processes)
    try:
        with contextlib.ExitStack() as lock:
            return run_benchmarks(
                config,
                benchmarks,
                backend,
                model_path,
                tokenizer,
                max_model_len,
                reference,
                reference_samples,
                processes,
                lock,
            )
    finally:
        parallel.finish(processes)


def forced_length(config: EvalConfig, tokenizer) -> int:
    """The longest forced response: the largest budget, the lead-in and the answer allowance (0 without forcing)."""
    if config.budgets is None or "force" not in parse_modes(config.budget_modes):
        return 0
    lead_in = lead_in_ids(tokenizer, config.force_lead_in)
    return parse_budgets(config.budgets)[-1] + len(lead_in) + config.force_answer_tokens


def benchmark_done(samples: list[dict], name: str, rows: list[dict], num_samples: int) -> dict:
    """The samples of benchmark `name` among `samples`, by (problem, sample), within this run's counts."""
    return {
        (s["problem_index"], s["sample_index"]): s
        for s in samples
        if s["benchmark"] == name and s["problem_index"] < len(rows) and s["sample_index"] < num_samples
    }


def run_benchmarks(
    config, benchmarks, backend, model_path, tokenizer, max_model_len, reference, reference_samples, processes, lock
) -> dict | None:
    """Generate what `output_dir` lacks (this process's share of it), grade it (and its budgets) and write the
    results after every benchmark (the main process). `lock` (an ExitStack) holds the directory's lock."""
    output_dir = Path(config.output_dir)
    expected = {name: (len(rows), num_samples) for name, (rows, _, num_samples) in benchmarks.items()}
    run = run_identity(config, expected)

    def own_directory():
        """Only the main process locks the directory, for the whole launch: a second launch's main process is
        refused, and its other processes with it, before any of them writes."""
        lock.enter_context(exclusive_lock(output_dir / LOCK_FILE, f"another evaluation is writing to {output_dir}"))
        prepare_output_dir(output_dir, run, config.overwrite, processes.world_size)

    parallel.main_first(processes, own_directory)
    shard = parallel.shard_path(output_dir, processes)
    existing = read_all_samples(output_dir)

    sampling = Sampling(config.temperature, config.top_p, config.max_new_tokens, config.seed)

    def generator():
        """The generation backend, built on first use, and its batch size."""
        nonlocal backend
        if backend is None:
            backend = make_backend(
                config.backend,
                model_path,
                tokenizer,
                config.seed,
                max_model_len,
                config.tensor_parallel_size,
                config.gpu_memory_utilization,
                config.dtype,
            )
        return backend, config.batch_size or DEFAULT_BATCH_SIZE[backend.name]

    previous = load_results(output_dir) if (output_dir / RESULTS_FILE).exists() else {}
    budgets = budget_settings(dataclasses.asdict(config))
    results = {
        "model": config.model,
        "config": {**dataclasses.asdict(config), "backend": run["backend"]},
        "versions": package_versions(run["backend"]),
        "reference": config.reference,
        "complete": False,
        "benchmarks": dict(previous.get("benchmarks", {})),
    }
    for name, (rows, prompts, num_samples) in benchmarks.items():
        done = benchmark_done(existing, name, rows, num_samples)
        check_resumed_samples(name, done, rows, output_dir)
        pairs = [(p, s) for p in range(len(rows)) for s in range(num_samples)]
        pending = [pair for pair in parallel.share(pairs, processes) if pair not in done]
        if pending:
            generated = generate_benchmark(name, rows, prompts, pending, *generator(), tokenizer, sampling, shard)
            done.update(((s["problem_index"], s["sample_index"]), s) for s in generated)
        parallel.wait_for_all(processes)
        if not processes.is_main:
            continue
        if processes.world_size > 1:  # the other processes' samples, from their shards
            done = benchmark_done(read_all_samples(output_dir), name, rows, num_samples)
        samples = [done[pair] for pair in pairs]
        results["benchmarks"][name] = (
            benchmark_metrics(samples) | dataset_of(name) | paired_change(samples, reference_samples.get(name, []))
        )
        if budgets:
            results["benchmarks"][name]["budgets"] = evaluate_budgets(
                name, samples, *budgets, tokenizer, output_dir / BUDGETS_FILE, prompts, generator, sampling
            )
        completeness(results, run)
        add_aes(results, reference)
        write_results(output_dir, results)  # after every benchmark: a later failure keeps these
    if not processes.is_main:
        return None
    parallel.merge_shards(output_dir)
    return results


def budget_settings(config: dict) -> tuple | None:
    """(budgets, modes, forcing) of a run's config (an EvalConfig as a dict), None when it has no budgets."""
    if config.get("budgets") is None:
        return None
    forcing = Forcing(config["force_lead_in"], config["force_answer_tokens"])
    return parse_budgets(config["budgets"]), parse_modes(config["budget_modes"]), forcing


def rescore(config: EvalConfig) -> dict:
    """Re-grade every response of an existing samples.jsonl (e.g. after a grader fix) and rewrite the results;
    the budget table too, with the run's budgets or those given now (forced answers from budgets.jsonl)."""
    output_dir = Path(config.output_dir or default_output_dir(config.model))
    budgets = {key: getattr(config, key) for key in BUDGET_KEYS} if config.budgets is not None else {}
    with exclusive_lock(output_dir / LOCK_FILE, f"another evaluation is writing to {output_dir}"):
        parallel.merge_shards(output_dir)  # the samples of a data-parallel run killed before its merge
        return rescore_samples(output_dir, config.reference, budgets)


def rescore_samples(output_dir: Path, reference: str | None, budget_config: dict | None = None) -> dict:
    samples_path = output_dir / SAMPLES_FILE
    samples = read_samples(samples_path)
    if not samples:
        raise UserError(f"no samples to rescore in {samples_path}: run the evaluation into that directory first")
    samples = [score(sample) for sample in samples]
    write_samples(samples_path, samples)

    previous = load_results(output_dir) if (output_dir / RESULTS_FILE).exists() else {}
    run = json.loads((output_dir / RUN_FILE).read_text()) if (output_dir / RUN_FILE).exists() else {}
    reference_dir = reference or previous.get("reference")
    model = run.get("model") or previous.get("model")
    config = {**previous.get("config", run), **(budget_config or {})}
    if config.get("budgets") is not None and config.get("force_lead_in") is None:
        config["force_lead_in"] = default_lead_in(model)
    results = {
        "model": previous.get("model", run.get("model")),
        "config": config,
        "versions": {**previous.get("versions", {}), **package_versions(None)},
        "reference": reference_dir,
        "complete": False,
        "benchmarks": {},
    }
    budgets = budget_settings(config)
    if budgets:
        check_budgets(budgets[0], config["max_new_tokens"])
        tokenizer = load_tokenizer(resolve_model_name(model))
    reference_samples = outcomes_by_benchmark(reference_dir)
    for name, benchmark_samples in group_by_benchmark(samples).items():
        results["benchmarks"][name] = (
            benchmark_metrics(benchmark_samples)
            | dataset_of(name)
            | paired_change(benchmark_samples, reference_samples.get(name, []))
        )
        if budgets:
            results["benchmarks"][name]["budgets"] = evaluate_budgets(
                name, benchmark_samples, *budgets, tokenizer, output_dir / BUDGETS_FILE
            )
    completeness(results, run)
    if not results["complete"]:
        partial = ", ".join(
            f"{name} {metrics['num_generated']}/{metrics['expected_samples'] or '?'}"
            for name, metrics in results["benchmarks"].items()
            if not metrics["complete"]
        )
        print(
            f"warning: {output_dir} holds a partial run ({partial} samples): its metrics are partial", file=sys.stderr
        )
    add_aes(results, load_results(reference_dir) if reference_dir else None)
    write_results(output_dir, results)
    return results


def dataset_of(name: str) -> dict:
    """The benchmark's Hub dataset (id and config) from the registry, whatever copy was read: cards cite it."""
    try:
        benchmark = get_benchmark(name)
    except UserError:  # an old samples file may hold a benchmark the registry no longer has
        return {"dataset_id": None, "dataset_config": None}
    return {"dataset_id": benchmark.hub_id, "dataset_config": benchmark.hub_config}


@exit_on_user_error
def main(argv: list[str] | None = None) -> dict | None:
    parser = TrlParser(EvalConfig)
    try:
        (config,) = parser.parse_args_and_config(argv)
    except (FileNotFoundError, ValueError) as error:  # a missing or bad --config file
        raise UserError(f"cannot use the config file: {error}") from error
    results = evaluate(config)
    if results is None:  # another process of a data-parallel launch: the main process reports
        return None
    output_dir = config.output_dir or with_defaults(config).output_dir
    tables = results_table(results) + unpaired_note(results)
    tables += "".join(f"\n{table}" for table in (levels_table(results), budgets_table(results)) if table)
    print(f"\n{tables}\nResults in {output_dir}/ ({RESULTS_FILE}, {RESULTS_MD_FILE}, {SAMPLES_FILE})")
    return results


if __name__ == "__main__":
    main()
