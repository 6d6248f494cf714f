"""The one-way layers of pyproject.toml's import-linter contracts: kept today, and broken by a reverse import."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["thinkprune", "train", "eval", "model_cards", "demo", "scripts"]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)


def copy_of_the_packages(tmp_path: Path) -> Path:
    for name in PACKAGES:
        shutil.copytree(REPO_ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layers_hold():
    result = lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    "module, reverse_import, contract",
    [
        ("thinkprune/records.py", "import train.round", "Layers"),
        ("eval/metrics.py", "from model_cards import generate", "Layers"),
        ("model_cards/generate.py", "import demo.ui", "Layers"),
        ("train/rewards.py", "import eval.metrics", "never uses eval"),
        ("demo/summary.py", "import model_cards.generate", "never model_cards"),
    ],
)
def test_a_reverse_import_breaks_the_contract(tmp_path, module, reverse_import, contract):
    root = copy_of_the_packages(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{reverse_import}\n")
    result = lint_imports(root)
    assert result.returncode != 0
    assert any(contract in line and "BROKEN" in line for line in result.stdout.splitlines()), result.stdout
