"""The Hugging Face Hub as the project names and reaches it: repo names, tokens and one-line errors.

Pruned rounds follow the released checkpoints' names (`<base>-thinkprune-4k`, `-iter2k` for a chained round), and
every Hub failure a user can cause (no token, a rejected token, someone else's repo, the network) becomes one
`UserError` line that says what to do; nothing is committed when one is raised.
"""

import contextlib
import re
import traceback
from pathlib import Path

import httpx2
from huggingface_hub import ModelCard, get_token
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import parse_ratelimit_headers

from thinkprune.errors import UserError


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
CARD_FILE = "README.md"


def looks_like_hub_id(name: str) -> bool:
    """`owner/name`, and not a local directory of that name."""
    return bool(HUB_ID.match(name)) and ".." not in name and not Path(name).expanduser().is_dir()


def card_metadata(checkpoint_dir: Path) -> dict:
    """The YAML metadata of a local checkpoint's README.md ({} without one or with an unreadable one)."""
    path = checkpoint_dir / CARD_FILE
    if not path.is_file():
        return {}
    try:
        return ModelCard.load(path, ignore_metadata_errors=True).data.to_dict()
    except (ValueError, UnicodeDecodeError):
        return {}


def pushed_repo_id(checkpoint_dir: Path) -> str | None:
    """The Hub id a local round was pushed to: its card records it under `thinkprune.repo_id` once pushed."""
    repo_id = (card_metadata(checkpoint_dir).get("thinkprune") or {}).get("repo_id")
    return repo_id if isinstance(repo_id, str) and HUB_ID.match(repo_id) else None


def limit_label(token_limit: int) -> str:
    """4000 -> "4k" as in the released names; a limit that is not a multiple of 1000 keeps its number."""
    return f"{token_limit // 1000}k" if token_limit % 1000 == 0 else str(token_limit)


def round_repo_name(base_name: str, token_limit: int, chained: bool) -> str:
    """`<base>-thinkprune-4k`, or `-iter2k` for a round whose lineage already holds a pruning round."""
    base = Path(base_name.rstrip("/")).name
    base = "".join(char if char.isalnum() or char in "-_." else "-" for char in base).strip("-.") or "model"
    return f"{base}-thinkprune-{'iter' if chained else ''}{limit_label(token_limit)}"


def require_token(token: str | None = None) -> str:
    token = token or get_token()
    if not token:
        raise UserError(
            "no Hugging Face token found: run `hf auth login` or set HF_TOKEN to a token with write access"
        )
    return token


def is_xet_failure(error: BaseException) -> bool:
    """An error of hf_xet itself, or raised inside huggingface_hub's Xet upload (hf_xet reports network failures
    as plain RuntimeErrors): uploads go through Xet whenever hf_xet is installed."""
    if type(error).__module__.split(".")[0] == "hf_xet":
        return True
    return any(frame.f_code.co_name == "_upload_xet_files" for frame, _ in traceback.walk_tb(error.__traceback__))


def hub_failure(error: BaseException):
    """The HTTP, connection or Xet error behind a huggingface_hub failure (it wraps some in RuntimeError), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, httpx2.HTTPError | OfflineModeIsEnabled) or is_xet_failure(error):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def explain(failure, repo_id: str, token: str, repo_flag: str = "--repo_id") -> str:
    """One line saying what went wrong and what to do; nothing was committed when this is called."""
    response = failure.response if isinstance(failure, HfHubHTTPError) else None
    status = response.status_code if response is not None else None
    unchanged = f"nothing was committed, {repo_id} is unchanged"
    if is_xet_failure(failure):
        detail = (str(failure).strip().splitlines() or [""])[0][:200]
        if isinstance(failure, PermissionError):
            message = (
                f"the Hub refused the Xet upload to {repo_id} ({detail}): run `hf auth login --force` or set HF_TOKEN "
                f"to a token with write access to it ({unchanged})"
            )
        else:
            message = (
                f"the Xet upload to {repo_id} failed ({type(failure).__name__}: {detail}): {unchanged}; check your "
                "connection and run the same command again, or set HF_HUB_DISABLE_XET=1 to upload over plain HTTP"
            )
    elif isinstance(failure, OfflineModeIsEnabled):
        message = f"HF_HUB_OFFLINE is set, so nothing can be pushed: unset it and run again ({unchanged})"
    elif status == 401:
        message = (
            "the Hugging Face token was rejected (401 Unauthorized): run `hf auth login --force` or set HF_TOKEN to "
            "a valid token with write access"
        )
    elif status == 403:
        message = (
            f"your token may not write to {repo_id} (403 Forbidden): push to your own namespace or an organization "
            f"you belong to ({repo_flag} <you>/<name>), or use a token with write access to it ({unchanged})"
        )
    elif status == 409:
        message = (
            f"{repo_id} exists but your token cannot see it (a private repo of someone else): choose another "
            f"{repo_flag}"
        )
    elif status == 412:
        message = f"{repo_id} received another commit while pushing ({unchanged}): run the same command again"
    elif status == 429:
        limit = parse_ratelimit_headers(response.headers)
        wait = f"{limit.reset_in_seconds} s" if limit is not None and limit.remaining == 0 else "a few minutes"
        message = (
            f"the Hub rate-limited the push to {repo_id} (HTTP 429): {unchanged}; wait {wait} and run the same "
            "command again"
        )
    elif status is not None and status >= 500:
        message = (
            f"the Hub failed while pushing to {repo_id} (HTTP {status}): {unchanged}; run the same command again in "
            "a few minutes (the Hub's status: https://status.huggingface.co)"
        )
    elif status is None:
        message = (
            f"network error while pushing to {repo_id} ({type(failure).__name__}): {unchanged}; check your "
            "connection and run the same command again"
        )
    else:
        detail = (getattr(failure, "server_message", None) or "").strip().splitlines()
        message = (
            f"the Hub refused the push to {repo_id} (HTTP {status}{': ' + detail[0] if detail else ''}): {unchanged}"
        )
    return message.replace(token, "<token>") if token else message


@contextlib.contextmanager
def reported_as_user_errors(repo_id: str, token: str, repo_flag: str = "--repo_id"):
    """Turn Hub and connection failures into one-line UserErrors; anything else (a bug) propagates as is."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:
        failure = hub_failure(error)
        if failure is None:
            raise
        raise UserError(explain(failure, repo_id, token, repo_flag)) from error
