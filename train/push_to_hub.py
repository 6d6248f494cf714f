"""Publish a finished ThinkPrune round on the Hugging Face Hub with its model card, as ONE commit.

    python train/push_to_hub.py outputs/toy/round1                      # -> <you>/toy-thinkprune-200
    python train/push_to_hub.py outputs/r1 --repo_id my-org/DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-4k --private
    python train/push_to_hub.py outputs/r2 --revision round-2           # publish on a branch of the repo
    python train/push_to_hub.py outputs/r1 --eval_results evals/r1      # refresh after evaluating

`accelerate launch train/round.py ... --push_to_hub` calls `push_round` when the round finishes. The default repo
name follows the released checkpoints: `<user>/<base>-thinkprune-4k` for a first round, `-iter2k` for a round whose
lineage already holds a pruning round, the bare number for limits that are not multiples of 1000 (`-thinkprune-90`).

The upload is a single commit (weights, tokenizer, round record, trainer log, evaluation results, card and training
curves), so a failure leaves the Hub repo as it was; a repo or branch created for the push is removed again. The
token comes from `token=`, HF_TOKEN or `hf auth login`, and never appears in messages or cards. A repo (or branch)
that already holds a round of another lineage is not overwritten unless `overwrite=True` (`--overwrite`).
"""

import json
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


# Run as a file, the script imports this checkout's packages, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, ModelCard, constants
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils import HFValidationError, validate_repo_id
from transformers import HfArgumentParser

from model_cards.generate import (
    CARD_FILE,
    CURVES_FILE,
    EVAL_RESULTS_DIR,
    write_model_card,
)
from thinkprune.errors import UserError, exit_on_user_error
from thinkprune.files import copy_atomic
from thinkprune.hub import reported_as_user_errors, require_token, round_repo_name
from thinkprune.lineage import display_name, lineage_names, published_record
from thinkprune.records import ROUND_RECORD, ROUND_STATE, RoundRecord


# Resumable-training state and local logs: not part of a published model (training_args.bin is a pickle that may
# hold the Hub token; "completions/" is every rollout trl logged under --log_completions true).
EXCLUDED_DIRS = ("checkpoint-", "runs", "wandb", "completions", "__pycache__")
EXCLUDED_FILES = {"training_args.bin", ROUND_STATE, CARD_FILE, CURVES_FILE}
EXCLUDED_SUFFIXES = (".pt", ".pth", ".lock")
KEPT_REMOTE_FILES = {".gitattributes"}
TOKEN_SCAN_MAX_BYTES = 10 * 1024 * 1024


def files_to_upload(checkpoint_dir: Path) -> list[str]:
    """Repo paths of the round's files (the card and curves are generated fresh and added separately)."""
    paths = []
    for path in sorted(checkpoint_dir.rglob("*")):
        relative = path.relative_to(checkpoint_dir).as_posix()
        parts = relative.split("/")
        if (
            not path.is_file()
            or any(part.startswith(".") for part in parts)
            or any(part.startswith(EXCLUDED_DIRS) for part in parts[:-1])
            or relative in EXCLUDED_FILES
            or relative.endswith(EXCLUDED_SUFFIXES)
        ):
            continue
        paths.append(relative)
    return paths


def default_repo_name(record: RoundRecord) -> str:
    """`<base>-thinkprune-4k`, or `-iter<limit>` when the lineage already holds a pruning round."""
    return round_repo_name(display_name(record.base_model), record.token_limit, chained=len(record.lineage) > 1)


def resolve_repo_id(repo_id: str | None, record: RoundRecord, username: str) -> str:
    repo_id = repo_id or default_repo_name(record)
    repo_id = repo_id if "/" in repo_id else f"{username}/{repo_id}"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise UserError(
            f"invalid repo id {repo_id!r}: use <namespace>/<name> with letters, digits, '-', '_', '.'"
        ) from error
    return repo_id


def describe(lineage: list[str], token_limit) -> str:
    return f"a {token_limit}-token round of {' -> '.join(map(str, lineage))}"


def remote_lineage(api, repo_id: str, commit: str, files: list[str], cache_dir: str) -> tuple | None:
    """(lineage names, token limit) of the round a repo holds, from its round record or else its card; None when
    it holds something else."""
    if ROUND_RECORD in files:
        path = api.hf_hub_download(repo_id, ROUND_RECORD, revision=commit, cache_dir=cache_dir)
        try:
            remote = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        if isinstance(remote, dict) and isinstance(remote.get("lineage"), list):
            return lineage_names(remote["lineage"]), remote.get("token_limit")
    if CARD_FILE in files:
        path = api.hf_hub_download(repo_id, CARD_FILE, revision=commit, cache_dir=cache_dir)
        block = ModelCard.load(path, ignore_metadata_errors=True).data.to_dict().get("thinkprune") or {}
        if isinstance(block, dict) and isinstance(block.get("lineage"), list):
            return block["lineage"], block.get("token_limit")
    return None


def check_lineage(
    api, repo_id: str, revision: str, commit: str, files: list[str], record: RoundRecord, cache_dir: str
):
    """Refuse to replace a round of another lineage, or a repo that holds something else (overwrite=True does)."""
    if not set(files) - KEPT_REMOTE_FILES:
        return
    remote = remote_lineage(api, repo_id, commit, files, cache_dir)
    ours = (lineage_names(record.lineage), record.token_limit)
    if remote is not None and (list(remote[0]), remote[1]) == ours:
        return
    held = describe(*remote) if remote else "files that are not a ThinkPrune round"
    raise UserError(
        f"{repo_id} ({revision}) already holds {held}, not {describe(*ours)}: pass --overwrite (overwrite=True) to "
        "replace it, or choose another --repo_id or --revision"
    )


def check_no_token(uploads: dict[str, Path], token: str) -> None:
    """Last line of defence: never publish a file that contains the token (e.g. a recipe dump)."""
    needle = token.encode()
    for repo_path, local_path in uploads.items():
        if local_path.stat().st_size <= TOKEN_SCAN_MAX_BYTES and needle in local_path.read_bytes():
            raise UserError(
                f"{repo_path} would publish your Hugging Face token: remove it from that file (the card is written "
                f"from {ROUND_RECORD}), then push again"
            )


def push_round(
    checkpoint_dir: str | Path,
    repo_id: str | None = None,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    overwrite: bool = False,
    eval_results: str | Path | None = None,
    parent_eval: str | Path | None = None,
    base_eval: str | Path | None = None,
    commit_message: str | None = None,
    record: RoundRecord | None = None,
):
    """Push (or refresh) a finished round directory as one commit; returns the `huggingface_hub.CommitInfo`.

    `repo_id` defaults to `<user>/<base>-thinkprune-<limit>` (a bare name goes under your user). `private` applies
    when the repo is created. `revision` is a branch, created from main when missing. Evaluation results default to
    `<dir>/eval/results.json` (and those of a local parent and base). After a successful push the round directory
    holds the same README.md, training_curves.png and .eval_results/ as the Hub; a failed push changes no local file.
    `record` is the round's record when it is not written yet (train/round.py writes it last, after the push).
    """
    checkpoint_dir = Path(checkpoint_dir)
    record = record or RoundRecord.read(checkpoint_dir)
    token = require_token(token)
    api = HfApi(token=token)
    with reported_as_user_errors("the Hub", token):
        username = api.whoami()["name"]
    repo_id = resolve_repo_id(repo_id, record, username)
    with tempfile.TemporaryDirectory(prefix="thinkprune-push-") as staging, reported_as_user_errors(repo_id, token):
        staging = Path(staging)
        write_model_card(checkpoint_dir, eval_results, parent_eval, base_eval, repo_id, revision, staging, record)
        uploads = {path: checkpoint_dir / path for path in files_to_upload(checkpoint_dir)}
        # Never the local file as is: it names this machine's folders (and a round being finished has none yet).
        uploads[ROUND_RECORD] = published_record(record).write(staging)
        uploads |= {path.name: path for path in (staging / CARD_FILE, staging / CURVES_FILE) if path.exists()}
        uploads |= {f"{EVAL_RESULTS_DIR}/{path.name}": path for path in (staging / EVAL_RESULTS_DIR).glob("*.yaml")}
        check_no_token(uploads, token)
        message = commit_message or (
            f"ThinkPrune round {record.round} ({record.token_limit}-token limit) from {display_name(record.parent)}"
        )
        commit = commit_round(
            api, repo_id, revision or "main", private, uploads, record, overwrite, message, str(staging / "hub_cache")
        )
        for name in (CARD_FILE, CURVES_FILE):
            if (staging / name).exists():
                copy_atomic(staging / name, checkpoint_dir / name)
        published = {path.name for path in (staging / EVAL_RESULTS_DIR).glob("*.yaml")}
        for stale in (checkpoint_dir / EVAL_RESULTS_DIR).glob("*.yaml"):
            if stale.name not in published:
                stale.unlink()
        for name in published:
            copy_atomic(staging / EVAL_RESULTS_DIR / name, checkpoint_dir / EVAL_RESULTS_DIR / name)
    return commit


def commit_round(api, repo_id, revision, private, uploads, record, overwrite, message, cache_dir):
    """Check what the repo holds, then create it (or the branch) if needed and commit everything at once.

    The commit names the head it was checked against (parent_commit), so a concurrent push fails instead of being
    overwritten; a repo or branch created here is deleted again when the commit fails.
    """
    try:
        main_head = api.repo_info(repo_id).sha
        repo_exists = True
    except RepositoryNotFoundError:
        main_head, repo_exists = None, False
    revision_exists, files, parent_commit = False, [], None
    if repo_exists:
        try:
            parent_commit = api.repo_info(repo_id, revision=revision).sha
            revision_exists = True
        except RevisionNotFoundError:
            parent_commit = main_head  # a new branch starts from main
        files = api.list_repo_files(repo_id, revision=parent_commit)
    # A branch still at main's head holds nothing main does not (a push whose commit and clean-up both failed leaves
    # one): replacing what it shows loses nothing, so the round goes on it as on a new branch.
    holds_its_own = revision == "main" or parent_commit != main_head
    if revision_exists and holds_its_own and not overwrite:
        check_lineage(api, repo_id, revision, parent_commit, files, record, cache_dir)

    keep = set(uploads) | KEPT_REMOTE_FILES
    operations = [CommitOperationAdd(path, str(local)) for path, local in uploads.items()]
    operations += [CommitOperationDelete(path) for path in files if path not in keep]
    created_repo = created_branch = False
    try:
        if not repo_exists:
            api.create_repo(repo_id, private=private)
            created_repo = True
            parent_commit = api.repo_info(repo_id).sha
        if not revision_exists and revision != "main":
            api.create_branch(repo_id, branch=revision, revision=parent_commit)
            created_branch = True
        return api.create_commit(
            repo_id, operations, commit_message=message, revision=revision, parent_commit=parent_commit
        )
    except BaseException:
        undo(api, repo_id, revision, created_repo, created_branch)
        raise


def undo(api, repo_id: str, branch: str, created_repo: bool, created_branch: bool) -> None:
    """Remove what a failed push created (best effort: the network may be what failed)."""
    try:
        if created_repo:
            api.delete_repo(repo_id)
        elif created_branch:
            api.delete_branch(repo_id, branch=branch)
    except Exception:  # the push already failed: its error is the one to report
        pass


@dataclass
class PushArguments:
    repo_id: str | None = field(
        default=None, metadata={"help": "<namespace>/<name> (default <you>/<base>-thinkprune-<limit>)"}
    )
    private: bool = field(default=False, metadata={"help": "create the repo as private"})
    revision: str | None = field(default=None, metadata={"help": "branch to push to (created from main if missing)"})
    overwrite: bool = field(default=False, metadata={"help": "replace a repo that holds another lineage"})
    eval_results: str | None = field(default=None, metadata={"help": "results.json (or dir) of this round"})
    parent_eval: str | None = field(default=None, metadata={"help": "results.json (or dir) of the parent"})
    base_eval: str | None = field(default=None, metadata={"help": "results.json (or dir) of the base model"})
    commit_message: str | None = field(default=None, metadata={"help": "commit message on the Hub"})


@exit_on_user_error
def main(argv: list[str] | None = None):
    parser = HfArgumentParser(PushArguments)
    parser.add_argument("checkpoint_dir", help="a finished round directory (holding round_record.json)")
    args, extra = parser.parse_args_into_dataclasses(args=argv)
    commit = push_round(
        extra.checkpoint_dir,
        repo_id=args.repo_id,
        private=args.private,
        revision=args.revision,
        overwrite=args.overwrite,
        eval_results=args.eval_results,
        parent_eval=args.parent_eval,
        base_eval=args.base_eval,
        commit_message=args.commit_message,
    )
    repo_id = commit.repo_url.repo_id
    where = f"{constants.ENDPOINT}/{repo_id}" + (f"/tree/{args.revision}" if args.revision else "")
    print(f"Pushed {extra.checkpoint_dir} to {where} (commit {commit.oid[:8]})")
    print(f"Download it with: hf download {repo_id}" + (f" --revision {args.revision}" if args.revision else ""))
    return commit


if __name__ == "__main__":
    main()
