"""Deploying the demo as a Space: against the in-process Hub of tests/hub_server.py, then running what was staged."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import tomllib
import urllib.request
from importlib.metadata import PackageNotFoundError, metadata
from pathlib import Path

import hub_server
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from demo.deploy import DeployConfig, deploy, main
from demo.ui import free_port
from thinkprune.errors import UserError
from thinkprune.records import RoundRecord


pytest_plugins = ["hub_server"]
HUB_PRUNED = "Shiyu-Lab/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-iter2k"
# Python as a Space runs it: the staged folder and site-packages, without the editable install of this checkout (its
# import hook would quietly supply any module the staging left out).
SPACE_PYTHON = """
import runpy, sys
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in getattr(finder, "__module__", "")]
sys.path_hooks[:] = [hook for hook in sys.path_hooks if "editable" not in repr(hook).lower()]
sys.path_importer_cache.clear()
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def space_python(*args: str) -> list[str]:
    return [sys.executable, "-c", SPACE_PYTHON, *args]


@pytest.fixture
def space_hub(local_hub, monkeypatch):
    """The local Hub, also answering the Space routes (/api/spaces/..., /spaces/<repo>.git/...): the server stores
    every repo type alike, so Space repos take the same handlers as model repos."""
    routes = []
    for method, pattern, name, handler in hub_server.ROUTES:
        if pattern.startswith("/api/models/"):
            routes.append((method, pattern.replace("/api/models/", "/api/spaces/", 1), name, handler))
        elif pattern.startswith(f"/{hub_server.REPO}"):
            routes.append((method, "/spaces" + pattern, name, handler))
    monkeypatch.setattr(hub_server, "ROUTES", hub_server.ROUTES + routes)
    return local_hub


@pytest.fixture
def pair(tmp_path, tiny_checkpoint):
    """A toy-like base (with the toy's record) and one finished pruned round, as local checkpoints."""
    base = shutil.copytree(tiny_checkpoint, tmp_path / "toy_base")
    (base / "toy_record.json").write_text(json.dumps({"kind": "thinkprune-toy-base"}))
    (base / "optimizer.pt").write_bytes(b"training state, not part of the model")
    round1 = shutil.copytree(tiny_checkpoint, tmp_path / "outputs" / "round1")
    RoundRecord(1, 90, "toy", "toy", ["toy"], finished_at="2026-01-01T00:00:00+00:00").write(round1)
    return base, round1


@pytest.mark.slow
def test_deploy_uploads_a_complete_space_in_one_commit(space_hub, pair):
    base, round1 = pair
    url = deploy(DeployConfig(space_id="alice/thinkprune-demo", base=str(base), pruned=[str(round1), HUB_PRUNED]))
    assert url == f"{space_hub.endpoint}/spaces/alice/thinkprune-demo"
    assert space_hub.count("commit") == 1
    files = space_hub.files("alice/thinkprune-demo")
    for path in [
        "app.py",
        "demo/ui.py",
        "demo/examples.jsonl",
        "thinkprune/modeling.py",
        "thinkprune/grading.py",
        "thinkprune/records.py",
        "requirements.txt",
        "models/base/config.json",
        "models/round1/round_record.json",
    ]:
        assert path in files, path
    assert files["models/base/model.safetensors"] == (base / "model.safetensors").read_bytes()  # through LFS
    assert space_hub.repos["alice/thinkprune-demo"].resolve("main").files["models/base/model.safetensors"].lfs
    assert "models/base/optimizer.pt" not in files
    settings = yaml.safe_load(files["demo_config.yaml"])
    assert settings["base"] == "models/base" and settings["pruned"] == ["models/round1", HUB_PRUNED]

    from huggingface_hub import SpaceCard

    card = SpaceCard(files["README.md"].decode())
    assert (card.data.sdk, card.data.app_file) == ("gradio", "app.py")
    assert card.data.sdk_version == __import__("gradio").__version__
    assert card.data.models == [HUB_PRUNED]  # only Hub ids: bundled checkpoints are no Hub models
    lines = [line for line in files["requirements.txt"].decode().splitlines() if line and not line.startswith("#")]
    packages = {re.split(r"[=<>~ \[]", line)[0].lower() for line in lines}
    assert {"torch", "transformers", "math-verify"} <= packages and not packages & {"vllm", "trl", "-e"}


def test_redeploying_replaces_bundled_checkpoints(space_hub, pair):
    base, round1 = pair
    deploy(DeployConfig(space_id="alice/thinkprune-demo", base=str(base), pruned=[str(round1)]))
    main(
        [
            "--space_id",
            "alice/thinkprune-demo",
            "--base",
            "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
            "--pruned",
            HUB_PRUNED,
        ]
    )
    files = space_hub.files("alice/thinkprune-demo")
    assert not any(path.startswith("models/") for path in files)
    assert yaml.safe_load(files["demo_config.yaml"])["base"] == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert space_hub.count("commit") == 2


def test_deploy_refuses_what_it_cannot_publish(space_hub, pair, tmp_path):
    base, round1 = pair
    with pytest.raises(UserError, match="must look like 'user/name'"):
        deploy(DeployConfig(space_id="no-namespace", base=str(base), pruned=[str(round1)]))
    with pytest.raises(UserError, match="neither a local checkpoint directory nor a Hub model id"):
        deploy(DeployConfig(space_id="alice/demo", base=str(tmp_path / "nowhere"), pruned=[str(round1)]))
    with pytest.raises(UserError, match="over --max_bundle_mb 0: push it to the Hub"):
        deploy(DeployConfig(space_id="alice/demo", base=str(base), pruned=[str(round1)], max_bundle_mb=0))
    with pytest.raises(UserError, match="no pruned checkpoint to deploy: pass --pruned"):
        deploy(DeployConfig(space_id="alice/demo", base=str(base)))
    with pytest.raises(UserError, match="may not write to carol/demo \\(403 Forbidden\\).*--space_id <you>/<name>"):
        deploy(DeployConfig(space_id="carol/demo", base=str(base), pruned=[str(round1)]))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(UserError, match="is not empty"):
        deploy(
            DeployConfig(
                space_id="alice/demo", base=str(base), pruned=[str(round1)], output_dir=str(tmp_path / "busy")
            )
        )
    assert space_hub.count("commit") == 0


def test_rounds_of_the_same_folder_name_get_a_folder_each(pair, tmp_path):
    base, round1 = pair
    toy = shutil.copytree(round1, tmp_path / "outputs" / "toy" / "round1")
    auto = shutil.copytree(round1, tmp_path / "outputs" / "toy-auto" / "round1")
    staging = Path(
        deploy(
            DeployConfig(
                space_id="alice/demo", base=str(base), pruned=[str(toy), str(auto)], output_dir=str(tmp_path / "s")
            )
        )
    )
    settings = yaml.safe_load((staging / "demo_config.yaml").read_text())
    assert settings["pruned"] == ["models/toy-round1", "models/toy-auto-round1"]
    assert all((staging / name / "round_record.json").is_file() for name in settings["pruned"])


def test_a_bundled_round_names_its_ancestors_without_the_trainers_paths(pair, tmp_path):
    """The Space is public: its round record names ancestors as the Hub's does, not by this machine's folders."""
    base, round1 = pair
    round2 = shutil.copytree(round1, tmp_path / "outputs" / "round2")
    recipe = {"model_name_or_path": str(round1), "output_dir": str(round2), "token_limit": 60}
    RoundRecord(2, 60, str(round1), "toy", ["toy", str(round1)], "2026-01-02T00:00:00+00:00", recipe=recipe).write(
        round2
    )
    staging = Path(deploy(DeployConfig(base=str(base), pruned=[str(round2)], output_dir=str(tmp_path / "space"))))
    staged = staging / "models" / "round2" / "round_record.json"
    assert str(tmp_path) not in staged.read_text()
    record = RoundRecord.read(staged.parent)
    assert (record.parent, record.lineage, record.recipe["model_name_or_path"]) == (
        "round1",
        ["toy", "round1"],
        "round1",
    )
    assert (record.round, record.token_limit) == (2, 60)  # what the page shows of it
    assert RoundRecord.read(round2).parent == str(round1)  # the trainer's own record keeps its paths


def test_a_failed_staging_leaves_nothing_behind(pair, tmp_path):
    base, round1 = pair
    output_dir = tmp_path / "space"
    with pytest.raises(UserError, match="neither a local checkpoint directory nor a Hub model id"):
        # the base and the first round are copied before the second name is found wrong
        deploy(
            DeployConfig(
                space_id="alice/demo", base=str(base), pruned=[str(round1), "nowhere"], output_dir=str(output_dir)
            )
        )
    assert not output_dir.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".space")]
    umask = os.umask(0o022)
    try:
        deploy(
            DeployConfig(space_id="alice/demo", base=str(base), pruned=[str(round1)], output_dir=str(output_dir))
        )  # the same command again
    finally:
        os.umask(umask)
    assert (output_dir / "models" / "round1" / "round_record.json").is_file()
    # Staged in a directory of the umask's mode, not mkdtemp's 0700: a Space's web server, another account can read it.
    assert stat.S_IMODE(output_dir.stat().st_mode) == 0o755


def test_the_space_reads_the_rounds_evaluation_as_a_local_run_does(pair, tmp_path):
    """The default forcing budget comes from the round's eval/results.json: the Space must get it too."""
    from demo.config import parse_config
    from demo.models import typical_tokens

    base, round1 = pair
    (round1 / "eval").mkdir()
    (round1 / "eval" / "results.json").write_text(json.dumps({"benchmarks": {"aime24": {"mean_tokens": 42.0}}}))
    (round1 / "eval" / "samples.jsonl").write_text("{}\n")  # not read by the page: not bundled
    staging = Path(
        deploy(
            DeployConfig(
                space_id="alice/demo", base=str(base), pruned=[str(round1)], output_dir=str(tmp_path / "space")
            )
        )
    )
    staged_round = parse_config([], environ={"THINKPRUNE_DEMO_CONFIG": str(staging / "demo_config.yaml")}).pruned[-1]
    assert staged_round == str(staging / "models" / "round1")
    assert typical_tokens(staged_round) == typical_tokens(str(round1)) == 42
    assert not (staging / "models" / "round1" / "eval" / "samples.jsonl").exists()


def test_output_dir_alone_stages_without_a_space_id(pair, tmp_path, capsys):
    base, round1 = pair
    where = main(["--base", str(base), "--pruned", str(round1), "--output_dir", str(tmp_path / "space")])
    assert (Path(where) / "app.py").is_file() and "The Space files are in" in capsys.readouterr().out
    with pytest.raises(UserError, match="pass --space_id <user>/<name> to upload the Space, or --output_dir DIR"):
        deploy(DeployConfig(base=str(base), pruned=[str(round1)]))


def test_the_space_runs_a_python_its_pinned_requirements_install_on(pair, tmp_path):
    """The Hub builds a Space on Python 3.10 unless its README says otherwise, and transformers 5.23 needs 3.11."""
    base, round1 = pair
    space = Path(deploy(DeployConfig(base=str(base), pruned=[str(round1)], output_dir=str(tmp_path / "space"))))
    front_matter = yaml.safe_load((space / "README.md").read_text().split("---")[1])
    python = front_matter.get("python_version", "3.10")
    pinned = [
        Requirement(line) for line in (space / "requirements.txt").read_text().splitlines() if line[:1].isalpha()
    ]
    for requirement in [*pinned, Requirement(f"gradio=={front_matter['sdk_version']}")]:
        try:
            requires_python = metadata(requirement.name)["Requires-Python"] or ""
        except PackageNotFoundError:
            continue
        assert SpecifierSet(requires_python).contains(python), (requirement.name, requires_python, python)
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    assert SpecifierSet(project["requires-python"]).contains(python)
    assert not SpecifierSet(project["requires-python"]).contains("3.10")


@pytest.mark.slow
def test_the_staged_space_serves_offline_with_python_app_py(pair, tmp_path):
    """What the Space runs: `python app.py` in the staged folder alone (no repository on the path), offline."""
    base, round1 = pair
    staging = Path(
        deploy(
            DeployConfig(
                space_id="alice/demo", base=str(base), pruned=[str(round1)], output_dir=str(tmp_path / "space")
            )
        )
    )
    environ = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environ |= {"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    (staging / "where.py").write_text(
        "import sys\nfrom demo import ui\nprint(*sorted(m.__file__ for m in list(sys.modules.values())"
        " if m.__name__.split('.')[0] in ('demo', 'thinkprune', 'eval', 'train', 'model_cards')))\n"
    )
    where = subprocess.run(
        space_python("where.py"),
        cwd=staging,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = where.stdout.split()
    assert loaded and all(path.startswith(str(staging)) for path in loaded), loaded  # the staged copies, not the repo
    assert not any("/train/" in path or "/model_cards/" in path for path in loaded)  # nothing the Space lacks

    port = free_port()
    server = subprocess.Popen(
        space_python("app.py", "--server_port", str(port)),
        cwd=staging,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 120
        while True:
            assert server.poll() is None, server.stdout.read()
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
                break
            except OSError:
                assert time.time() < deadline, "the staged app did not start serving within 2 minutes"
                time.sleep(0.5)
        assert "ThinkPrune" in page

        from gradio_client import Client

        job = Client(f"http://127.0.0.1:{port}/", verbose=False).submit(
            "What is 1 + 2?", "3", str(staging / "models" / "round1"), 20, 0.6, 0.95, api_name="/compare"
        )
        result = list(job)[-1][-1]
        assert result["done"] and result["base"]["num_tokens"] > 0 and result["pruned"]["num_tokens"] > 0
        assert result["base"]["model"] == str(staging / "models" / "base")
    finally:
        server.terminate()
        server.wait(timeout=30)
