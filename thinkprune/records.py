"""The round record: what makes a round directory a finished ThinkPrune round, and the one way to read it.

A round directory holds the checkpoint, `trainer_log.json` (trl's log history), the model card and, written last,
`round_record.json`: a directory without a valid record is not a finished round.
"""

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from huggingface_hub import hf_hub_download, is_offline_mode
from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

from thinkprune.errors import UserError
from thinkprune.files import write_json_atomic


logger = logging.getLogger(__name__)

ROUND_RECORD = "round_record.json"
TRAINER_LOG = "trainer_log.json"
# A round's own bookkeeping, written first (which run the directory holds) and updated once trained; never published.
ROUND_STATE = "round_state.json"
RECORD_FORMAT = "thinkprune-round/1"


@dataclass
class RoundRecord:
    """What a finished round was: its place in the chain, its limit, its recipe and how training went."""

    round: int
    token_limit: int
    parent: str
    base_model: str
    lineage: list[str]
    finished_at: str
    truncation: str = "zero"
    recipe: dict = field(default_factory=dict)
    dataset: dict = field(default_factory=dict)
    batch: dict = field(default_factory=dict)
    global_step: int | None = None
    train_metrics: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    train_seconds: float | None = None
    # Difficulty-aware limits: the rule and the per-problem limits it gave (train/round.py).
    difficulty: dict | None = None
    # The solved-problem filter: how many training problems the parent always or never solved, dropped before the
    # round (train/round.py `filter_solved_problems`).
    problem_filter: dict | None = None
    # Dynamic sampling: generation rounds and groups generated, kept and padded over the round (train/round.py).
    dynamic_sampling: dict | None = None
    # The automatic schedule's decisions about this round: the parent's measurement, the limit chosen and why, the
    # validation, and whether the schedule went on (train/schedule.py adds them once the round is validated).
    auto: dict | None = None
    format: str = RECORD_FORMAT

    @classmethod
    def from_dict(cls, data, source: str = "the round record") -> "RoundRecord":
        """Validate and build; unknown keys (from a newer version) are ignored."""
        required = [f.name for f in fields(cls) if f.name in ("round", "token_limit", "parent", "base_model")]
        required += ["lineage", "finished_at"]
        missing = [key for key in required if not isinstance(data, dict) or data.get(key) in (None, "")]
        if missing or data.get("format") != RECORD_FORMAT:
            what = f"lacks {', '.join(missing)}" if missing else f"has format {data.get('format')!r}"
            raise UserError(f"{source} {what}: it is not a finished {RECORD_FORMAT} round record; rerun the round")
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def read(cls, directory: str | Path) -> "RoundRecord":
        """The record of a finished round directory; a one-line UserError for anything else."""
        record = cls.find(directory)
        if record is None:
            if not Path(directory).is_dir():
                raise UserError(f"{directory} is not a directory: pass the output directory of a finished round")
            raise UserError(
                f"{directory} has no {ROUND_RECORD}, so it is not a finished ThinkPrune round: let train/round.py "
                "finish (it writes the record last), or pass the directory of a finished round"
            )
        return record

    @classmethod
    def find(cls, directory: str | Path) -> "RoundRecord | None":
        """The record of `directory`, or None where there is none (a base model, a Hub id, an unfinished round)."""
        path = Path(directory) / ROUND_RECORD
        if not path.is_file():
            return None
        return cls.from_file(path)

    @classmethod
    def find_on_hub(cls, repo_id: str, revision: str | None = None) -> "RoundRecord | None":
        """The record a pushed round publishes beside its weights, or None for a Hub model that is no round."""
        try:
            return cls.from_file(hf_hub_download(repo_id, ROUND_RECORD, revision=revision))
        # Before the Hub's own "not found"s, which it subclasses: the Hub was not reached and the file is not cached.
        except LocalEntryNotFoundError as error:
            if not is_offline_mode():
                # Treating it as a base model would record the wrong chain without a word.
                raise UserError(
                    f"cannot reach the Hub to read whether {repo_id} is a pushed ThinkPrune round ({ROUND_RECORD}): "
                    "check your connection and run again, or set HF_HUB_OFFLINE=1 to treat it as a base model"
                ) from error
            logger.warning(
                "offline: cannot tell whether %s is a pushed ThinkPrune round (its %s was never downloaded); "
                "treating it as a base model",
                repo_id,
                ROUND_RECORD,
            )
            return None
        except (EntryNotFoundError, RepositoryNotFoundError):
            return None

    @classmethod
    def from_file(cls, path: str | Path) -> "RoundRecord":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise UserError(f"{path} is not valid JSON ({error}): rerun the round or restore the file") from error
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, directory: str | Path) -> Path:
        path = Path(directory) / ROUND_RECORD
        write_json_atomic(path, self.to_dict())
        return path


def model_reference(name_or_path: str) -> str:
    """How a record names a model: local directories as absolute paths (a relative one could pass for a Hub id)."""
    return str(Path(name_or_path).resolve()) if Path(name_or_path).is_dir() else name_or_path


def read_trainer_log(directory: str | Path) -> list[dict]:
    """trl's log history of a round ([] when it has none)."""
    path = Path(directory) / TRAINER_LOG
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(
            f"{path} is not valid JSON ({error}): restore it, or delete it to write a card without curves"
        ) from error
    return [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
