"""The wheels an air-gapped GPU node lacks, downloaded on a connected machine for that node's Python and platform.

    python -m pip list --format=freeze > node-packages.txt        # on the node: what its Python has
    python scripts/prepare_wheelhouse.py --node_packages node-packages.txt --output wheelhouse   # connected machine
    # copy wheelhouse/ next to the checkout on the node, then:
    WHEELHOUSE=wheelhouse bash scripts/gpu_check.sh

Such a node has a CUDA build of PyTorch and some of our other dependencies, at versions of its own. pip resolves the
project's dependencies (pyproject.toml; without gradio and matplotlib, which only the Space and the plots use) for
the node's Python and platform, wheels only, with the node's torch: the newest set a node with only that torch would
need. Torch and everything it brings (its CUDA libraries, triton, sympy, jinja2, fsspec, ...) are the node's own,
left out unchecked, as is vLLM. Every other package the node has is left out too where its version fits: every
requirement on it accepts that version, and that version's own requirements (its metadata, read from the index) are
met. Otherwise the newest set's version is brought, and gpu_check.sh puts it ahead of the node's. Both conditions
matter: the node's tokenizers 0.23.2 is one transformers 5.23 accepts, but it caps huggingface-hub below 2.0 and the
project pins 2.4. A package brought in place of the node's has requirements of its own, so the check is repeated
until nothing more is brought. (Pinning the node's versions as pip constraints would not do: one pin that does not
fit makes the whole resolution fail, without saying which.)

The list may also come from `pip freeze`; its lines without a version (`name @ <folder or VCS URL>`, editable `-e`
lines) count as absent. The wheels are downloaded into a temporary folder and kept only if together they stay under
--max_mb (what the node can receive); otherwise the biggest are named and nothing is kept.
"""

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version
from transformers import HfArgumentParser

from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.paths import REPO_ROOT


NOT_FOR_THE_GPU_CHECK = {"gradio", "matplotlib"}  # the Space's UI and eval/compare.py's plot
# (PEP 600 glibc minor, legacy name): pip takes --platform literally, so each older tag a node runs is named.
LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
LIST_ON_THE_NODE = "python -m pip list --format=freeze > node-packages.txt"


@dataclass
class WheelhouseConfig:
    node_packages: str = field(
        metadata={"help": f"What the node's Python has: the output of `{LIST_ON_THE_NODE}` run on the node."}
    )
    output: str = field(default="wheelhouse", metadata={"help": "Folder to write the wheels to (must not exist)."})
    python_version: str = field(default="3.12", metadata={"help": "The node's Python, e.g. 3.12."})
    platform: str = field(default="manylinux_2_28_x86_64", metadata={"help": "The node's newest wheel platform tag."})
    max_mb: float = field(default=64.0, metadata={"help": "The most the node can receive, in MB (10^6 bytes)."})


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_node_packages(path: Path) -> dict[str, Version]:
    """{name: version} of a `pip list --format=freeze` or `pip freeze` listing."""
    if not path.is_file():
        raise UserError(f"{path} not found: write it on the node with `{LIST_ON_THE_NODE}`")
    packages = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*", "", line).strip()
        if not line or line.startswith("-"):  # editable installs and pip options: no version to rely on
            continue
        try:
            requirement = Requirement(line)
            pinned = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            if requirement.url and requirement.url.endswith(".whl"):  # pip freeze's `name @ file:///...whl`
                pinned = [str(parse_wheel_filename(unquote(Path(urlparse(requirement.url).path).name))[1])]
            if pinned:
                packages[canonical(requirement.name)] = Version(pinned[0])
        except (InvalidRequirement, InvalidVersion, InvalidWheelFilename):
            raise UserError(
                f"{path}, line {number} is not `name==version`: write the file on the node with `{LIST_ON_THE_NODE}`"
            ) from None
    return packages


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


def project_requirements(torch: Version) -> list[str]:
    """pyproject's dependencies for the GPU check, with the node's torch in place of the floor it must meet."""
    import tomllib  # Python 3.11+; the wheelhouse is prepared on a connected machine, not on the node

    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = [Requirement(line) for line in dependencies]
    (floor,) = [requirement for requirement in requirements if canonical(requirement.name) == "torch"]
    if not floor.specifier.contains(torch.public, prereleases=True):
        raise UserError(f"the node's torch {torch} does not meet the project's {floor}: the node needs a newer one")
    skipped = NOT_FOR_THE_GPU_CHECK | {"torch"}
    others = [str(requirement) for requirement in requirements if canonical(requirement.name) not in skipped]
    # The public version: PyPI has no `+cu130` build, and the node's own torch is never downloaded anyway.
    return [*others, f"torch=={torch.public}"]


def pip_report(arguments: list[str], config: WheelhouseConfig, scratch: Path, **run) -> dict[str, dict] | None:
    """{name: metadata} of what `pip install <arguments>` would install on the node, or None where pip fails."""
    report = scratch / "report.json"
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
        "--target", str(scratch / "unused"), *pip_target(config), *arguments,
    ]  # fmt: skip
    if subprocess.run(command, **run).returncode != 0:
        return None
    entries = json.loads(report.read_text())["install"]
    return {canonical(entry["metadata"]["name"]): entry["metadata"] for entry in entries}


def resolve(requirements: list[str], config: WheelhouseConfig, scratch: Path) -> dict[str, dict]:
    """{name: metadata} of everything `requirements` needs on a node that has nothing else."""
    resolved = pip_report(requirements, config, scratch)
    if resolved is None:
        raise UserError("pip could not resolve the dependencies for that Python and platform (see pip's message)")
    return resolved


def metadata_of_versions(pins: list[str], config: WheelhouseConfig, scratch: Path) -> dict[str, dict]:
    """{name: metadata} of the `name==version` pins that the index has for the node; a local build is missing."""
    if not pins:
        return {}
    # Metadata only: the node already runs these, and pip checks Requires-Python against the Python it runs on, not
    # --python-version (pypa/pip#12216).
    arguments = ["--no-deps", "--ignore-requires-python"]
    found = pip_report([*arguments, *pins], config, scratch, capture_output=True)
    if found is None:  # one missing version fails them all
        found = {}
        for pin in pins:
            found |= pip_report([*arguments, pin], config, scratch, capture_output=True) or {}
    return found


def in_force(roots: list[str], metadata: dict[str, dict], python_version: str, stop=frozenset()) -> list[tuple]:
    """(requirer, requirement) of every requirement in force from `roots` (requirer None) through the packages'
    metadata, extras included; what the packages in `stop` require is not followed."""
    environment = {"python_version": python_version, "sys_platform": "linux", "platform_system": "Linux"}
    edges, seen, pending = [], set(), [(None, Requirement(line)) for line in roots]
    while pending:
        requirer, requirement = pending.pop()
        edges.append((requirer, requirement))
        name, extras = canonical(requirement.name), frozenset(requirement.extras)
        if (name, extras) in seen or name in stop or name not in metadata:
            continue
        seen.add((name, extras))
        for line in metadata[name].get("requires_dist") or []:
            dependency = Requirement(line)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in {"", *extras}
            ):
                pending.append((name, dependency))
    return edges


def to_bring(
    requirements: list[str],
    resolved: dict[str, dict],
    node: dict[str, Version],
    node_metadata: dict[str, dict],
    left_out: set[str],
    python_version: str,
) -> set[str]:
    """The resolved packages the node lacks, or has at a version that does not fit (see the module's docstring)."""
    kept = set(node_metadata)
    while True:
        metadata = {**resolved, **{name: node_metadata[name] for name in kept}}
        needed, rejected = set(), set()
        for requirer, requirement in in_force(requirements, metadata, python_version, stop=left_out):
            name = canonical(requirement.name)
            if name in left_out:
                continue
            needed.add(name)
            version = node[name] if name in kept else resolved.get(name, {}).get("version")
            if version is not None and requirement.specifier.contains(version, prereleases=True):
                continue
            if name in kept:
                rejected.add(name)
            elif requirer in kept:  # the node's version of the requirer wants another version, or a package more
                rejected.add(requirer)
            # (else two packages of pip's own resolution: they fit, whatever our markers say)
        if not rejected:
            return (needed & set(resolved)) - kept
        kept -= rejected


@exit_on_user_error
def main(argv: list[str] | None = None) -> list[Path]:
    (config,) = HfArgumentParser(WheelhouseConfig).parse_args_into_dataclasses(argv)
    output = Path(config.output)
    if output.exists():
        raise UserError(f"{output} already exists: pass another --output or delete it")
    node = read_node_packages(Path(config.node_packages))
    if "torch" not in node:
        raise UserError(
            f"{config.node_packages} lists no torch: run `{LIST_ON_THE_NODE}` with the node's Python that has "
            "its CUDA PyTorch"
        )
    requirements = project_requirements(node["torch"])
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheelhouse-", dir=output.parent) as tmp:
        scratch = Path(tmp)
        resolved = resolve(requirements, config, scratch)
        brought_by_torch = in_force(["torch"], resolved, config.python_version)
        left_out = {canonical(requirement.name) for _, requirement in brought_by_torch} | {"vllm"}
        on_the_node = [name for name in sorted(resolved) if name in node and name not in left_out]
        same = {name: resolved[name] for name in on_the_node if node[name] == Version(resolved[name]["version"])}
        other_pins = [f"{name}=={node[name]}" for name in on_the_node if name not in same]
        node_metadata = same | metadata_of_versions(other_pins, config, scratch)
        brought = to_bring(requirements, resolved, node, node_metadata, left_out, config.python_version)
        if not brought:
            raise UserError("the node has everything the GPU check needs: run `bash scripts/gpu_check.sh` there")

        wheels_dir = scratch / "wheels"
        pins = [f"{name}=={resolved[name]['version']}" for name in sorted(brought)]
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *pip_target(config)]
        if subprocess.run([*command, "--dest", str(wheels_dir), *pins]).returncode != 0:
            raise UserError("pip could not download the wheels (see pip's message)")
        wheels = sorted(wheels_dir.glob("*.whl"), key=lambda wheel: -wheel.stat().st_size)
        total_mb = sum(wheel.stat().st_size for wheel in wheels) / 1e6
        biggest = ", ".join(f"{wheel.name.split('-')[0]} {wheel.stat().st_size / 1e6:.1f} MB" for wheel in wheels[:4])
        if total_mb > config.max_mb:
            raise UserError(
                f"the {len(wheels)} wheels weigh {total_mb:.1f} MB, over --max_mb {config.max_mb:g} (biggest: "
                f"{biggest}): check that {config.node_packages} lists all the node's Python has, or raise --max_mb "
                "if the node can take them"
            )
        wheels_dir.rename(output)
    print(f"{len(wheels)} wheels, {total_mb:.1f} MB (biggest: {biggest}) in {output}/")
    replaced = [f"{name} {node[name]} -> {resolved[name]['version']}" for name in sorted(brought) if name in node]
    if replaced:
        print(f"For the GPU check they replace the node's {', '.join(replaced)}")
    return sorted(output.glob("*.whl"))


if __name__ == "__main__":
    main()
