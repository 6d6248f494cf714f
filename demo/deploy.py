"""Publish the demo as a Hugging Face Space in one command.

    python demo/deploy.py --space_id <user>/thinkprune-demo                        # the toy pair, bundled
    python demo/deploy.py --space_id <user>/thinkprune-demo \\
        --base deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B \\
        --pruned Shiyu-Lab/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-iter2k
    python demo/deploy.py --output_dir space/                                      # write the files, upload nothing

The Space gets app.py and every module of this repository that it imports (found by walking the imports, so the
list cannot drift from the code), a requirements.txt without training-only packages (no vLLM, no trl), a README with
the Space front matter, and demo_config.yaml naming the pair.
Hub ids stay Hub ids (listed under `models:`); local checkpoints (the toy base, pruned rounds) are copied into
models/ with the evaluation results the page reads, so the Space runs offline and shows what a local run shows.
Log in first (`hf auth login`) or set HF_TOKEN.
"""

import ast
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradio
import yaml
from huggingface_hub import HfApi, SpaceCardData
from transformers import HfArgumentParser

from demo.config import toy_rounds
from eval.results import RESULTS_FILE
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import new_dir_beside, replace_dir
from thinkprune.hub import HUB_ID, reported_as_user_errors, require_token
from thinkprune.lineage import published_record
from thinkprune.paths import REPO_ROOT, TOY_OUTPUTS
from thinkprune.records import ROUND_RECORD, RoundRecord
from thinkprune.toy import TOY_MODEL_NAME, resolve_model_name


SPACE_ENTRY_POINT = "app.py"
# Files the Space reads that no import names.
SPACE_DATA_FILES = ["demo/examples.jsonl"]
SPACE_REQUIREMENTS = REPO_ROOT / "requirements.txt"
SPACE_README_BODY = Path(__file__).with_name("space_readme.md")
# The Space's Python, which the Hub otherwise takes as 3.10: the oldest that requirements.txt's pins install on
# (transformers 5.23 needs 3.11), as pyproject's requires-python says.
SPACE_PYTHON_VERSION = "3.11"
# A checkpoint's top-level files are the model; training state is not.
SKIPPED_CHECKPOINT_FILES = {"optimizer.pt", "scheduler.pt", "training_args.bin", "trainer_state.json"}
# What the page reads of a round below its top level: the evaluation sets the default forcing budget
# (demo.models.typical_tokens). Its samples.jsonl can be hundreds of MB and is not read.
CHECKPOINT_DATA_FILES = [f"eval/{RESULTS_FILE}"]


@dataclass
class DeployConfig:
    space_id: str | None = field(
        default=None,
        metadata={
            "help": "The Space to create or update, e.g. 'alice/thinkprune-demo' (not needed with --output_dir)."
        },
    )
    base: str = field(default=TOY_MODEL_NAME, metadata={"help": "Original model: 'toy', a local dir or a Hub id."})
    pruned: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Pruned checkpoints, oldest first (default with the toy: every finished outputs/toy round)."
        },
    )
    private: bool = field(default=False, metadata={"help": "Create the Space private."})
    max_bundle_mb: int = field(
        default=500, metadata={"help": "Refuse to copy local checkpoints larger than this: push them to the Hub."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "Only write the Space files to this directory; upload nothing."}
    )
    commit_message: str = field(default="Deploy the ThinkPrune demo", metadata={"help": "Commit message."})


def imported_modules(source: Path) -> set[str]:
    """Every module name an `import` or `from ... import` of `source` names, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def local_module_file(name: str, root: Path) -> list[Path]:
    """The files of `root` that importing `name` runs: each package's __init__.py on the way, then the module."""
    parts, files = name.split("."), []
    for depth in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:depth])
        if (path / "__init__.py").is_file():
            files.append(path / "__init__.py")
        elif path.with_suffix(".py").is_file():
            files.append(path.with_suffix(".py"))
            break
        else:
            break
    return files


def space_files(entry_point: str = SPACE_ENTRY_POINT, root: Path = REPO_ROOT) -> list[str]:
    """The entry point and every file of this repository it imports, directly or not (relative paths, sorted)."""
    found, pending = set(), [root / entry_point]
    while pending:
        path = pending.pop()
        if path in found:
            continue
        found.add(path)
        for name in imported_modules(path):
            pending.extend(local_module_file(name, root))
    return sorted(path.relative_to(root).as_posix() for path in found)


def checkpoint_files(path: Path) -> list[Path]:
    model = [p for p in path.iterdir() if p.is_file() and p.name not in SKIPPED_CHECKPOINT_FILES]
    return sorted(model + [path / name for name in CHECKPOINT_DATA_FILES if (path / name).is_file()])


def place_model(name: str, slot: str, staging: Path, max_bundle_mb: int) -> str:
    """The name the Space uses for `name`: a Hub id as is, or `models/<slot>` after copying a local checkpoint."""
    local = Path(resolve_model_name(name))
    if not local.is_dir():
        if HUB_ID.fullmatch(name):
            return name
        raise UserError(f"{name!r} is neither a local checkpoint directory nor a Hub model id (owner/name)")
    files = checkpoint_files(local)
    size_mb = sum(p.stat().st_size for p in files) / 2**20
    if size_mb > max_bundle_mb:
        raise UserError(
            f"{local} is {size_mb:.0f} MB, over --max_bundle_mb {max_bundle_mb}: push it to the Hub and pass its id"
        )
    target = staging / "models" / slot
    for path in files:
        destination = target / path.relative_to(local)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if path == local / ROUND_RECORD:
            # As the Hub gets it: the record names the trainer's folders, which a public Space must not show.
            published_record(RoundRecord.read(local)).write(target)
        else:
            shutil.copy2(path, destination)
    return f"models/{slot}"


def pruned_slots(pruned: list[str]) -> list[str]:
    """The folder under models/ of each pruned checkpoint: a round keeps its folder's name (round1), prefixed by its
    parent's (toy-auto-round1) where another round has the same name; anything else is pruned<i>."""
    names = [
        Path(name).name if (Path(name) / ROUND_RECORD).is_file() else f"pruned{index}"
        for index, name in enumerate(pruned, start=1)
    ]
    counts = Counter(names)
    slots = [
        f"{Path(name).resolve().parent.name}-{slot}" if counts[slot] > 1 else slot for name, slot in zip(pruned, names)
    ]
    if len(set(slots)) < len(slots):  # the same checkpoint twice, or same-named parents too
        slots = [f"{slot}-{index}" for index, slot in enumerate(slots, start=1)]
    return slots


def readme(space_models: list[str]) -> str:
    """The Space README: the front matter the Hub reads (sdk, app file, models) and a short description."""
    card = SpaceCardData(
        title="ThinkPrune: original vs pruned reasoning",
        emoji="🧠",
        colorFrom="indigo",
        colorTo="pink",
        sdk="gradio",
        sdk_version=gradio.__version__,
        python_version=SPACE_PYTHON_VERSION,
        app_file=SPACE_ENTRY_POINT,
        pinned=False,
        license="apache-2.0",
        short_description="A long-thinker and its ThinkPrune version, side by side",
        models=[name for name in space_models if not name.startswith("models/")] or None,
        tags=["thinkprune", "reasoning", "chain-of-thought"],
    )
    return f"---\n{card.to_yaml()}\n---\n\n{SPACE_README_BODY.read_text()}"


def stage_space(config: DeployConfig, staging: Path) -> dict:
    """Write every file of the Space into `staging`; return the demo settings it will run with."""
    pruned = config.pruned or (toy_rounds() if config.base == TOY_MODEL_NAME else [])
    if not pruned:
        hint = (
            f"build the toy rounds first (python train/schedule.py, into {TOY_OUTPUTS})"
            if config.base == TOY_MODEL_NAME
            else "pass --pruned"
        )
        raise UserError(f"no pruned checkpoint to deploy: {hint}")
    for relative in space_files() + SPACE_DATA_FILES:
        (staging / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, staging / relative)
    shutil.copy2(SPACE_REQUIREMENTS, staging / "requirements.txt")
    settings = {
        "base": place_model(config.base, "base", staging, config.max_bundle_mb),
        "pruned": [
            place_model(name, slot, staging, config.max_bundle_mb) for name, slot in zip(pruned, pruned_slots(pruned))
        ],
    }
    (staging / "demo_config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    (staging / "README.md").write_text(readme([settings["base"], *settings["pruned"]]))
    return settings


def deploy(config: DeployConfig) -> str:
    """Stage the Space and upload it in one commit; returns the Space URL (or the staging dir with --output_dir)."""
    if config.space_id is not None and not HUB_ID.fullmatch(config.space_id):
        raise UserError(f"--space_id must look like 'user/name', got {config.space_id!r}")
    if config.output_dir:
        output_dir = Path(config.output_dir)
        if output_dir.exists() and any(output_dir.iterdir()):
            raise UserError(f"{output_dir} is not empty: choose a new --output_dir")
        # Staged beside it and renamed when complete: a failure leaves no half-written Space to be refused next time.
        staging = new_dir_beside(output_dir)
        try:
            stage_space(config, staging)
            replace_dir(staging, output_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(output_dir)
    if config.space_id is None:
        raise UserError(
            "pass --space_id <user>/<name> to upload the Space, or --output_dir DIR to only write its files"
        )

    token = require_token()
    api = HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="thinkprune-space-") as staging:
        stage_space(config, Path(staging))
        with reported_as_user_errors(config.space_id, token, repo_flag="--space_id"):
            api.create_repo(
                config.space_id, repo_type="space", space_sdk="gradio", private=config.private, exist_ok=True
            )
            api.upload_folder(
                repo_id=config.space_id,
                repo_type="space",
                folder_path=staging,
                commit_message=config.commit_message,
                delete_patterns=["models/**"],  # checkpoints of an earlier deploy that this one no longer uses
            )
    return f"{api.endpoint.rstrip('/')}/spaces/{config.space_id}"


@exit_on_user_error
def main(argv: list[str] | None = None) -> str:
    (config,) = HfArgumentParser(DeployConfig).parse_args_into_dataclasses(argv)
    where = deploy(config)
    print(f"The Space files are in {where}" if config.output_dir else f"Deployed: {where}")
    return where


if __name__ == "__main__":
    main()
