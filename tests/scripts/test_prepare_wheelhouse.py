"""scripts/prepare_wheelhouse.py: the wheels an air-gapped node with a CUDA torch lacks, within what it can receive."""

import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import scripts.prepare_wheelhouse as wheelhouse
from scripts.prepare_wheelhouse import canonical, main, platform_tags
from thinkprune.errors import UserError


REPO_ROOT = Path(__file__).resolve().parents[2]
TORCH_OF_THE_NODE = "2.11.0"
CUDA_NODE = Path(__file__).parent / "data" / "cuda_node_packages.txt"


def test_torch_is_a_floor_that_keeps_a_clusters_own_build():
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (torch,) = [Requirement(line) for line in dependencies if Requirement(line).name == "torch"]
    assert torch.specifier.contains(TORCH_OF_THE_NODE) and torch.specifier.contains("2.13.0")
    assert not torch.specifier.contains("2.5.1")  # transformers 5.23 needs 2.6


def test_the_nodes_torch_replaces_the_floor_it_must_meet():
    requirements = wheelhouse.project_requirements(Version("2.11.0+cu130"))
    assert [line for line in requirements if line.startswith("torch")] == ["torch==2.11.0"]
    assert not [line for line in requirements if line.startswith(("gradio", "matplotlib"))]
    with pytest.raises(UserError, match="does not meet the project's torch>=2.6"):
        wheelhouse.project_requirements(Version("2.5.1"))


def test_a_manylinux_2_28_node_also_takes_older_manylinux_wheels():
    tags = platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert "manylinux_2_29_x86_64" not in tags
    assert platform_tags("win_amd64") == ["win_amd64"]


def test_the_node_list_is_read_from_pip_list_and_from_pip_freeze(tmp_path):
    listing = tmp_path / "node-packages.txt"
    listing.write_text(
        "# pip list --format=freeze\n"
        "PyYAML==6.0.4\n"
        "typing_extensions==4.16.0\n"
        "\n"
        "# pip freeze\n"
        "torch @ file:///wheels/torch-2.11.0%2Bcu130-cp312-cp312-manylinux_2_28_x86_64.whl\n"
        "own-tool @ file:///home/me/own-tool\n"
        "gitpkg @ git+https://github.com/org/gitpkg@0123abc\n"
        "-e git+https://github.com/org/editable@0123abc#egg=editable\n"
        "# Editable install with no version control (local-pkg==0.1.0)\n"
        "-e /home/me/local-pkg\n"
        "numpy==2.5.2  # a trailing comment\n"
    )
    assert wheelhouse.read_node_packages(listing) == {
        "pyyaml": Version("6.0.4"),
        "typing-extensions": Version("4.16.0"),
        "torch": Version("2.11.0+cu130"),
        "numpy": Version("2.5.2"),
    }
    listing.write_text("WARNING: pip is being invoked by an old script wrapper\n")
    with pytest.raises(UserError, match="line 1 is not `name==version`"):
        wheelhouse.read_node_packages(listing)


def test_the_cuda_node_fixture_lacks_what_the_issues_node_lacks():
    node = wheelhouse.read_node_packages(CUDA_NODE)
    assert node["torch"] == Version("2.11.0+cu130") and node["transformers"] == Version("5.17.0")
    assert not {"trl", "datasets", "math-verify", "latex2sympy2-extended", "vllm"} & set(node)


def package(name: str, version: str, *requires: str) -> dict:
    """One package's metadata as pip's install report has it."""
    return {"name": name, "version": version, "requires_dist": list(requires)}


def fake_index(monkeypatch, requirements: list[str], newest: list[dict], node_versions: list[dict]):
    """The project's `requirements`; pip's resolution gives `newest`; a `--no-deps` report gives the metadata of the
    node's versions in `node_versions`, and fails as a whole where one it is asked for is missing, as pip does."""
    available = {f"{canonical(meta['name'])}=={Version(meta['version'])}": meta for meta in node_versions}

    def pip_report(arguments, config, scratch, **run):
        if "--no-deps" not in arguments:
            return {canonical(meta["name"]): meta for meta in newest}
        pins = [argument for argument in arguments if "==" in argument]
        if not all(pin in available for pin in pins):
            return None
        return {canonical(available[pin]["name"]): available[pin] for pin in pins}

    monkeypatch.setattr(wheelhouse, "project_requirements", lambda torch: [*requirements, f"torch=={torch.public}"])
    monkeypatch.setattr(wheelhouse, "pip_report", pip_report)


def fake_pip_download(sizes_mb: dict[str, float]):
    def run(command, **kwargs):
        destination = Path(command[command.index("--dest") + 1])
        destination.mkdir(parents=True)
        for pin in command[command.index("--dest") + 2 :]:
            name, version = pin.split("==")
            size = int(sizes_mb.get(name, 0.1) * 1e6)
            (destination / f"{name}-{version}-py3-none-any.whl").write_bytes(b"\0" * size)
        return subprocess.CompletedProcess(command, 0)

    return run


def run_for_node(tmp_path, monkeypatch, node_lines: list[str], *options: str) -> list[str]:
    """`name-version` of each wheel main() keeps for a node with `node_lines` as its package list."""
    listing = tmp_path / "node-packages.txt"
    listing.write_text("\n".join(node_lines) + "\n")
    monkeypatch.setattr(wheelhouse.subprocess, "run", fake_pip_download({}))
    output = tmp_path / "wheels"
    wheels = main(["--node_packages", str(listing), "--output", str(output), *options])
    return sorted(wheel.name.removesuffix("-py3-none-any.whl") for wheel in wheels)


def test_a_node_package_at_a_fitting_version_is_left_out_and_one_that_does_not_fit_is_brought(
    tmp_path, monkeypatch, capsys
):
    fake_index(
        monkeypatch,
        ["transformers==5.23.0", "pyyaml==6.0.3"],
        newest=[
            package("torch", "2.11.0", "sympy>=1.13"),
            package("sympy", "1.14.0"),
            package("transformers", "5.23.0", "numpy>=1.17", "pyyaml>=5.1"),
            package("numpy", "2.4.6"),
            package("PyYAML", "6.0.3"),
        ],
        node_versions=[
            package("transformers", "5.17.0", "numpy>=1.17", "pyyaml>=5.1"),
            package("numpy", "2.5.2"),
            package("PyYAML", "6.0.4"),
        ],
    )
    node = ["torch==2.11.0+cu130", "sympy==1.13.3", "transformers==5.17.0", "numpy==2.5.2", "PyYAML==6.0.4"]

    assert run_for_node(tmp_path, monkeypatch, node) == ["pyyaml-6.0.3", "transformers-5.23.0"]
    assert "replace the node's pyyaml 6.0.4 -> 6.0.3, transformers 5.17.0 -> 5.23.0" in capsys.readouterr().out


def test_a_node_version_whose_own_requirements_do_not_fit_is_brought_and_so_is_what_its_replacement_needs(
    tmp_path, monkeypatch
):
    fake_index(
        monkeypatch,
        ["transformers>=5", "huggingface-hub==2.4.0"],
        newest=[
            package("torch", "2.11.0"),
            package("transformers", "5.23.0", "tokenizers>=0.23.1,<0.24", "huggingface-hub>=1.31,<3"),
            package("tokenizers", "0.23.3", "huggingface-hub<3"),
            package("huggingface-hub", "2.4.0"),
            package("safetensors", "0.8.0"),
        ],
        node_versions=[
            # accepted by the project, but it caps huggingface-hub below the project's 2.4
            package("transformers", "5.17.0", "tokenizers>=0.22", "huggingface-hub<2.0", "safetensors>=0.8"),
            package("tokenizers", "0.22.1"),  # enough for the node's transformers, too old for the 5.23 replacing it
            package("huggingface-hub", "1.33.0"),
        ],
    )
    node = ["torch==2.11.0", "transformers==5.17.0", "tokenizers==0.22.1", "huggingface-hub==1.33.0"]

    brought = run_for_node(tmp_path, monkeypatch, node)
    assert brought == ["huggingface-hub-2.4.0", "tokenizers-0.23.3", "transformers-5.23.0"]


def test_a_node_version_the_index_lacks_is_brought(tmp_path, monkeypatch):
    fake_index(
        monkeypatch,
        ["numpy", "pyyaml>=5"],
        newest=[package("torch", "2.11.0"), package("numpy", "2.4.6"), package("PyYAML", "6.0.3")],
        node_versions=[package("PyYAML", "6.0.4")],  # not the node's own numpy build
    )
    node = ["torch==2.11.0", "numpy==2.5.2+local", "PyYAML==6.0.4"]

    assert run_for_node(tmp_path, monkeypatch, node) == ["numpy-2.4.6"]


def test_torch_and_what_it_brings_are_left_out_and_an_oversized_wheelhouse_is_not_kept(tmp_path, monkeypatch, capsys):
    newest = [
        package("torch", "2.11.0", "sympy>=1.13", "triton==3.8.0; platform_system == 'Linux'", "cuda-toolkit[cublas]"),
        package("sympy", "1.14.0"),
        package("triton", "3.8.0"),
        package("cuda-toolkit", "13.0", "nvidia-cublas; extra == 'cublas'", "nvidia-cufft; extra == 'cufft'"),
        package("nvidia-cublas", "13.0"),
        package("nvidia-cufft", "12.0"),  # not an extra torch asks for (a real resolution would not have it at all)
        package("transformers", "5.23.0", "tokenizers", "numpy", "torch>=2.6; extra == 'torch'"),
        package("tokenizers", "0.23.3"),
        package("numpy", "2.4.6"),
        package("vllm", "0.30.0"),
    ]
    fake_index(monkeypatch, ["transformers==5.23.0", "nvidia-cufft", "vllm"], newest, node_versions=[])
    sizes = {"transformers": 13.0, "tokenizers": 3.0, "numpy": 17.0, "nvidia-cufft": 1.0}
    monkeypatch.setattr(wheelhouse.subprocess, "run", fake_pip_download(sizes))
    torch_only = tmp_path / "torch-only.txt"
    torch_only.write_text("torch==2.11.0+cu130\n")

    wheels = main(["--node_packages", str(torch_only), "--output", str(tmp_path / "wheels")])
    brought = sorted(wheel.name.rsplit("-", 4)[0] for wheel in wheels)
    assert brought == ["numpy", "nvidia-cufft", "tokenizers", "transformers"]

    with pytest.raises(SystemExit) as exit_:
        main(["--node_packages", str(torch_only), "--output", str(tmp_path / "small"), "--max_mb", "20"])
    assert exit_.value.code == 2
    assert "the 4 wheels weigh 34.0 MB, over --max_mb 20 (biggest: numpy 17.0 MB" in capsys.readouterr().err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["torch-only.txt", "wheels"]  # nothing half-written

    torch_only.write_text("numpy==2.5.2\n")
    with pytest.raises(SystemExit):
        main(["--node_packages", str(torch_only), "--output", str(tmp_path / "no-torch")])
    assert "lists no torch" in capsys.readouterr().err


@pytest.fixture(scope="module")
def real_wheelhouse(tmp_path_factory):
    """Downloaded from PyPI for the CUDA node of the fixture, Python 3.12 on manylinux_2_28 x86_64 (a minute)."""
    output = tmp_path_factory.mktemp("wheelhouse") / "wheels"
    main(["--node_packages", str(CUDA_NODE), "--output", str(output), "--max_mb", "1000"])
    return {wheel.name.split("-")[0].lower(): wheel.stat().st_size / 1e6 for wheel in output.glob("*.whl")}


@pytest.mark.slow
def test_the_wheelhouse_holds_what_the_node_lacks_and_nothing_of_torch(real_wheelhouse):
    assert {"trl", "datasets", "math_verify", "transformers"} <= set(real_wheelhouse)  # 5.17 on the node, 5.23 here
    assert not [name for name in real_wheelhouse if name.startswith(("torch", "nvidia", "cuda", "triton", "vllm"))]
    the_nodes = {"numpy", "pandas", "pyarrow", "accelerate", "safetensors", "sympy", "jinja2", "filelock"}
    assert not (the_nodes | {"gradio", "matplotlib"}) & set(real_wheelhouse)


@pytest.mark.slow
def test_the_wheelhouse_fits_what_an_air_gapped_node_can_receive(real_wheelhouse):
    assert sum(real_wheelhouse.values()) < 64
