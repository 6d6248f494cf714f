"""The wheels an air-gapped GPU node lacks, downloaded on a connected machine for that node's Python and platform.

    python scripts/prepare_wheelhouse.py --output wheelhouse                  # Python 3.12, manylinux_2_28_x86_64
    python scripts/prepare_wheelhouse.py --output wheelhouse --torch 2.11.0 --exclude numpy,pyyaml
    # copy wheelhouse/ next to the checkout on the node, then:
    WHEELHOUSE=wheelhouse bash scripts/gpu_check.sh

Such a node has a CUDA build of PyTorch and none of our other dependencies. pip resolves the project's dependencies
(pyproject.toml; without gradio and matplotlib, which only the Space and the plots use) for the node's Python and
platform, wheels only, with the node's torch (`--torch`); torch and everything it brings (its CUDA libraries, triton,
sympy, jinja2, fsspec, ...) are left out, as is vLLM, and so is whatever `--exclude` names (what the node already
has). The wheels are downloaded into a temporary folder and kept only if together they stay under --max_mb (what
the node can receive); otherwise the biggest are named and nothing is kept.
"""

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.requirements import Requirement
from transformers import HfArgumentParser

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.paths import REPO_ROOT


NOT_FOR_THE_GPU_CHECK = {"gradio", "matplotlib"}  # the Space's UI and eval/compare.py's plot
# (PEP 600 glibc minor, legacy name): pip takes --platform literally, so each older tag a node runs is named.
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


@dataclass
class WheelhouseConfig:
    output: str = field(default="wheelhouse", metadata={"help": "Folder to write the wheels to (must not exist)."})
    python_version: str = field(default="3.12", metadata={"help": "The node's Python, e.g. 3.12."})
    platform: str = field(default="manylinux_2_28_x86_64", metadata={"help": "The node's newest wheel platform tag."})
    torch: str | None = field(
        default=None, metadata={"help": "The node's torch version (default: pyproject's floor), for the resolution."}
    )
    exclude: str = field(default="", metadata={"help": "Comma-separated packages the node already has."})
    max_mb: float = field(default=64.0, metadata={"help": "The most the node can receive, in MB (10^6 bytes)."})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_tags(platform: str) -> list[str]:
    """`platform` and every older manylinux tag a node of that platform also runs (pip would ask for it alone)."""
    match = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not match:
        return [platform]
    newest, arch = int(match[1]), match[2]
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 4, -1)]
    return tags + [f"{legacy}_{arch}" for minor, legacy in LEGACY_MANYLINUX.items() if minor <= newest]


def pip_target(config: WheelhouseConfig) -> list[str]:
    platforms = [argument for tag in platform_tags(config.platform) for argument in ("--platform", tag)]
    return ["--only-binary=:all:", "--python-version", config.python_version, *platforms]


def project_requirements(torch_version: str | None) -> list[str]:
    import tomllib  # Python 3.11+; the wheelhouse is prepared on a connected machine, not on the node

    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = [line for line in dependencies if canonical(Requirement(line).name) not in NOT_FOR_THE_GPU_CHECK]
    if torch_version:
        requirements = [line for line in requirements if canonical(Requirement(line).name) != "torch"]
        requirements.append(f"torch=={torch_version}")
    return requirements


def resolve(requirements: list[str], config: WheelhouseConfig, scratch: Path) -> dict[str, dict]:
    """{name: pip's install-report entry} of everything `requirements` needs on the node."""
    report = scratch / "report.json"
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
        "--target", str(scratch / "unused"), *pip_target(config), *requirements,
    ]  # fmt: skip
    if subprocess.run(command).returncode != 0:
        raise UserError("pip could not resolve the dependencies for that Python and platform (see pip's message)")
    entries = json.loads(report.read_text())["install"]
    return {canonical(entry["metadata"]["name"]): entry for entry in entries}


def brought_by(root: str, resolved: dict[str, dict], python_version: str) -> set[str]:
    """`root` and everything it depends on, extras included, among the resolved packages."""
    seen, pending = set(), [(root, frozenset())]
    while pending:
        name, extras = pending.pop()
        if name in seen or name not in resolved:
            continue
        seen.add(name)
        for line in resolved[name]["metadata"].get("requires_dist") or []:
            requirement = Requirement(line)
            environment = {"python_version": python_version, "sys_platform": "linux", "platform_system": "Linux"}
            needed = requirement.marker is None or any(
                requirement.marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras}
            )
            if needed:
                pending.append((canonical(requirement.name), frozenset(requirement.extras)))
    return seen


@exit_on_user_error
def main(argv: list[str] | None = None) -> list[Path]:
    (config,) = HfArgumentParser(WheelhouseConfig).parse_args_into_dataclasses(argv)
    output = Path(config.output)
    if output.exists():
        raise UserError(f"{output} already exists: pass another --output or delete it")
    excluded = {canonical(name) for name in config.exclude.split(",") if name.strip()}
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheelhouse-", dir=output.parent) as tmp:
        scratch = Path(tmp)
        resolved = resolve(project_requirements(config.torch), config, scratch)
        left_out = brought_by("torch", resolved, config.python_version) | {"vllm"} | excluded
        pins = [f"{name}=={entry['metadata']['version']}" for name, entry in resolved.items() if name not in left_out]
        wheels_dir = scratch / "wheels"
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *pip_target(config)]
        if subprocess.run([*command, "--dest", str(wheels_dir), *pins]).returncode != 0:
            raise UserError("pip could not download the wheels (see pip's message)")
        wheels = sorted(wheels_dir.glob("*.whl"), key=lambda wheel: -wheel.stat().st_size)
        total_mb = sum(wheel.stat().st_size for wheel in wheels) / 1e6
        biggest = ", ".join(f"{wheel.name.split('-')[0]} {wheel.stat().st_size / 1e6:.1f} MB" for wheel in wheels[:4])
        if total_mb > config.max_mb:
            raise UserError(
                f"the {len(wheels)} wheels weigh {total_mb:.1f} MB, over --max_mb {config.max_mb:g} (biggest: "
                f"{biggest}): --exclude what the node already has, or raise --max_mb if it can take them"
            )
        wheels_dir.rename(output)
    print(f"{len(wheels)} wheels, {total_mb:.1f} MB (biggest: {biggest}) in {output}/")
    return sorted(output.glob("*.whl"))


if __name__ == "__main__":
    main()
