"""Where the project's own files are: the checkout (or a staged Space) this package sits in."""

from pathlib import Path


REPO_ROOT = Path(__file__).resolve().parents[1]
RECIPES_DIR = REPO_ROOT / "recipes"
TOY_OUTPUTS = REPO_ROOT / "outputs" / "toy"
# The toy base and one pruned round, built by the project's own commands and shipped (a few MB each).
TOY_CHECKPOINTS = REPO_ROOT / "checkpoints" / "toy"
