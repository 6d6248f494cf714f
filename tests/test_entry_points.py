"""Every entry point answers --help as a user runs it (`python <file> --help`): exit 0 and its own options listed."""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
# A few options each entry point defines itself (round.py: its own and GRPOConfig's; the demo scripts: theirs and
# the demo's).
OWN_OPTIONS = {
    "app.py": ["--base", "--pruned", "--max_seconds", "--config"],
    "demo/deploy.py": ["--space_id", "--output_dir", "--max_bundle_mb"],
    "eval/compare.py": ["result_dirs", "--labels", "--output"],
    "eval/evaluate.py": ["--model", "--benchmarks", "--num_samples"],
    "model_cards/generate.py": ["checkpoint_dir", "--eval_results", "--repo_id"],
    "scripts/benchmark_data_parallel.py": ["--model", "--num_problems", "--output"],
    "scripts/benchmark_overhead.py": ["--config", "--repeats"],
    "scripts/benchmark_throughput.py": ["--model", "--num_problems", "--batch_size"],
    "scripts/dry_run.py": ["--config", "--prompts_per_step"],
    "scripts/dynamic_sampling_study.py": ["--seconds_per_round", "--quick", "--schedule"],
    "scripts/gpu_check.py": ["--full_size", "--eval_problems"],
    "scripts/measure_demo.py": ["--runs", "--example", "--base"],
    "scripts/prepare_wheelhouse.py": ["--node_packages", "--python_version", "--max_mb"],
    "scripts/screenshot_demo.py": ["--output", "--example", "--base"],
    "scripts/toy_study.py": ["--schedule", "--ablations"],
    "scripts/toy_seeds.py": ["--seeds", "--output_root"],
    "scripts/toy_mix_pilot.py": ["--name", "--limit", "--no_recheck_share", "--max_steps"],
    "scripts/toy_mix_simulate.py": ["--grid", "--draws", "--no_recheck_share", "--results_dir"],
    "scripts/update_readme.py": ["--readme", "--summary", "--check"],
    "scripts/time_quick_start.py": ["--repeats", "--results_dir"],
    "thinkprune/toy.py": ["--output_dir"],
    "train/push_to_hub.py": ["--repo_id", "--overwrite", "--eval_results"],
    "train/round.py": ["--token_limit", "--difficulty_aware_limits", "--learning_rate"],
    "train/schedule.py": ["--recipe", "--token_limits", "--auto_percentile"],
}
HELP_TEST = "test_help_exits_0_and_lists_the_scripts_own_options"


def entry_points() -> set[str]:
    """Every file of the repository (tests aside) with a `__main__` block."""
    found = set()
    for path in REPO_ROOT.rglob("*.py"):
        parts = path.relative_to(REPO_ROOT).parts
        if parts[0] == "tests" or any(part.startswith(".") or part == "site-packages" for part in parts):
            continue
        if 'if __name__ == "__main__":' in path.read_text(encoding="utf-8"):
            found.add(path.relative_to(REPO_ROOT).as_posix())
    return found


def test_every_entry_point_has_its_help_checked():
    assert entry_points() == set(OWN_OPTIONS)


def run_help(script: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    return subprocess.run(
        [sys.executable, script, "--help"], cwd=REPO_ROOT, env=environ, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def helps(request):
    """The --help of every selected script, started together: each imports torch and friends for seconds."""
    scripts = [item.callspec.params["script"] for item in request.session.items if item.originalname == HELP_TEST]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        yield {script: pool.submit(run_help, script) for script in scripts}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(OWN_OPTIONS))
def test_help_exits_0_and_lists_the_scripts_own_options(script, helps):
    result = helps[script].result()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    missing = [
        option for option in OWN_OPTIONS[script] if not re.search(rf"(?<![\w-]){option}(?![\w-])", result.stdout)
    ]
    assert not missing, f"{script} --help does not list {missing}:\n{result.stdout[-2000:]}"
