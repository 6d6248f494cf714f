"""Publishing rounds to a Hub and downloading them back, against the in-process Hub of tests/hub_server.py."""

import contextlib
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import hf_xet
import pytest
import torch
import yaml
from hub_server import FIXTURES, make_round_dir
from huggingface_hub import (
    HfApi,
    ModelCard,
    constants,
    hf_hub_download,
    parse_eval_result_entries,
    snapshot_download,
)

from thinkprune.errors import UserError
from thinkprune.lineage import published_record
from thinkprune.modeling import load_model, load_tokenizer
from thinkprune.records import ROUND_RECORD, RoundRecord
from train.push_to_hub import files_to_upload, push_round


pytest_plugins = ["hub_server"]

REPO_ROOT = FIXTURES.parents[2]


@pytest.fixture
def round_dir(tmp_path, tiny_checkpoint):
    return make_round_dir(tmp_path / "r1", tiny_checkpoint)


def snapshot(path):
    """Every file under a directory, as bytes: to show that a failed push left it alone."""
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_round_trip_is_byte_identical_with_our_card(local_hub, round_dir, tmp_path):
    commit = push_round(round_dir)

    repo_id = "alice/toy-thinkprune-90"
    assert commit.repo_url.repo_id == repo_id
    assert local_hub.count("commit") == 1  # everything in one commit
    pushed = local_hub.files(repo_id)
    assert set(pushed) == set(files_to_upload(round_dir)) | {".gitattributes", "README.md", "training_curves.png"}
    assert "eval/results.json" in pushed and "round_record.json" in pushed and "trainer_log.json" in pushed

    downloaded = snapshot_download(repo_id, cache_dir=tmp_path / "downloads")
    for name in files_to_upload(round_dir) + ["README.md", "training_curves.png"]:
        if name != ROUND_RECORD:  # published without the recipe's token placeholders and local folders
            assert (round_dir / name).read_bytes() == (tmp_path / downloaded / name).read_bytes(), name
    assert RoundRecord.read(tmp_path / downloaded) == published_record(RoundRecord.read(round_dir))

    local, remote = load_model(str(round_dir)), load_model(repo_id)
    for (name, tensor), (remote_name, remote_tensor) in zip(local.state_dict().items(), remote.state_dict().items()):
        assert name == remote_name and torch.equal(tensor, remote_tensor)
    prompt = "What is 123 + 456?"
    assert load_tokenizer(repo_id)(prompt)["input_ids"] == load_tokenizer(str(round_dir))(prompt)["input_ids"]

    card = ModelCard.load(repo_id)
    assert card.data.thinkprune["repo_id"] == repo_id
    assert card.data.license == "apache-2.0" and "thinkprune" in card.data.tags
    assert {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results} == {
        ("toy", "pass@1"): 92.0,
        ("toy", "mean_tokens"): 61.5,
    }
    assert "hf download alice/toy-thinkprune-90" in card.text
    assert HfApi().model_info(repo_id).card_data.thinkprune["token_limit"] == 90


@pytest.mark.slow
def test_refresh_after_evaluation_updates_only_what_changed(local_hub, round_dir):
    push_round(round_dir)
    head = local_hub.head("alice/toy-thinkprune-90")
    push_round(round_dir)
    assert local_hub.head("alice/toy-thinkprune-90") == head  # nothing changed, no empty commit

    results = json.loads((round_dir / "eval" / "results.json").read_text())
    results["benchmarks"]["toy"]["pass@1"] = 0.95
    (round_dir / "eval" / "results.json").write_text(json.dumps(results))
    push_round(round_dir)

    card = ModelCard.load("alice/toy-thinkprune-90")
    assert {r.metric_type: r.metric_value for r in card.data.eval_results}["pass@1"] == 95.0
    assert local_hub.repos["alice/toy-thinkprune-90"].resolve("main").parent == head


@pytest.mark.slow
def test_chain_shows_in_the_model_tree(local_hub, round_dir, tmp_path, tiny_checkpoint):
    push_round(round_dir)
    r2 = make_round_dir(
        tmp_path / "r2",
        tiny_checkpoint,
        round=2,
        token_limit=60,
        parent=str(round_dir),
        lineage=["toy", str(round_dir)],
    )
    push_round(r2)

    info = HfApi().model_info("alice/toy-thinkprune-iter60")
    assert info.card_data.base_model == "alice/toy-thinkprune-90"
    assert info.card_data.base_model_relation == "finetune"
    assert info.card_data.thinkprune["lineage"] == ["toy", "alice/toy-thinkprune-90"]
    # The record a round continued from it elsewhere reads: ancestors by Hub id, no directory of this machine.
    pushed_record = Path(hf_hub_download("alice/toy-thinkprune-iter60", ROUND_RECORD, cache_dir=tmp_path / "dl"))
    assert str(tmp_path) not in pushed_record.read_text()
    pushed = RoundRecord.from_file(pushed_record)
    assert (pushed.parent, pushed.lineage) == ("alice/toy-thinkprune-90", ["toy", "alice/toy-thinkprune-90"])
    assert RoundRecord.read(r2).parent == str(round_dir)  # the local record keeps the path its evaluation is found at


def test_license_and_base_model_come_from_a_hub_base(local_hub, tmp_path, tiny_checkpoint):
    base = "thinkprune-org/long-thinker"
    local_hub.create_repo(base, {"README.md": b"---\nlicense: mit\n---\n# A long thinker\n"})
    round_dir = make_round_dir(
        tmp_path / "r1", tiny_checkpoint, parent=base, base_model=base, lineage=[base], token_limit=4000
    )

    push_round(round_dir, repo_id="thinkprune-org/long-thinker-4k")

    card = ModelCard.load("thinkprune-org/long-thinker-4k")
    assert card.data.license == "mit"
    assert card.data.base_model == base


@pytest.mark.slow
def test_revision_and_private_repo(local_hub, round_dir, tmp_path):
    push_round(round_dir, repo_id="toy-rounds", private=True, revision="round-1")

    repo = local_hub.repos["alice/toy-rounds"]
    assert repo.private
    assert set(local_hub.files("alice/toy-rounds")) == {".gitattributes"}  # main untouched
    assert "model.safetensors" in local_hub.files("alice/toy-rounds", "round-1")
    downloaded = snapshot_download("alice/toy-rounds", revision="round-1", cache_dir=tmp_path / "dl")
    assert (tmp_path / downloaded / "model.safetensors").read_bytes() == (round_dir / "model.safetensors").read_bytes()

    other_user = HfApi(token="hf_local_bob")
    with pytest.raises(Exception, match="Repository Not Found"):
        other_user.model_info("alice/toy-rounds")


def test_cached_login_is_used(local_hub, round_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    os.makedirs(os.path.dirname(constants.HF_TOKEN_PATH), exist_ok=True)
    with open(constants.HF_TOKEN_PATH, "w") as handle:
        handle.write(local_hub.token)
    assert push_round(round_dir).repo_url.repo_id == "alice/toy-thinkprune-90"


# -- faults: one-line UserErrors, nothing half-uploaded, local files untouched -------------------------------------


def test_unfinished_round_is_refused_before_any_request(local_hub, round_dir):
    (round_dir / "round_record.json").unlink()
    with pytest.raises(UserError, match="not a finished ThinkPrune round"):
        push_round(round_dir)
    assert local_hub.requests == []


def test_no_token(local_hub, round_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    before = snapshot(round_dir)
    with pytest.raises(UserError, match="no Hugging Face token found: run `hf auth login` or set HF_TOKEN"):
        push_round(round_dir)
    assert local_hub.requests == [] and snapshot(round_dir) == before


def test_rejected_token_is_not_echoed(local_hub, round_dir, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_valid_token")
    with pytest.raises(UserError) as error:
        push_round(round_dir)
    assert "401" in str(error.value) and "hf_not_a_valid_token" not in str(error.value)
    assert "\n" not in str(error.value)
    assert local_hub.repos == {}


def test_repo_owned_by_someone_else(local_hub, round_dir):
    local_hub.create_repo("bob/toy-thinkprune-90")
    before = local_hub.head("bob/toy-thinkprune-90")

    with pytest.raises(UserError, match="may not write to bob/toy-thinkprune-90 \\(403 Forbidden\\)"):
        push_round(round_dir, repo_id="bob/toy-thinkprune-90")
    with pytest.raises(UserError, match="may not write to bob/new-repo"):
        push_round(round_dir, repo_id="bob/new-repo")

    assert local_hub.head("bob/toy-thinkprune-90") == before
    assert set(local_hub.repos) == {"bob/toy-thinkprune-90"}


def test_network_error_mid_upload_leaves_repo_and_files_intact(local_hub, round_dir):
    push_round(round_dir)
    head, files = local_hub.head("alice/toy-thinkprune-90"), local_hub.files("alice/toy-thinkprune-90")
    (round_dir / "eval" / "results.json").write_text((FIXTURES / "base_eval_results.json").read_text())
    (round_dir / "model.safetensors").write_bytes(b"changed weights" + (round_dir / "model.safetensors").read_bytes())
    before = snapshot(round_dir)

    local_hub.fail_next("commit")  # the LFS upload of the new weights succeeds, the commit never lands
    with pytest.raises(
        UserError, match="network error .* nothing was committed, alice/toy-thinkprune-90 is unchanged"
    ):
        push_round(round_dir)

    assert local_hub.count("lfs_upload") == 3  # first push: weights + curves; then the new weights
    assert local_hub.head("alice/toy-thinkprune-90") == head
    assert local_hub.files("alice/toy-thinkprune-90") == files
    assert snapshot(round_dir) == before  # the local card was not rewritten either


def test_failed_first_push_removes_the_repo_it_created(local_hub, round_dir):
    local_hub.fail_next("commit")
    with pytest.raises(UserError, match="network error"):
        push_round(round_dir, revision="round-1")
    assert local_hub.repos == {}


def test_failed_push_to_new_branch_removes_the_branch(local_hub, round_dir):
    push_round(round_dir)
    local_hub.fail_next("commit")
    with pytest.raises(UserError, match="network error"):
        push_round(round_dir, revision="round-1")
    assert set(local_hub.repos["alice/toy-thinkprune-90"].refs) == {"main"}


def test_a_branch_left_by_a_push_that_failed_twice_takes_the_retry(local_hub, round_dir, tmp_path, tiny_checkpoint):
    """The commit fails, then so does deleting the branch it was to land on: the branch stays at main's head, showing
    main's round. The same push again must land there, not be refused as another lineage's."""
    push_round(round_dir, repo_id="alice/toy-pruned")
    round2 = make_round_dir(
        tmp_path / "r2", tiny_checkpoint, round=2, token_limit=60, parent="alice/toy-pruned", lineage=["toy", "r1"]
    )
    local_hub.fail_next("commit")
    local_hub.fail_next("delete_branch")
    with pytest.raises(UserError, match="network error"):
        push_round(round2, repo_id="alice/toy-pruned", revision="round-2")
    assert local_hub.head("alice/toy-pruned", "round-2") == local_hub.head("alice/toy-pruned")

    push_round(round2, repo_id="alice/toy-pruned", revision="round-2")
    assert json.loads(local_hub.files("alice/toy-pruned", "round-2")[ROUND_RECORD])["token_limit"] == 60
    assert json.loads(local_hub.files("alice/toy-pruned")[ROUND_RECORD])["token_limit"] == 90  # main untouched


@pytest.mark.slow
def test_different_lineage_is_refused_unless_overwrite(local_hub, round_dir, tmp_path, tiny_checkpoint):
    push_round(round_dir, repo_id="alice/toy-pruned")
    head = local_hub.head("alice/toy-pruned")
    other = make_round_dir(
        tmp_path / "other",
        tiny_checkpoint,
        round=2,
        token_limit=60,
        parent="alice/elsewhere",
        lineage=["toy", "alice/elsewhere"],
        with_eval=False,
    )

    with pytest.raises(
        UserError,
        match="already holds a 90-token round of toy, not a 60-token round of toy -> "
        "alice/elsewhere: pass --overwrite",
    ):
        push_round(other, repo_id="alice/toy-pruned")
    assert local_hub.head("alice/toy-pruned") == head

    push_round(other, repo_id="alice/toy-pruned", overwrite=True)
    files = local_hub.files("alice/toy-pruned")
    assert json.loads(files["round_record.json"])["token_limit"] == 60
    assert "eval/results.json" not in files  # the replaced round's files do not linger


def test_repo_with_other_content_is_refused(local_hub, round_dir):
    local_hub.create_repo("alice/my-model", {"README.md": b"---\nlicense: mit\n---\n# Something else\n"})
    with pytest.raises(UserError, match="already holds files that are not a ThinkPrune round"):
        push_round(round_dir, repo_id="alice/my-model")


def test_token_inside_a_file_is_never_published(local_hub, round_dir):
    log = json.loads((round_dir / "trainer_log.json").read_text())
    (round_dir / "trainer_log.json").write_text(json.dumps([*log, {"note": f"pushed with {local_hub.token}"}]))
    with pytest.raises(UserError) as error:
        push_round(round_dir)
    assert "trainer_log.json would publish your Hugging Face token" in str(error.value)
    assert local_hub.token not in str(error.value)
    assert local_hub.repos == {}


def test_a_recipe_token_field_is_left_out_of_the_published_record(local_hub, round_dir):
    record = json.loads((round_dir / "round_record.json").read_text())
    record["recipe"]["hub_token"] = local_hub.token
    (round_dir / "round_record.json").write_text(json.dumps(record))
    push_round(round_dir)
    published = json.loads(local_hub.files("alice/toy-thinkprune-90")[ROUND_RECORD])
    assert published["recipe"].keys() == {key for key in record["recipe"] if not key.endswith("token")}


@pytest.mark.slow
def test_cli_push_then_hf_download(local_hub, round_dir, tmp_path):
    """The documented commands, as subprocesses talking to the local Hub through HF_ENDPOINT."""
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    push = subprocess.run(
        [sys.executable, "train/push_to_hub.py", str(round_dir), "--revision", "round-1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert push.returncode == 0, push.stderr
    assert f"{local_hub.endpoint}/alice/toy-thinkprune-90/tree/round-1" in push.stdout
    assert local_hub.token not in push.stdout + push.stderr

    download = subprocess.run(
        ["hf", "download", "alice/toy-thinkprune-90", "--revision", "round-1", "--local-dir", str(tmp_path / "dl")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert download.returncode == 0, download.stderr
    assert (tmp_path / "dl" / "model.safetensors").read_bytes() == (round_dir / "model.safetensors").read_bytes()

    refused = subprocess.run(
        [sys.executable, "train/push_to_hub.py", str(tmp_path / "missing")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 2 and refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1


@pytest.mark.slow
def test_pushed_round_carries_eval_results_with_real_dataset_ids(local_hub, round_dir, tmp_path):
    push_round(round_dir, repo_id="alice/r1-style", eval_results=FIXTURES / "r1_eval_results.json")
    pushed = local_hub.files("alice/r1-style")
    assert {".eval_results/aime24.yaml", ".eval_results/olympiadbench.yaml"} <= set(pushed)
    (entry,) = parse_eval_result_entries(yaml.safe_load(pushed[".eval_results/aime24.yaml"]))
    assert entry.dataset_id == "HuggingFaceH4/aime_2024" and entry.value == 26.7
    assert (round_dir / ".eval_results" / "aime24.yaml").read_bytes() == pushed[".eval_results/aime24.yaml"]


class FakeXetSession:
    """Records huggingface_hub's calls into hf_xet's upload session and stores the bytes where the local Hub keeps
    LFS objects (what Xet storage is to the real Hub), or fails the way hf_xet does."""

    def __init__(self, hub, fail: BaseException | None = None):
        self.hub, self.fail, self.calls = hub, fail, []

    @contextlib.contextmanager
    def new_upload_commit(self, token_refresh_url, **kwargs):
        self.calls.append(("new_upload_commit", token_refresh_url))
        yield self

    def start_upload_file(self, path, sha256):
        self.calls.append(("start_upload_file", Path(path).name))
        return self.store(Path(path).read_bytes())

    def start_upload_bytes(self, data, sha256):
        self.calls.append(("start_upload_bytes", len(data)))
        return self.store(data)

    def store(self, data: bytes):
        if self.fail is not None:
            raise self.fail
        digest = hashlib.sha256(data).hexdigest()
        self.hub.lfs_objects[digest] = data
        return SimpleNamespace(result=lambda: SimpleNamespace(xet_info=SimpleNamespace(sha256=digest)))


@pytest.fixture
def xet_hub(local_hub, monkeypatch):
    """The local Hub with uploads going through the Xet code path, as they do wherever hf_xet is installed."""
    from huggingface_hub.utils import _xet

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    monkeypatch.delenv("HF_HUB_DISABLE_XET")
    session = FakeXetSession(local_hub)
    monkeypatch.setattr(_xet, "get_xet_session", lambda: session)
    return local_hub, session


@pytest.mark.slow
def test_push_through_xet_lands_the_weights(xet_hub, round_dir):
    hub, session = xet_hub
    push_round(round_dir)
    assert ("start_upload_file", "model.safetensors") in session.calls
    assert hub.files("alice/toy-thinkprune-90")["model.safetensors"] == (round_dir / "model.safetensors").read_bytes()


@pytest.mark.parametrize(
    "failure, message",
    [
        (hf_xet.XetAuthenticationError("token expired"), "refused the Xet upload to alice/toy-thinkprune-90"),
        (RuntimeError("Data processing error: connection reset by peer"), "HF_HUB_DISABLE_XET=1"),
    ],
)
def test_xet_failures_are_one_line_errors_and_change_nothing(xet_hub, round_dir, failure, message):
    hub, session = xet_hub
    session.fail = failure
    before = snapshot(round_dir)
    with pytest.raises(UserError, match=message) as error:
        push_round(round_dir)
    assert "nothing was committed" in str(error.value) and "\n" not in str(error.value)
    assert hub.token not in str(error.value)
    assert "alice/toy-thinkprune-90" not in hub.repos  # the repo created for the push is removed again
    assert snapshot(round_dir) == before


def test_only_the_model_and_its_records_are_uploaded(tmp_path):
    """Training leftovers never reach the Hub: trl's checkpoints and logs, and the completion tables it writes under
    `completions/` with `--log_completions true` (every rollout of the run)."""
    for name in ("model.safetensors", "config.json", "round_record.json", "training_args.bin", "round_state.json"):
        (tmp_path / name).write_text("x")
    for leftover in ("checkpoint-10/model.safetensors", "runs/events", "completions/completions_00010.parquet"):
        (tmp_path / leftover).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / leftover).write_text("x")
    assert files_to_upload(tmp_path) == ["config.json", "model.safetensors", "round_record.json"]
