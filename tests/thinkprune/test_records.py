"""The round record: the one reader and writer of round_record.json, and the lineage it carries."""

import json
import logging

import pytest
from huggingface_hub import constants
from huggingface_hub.errors import LocalEntryNotFoundError

from thinkprune.errors import UserError
from thinkprune.records import ROUND_RECORD, RoundRecord, model_reference


def make_record(**changes) -> RoundRecord:
    values = dict(round=1, token_limit=4000, parent="base/model", base_model="base/model", lineage=["base/model"])
    return RoundRecord(**{**values, "finished_at": "2026-01-01T00:00:00+00:00", **changes})


def test_write_then_read_round_trips(tmp_path):
    record = make_record(recipe={"learning_rate": 1e-6}, batch={"world_size": 8})
    path = record.write(tmp_path)
    assert path == tmp_path / ROUND_RECORD
    assert RoundRecord.read(tmp_path) == record
    assert json.loads(path.read_text())["format"] == "thinkprune-round/1"


def test_missing_and_unfinished_directories(tmp_path):
    assert RoundRecord.find(tmp_path) is None
    with pytest.raises(UserError, match="not a finished ThinkPrune round"):
        RoundRecord.read(tmp_path)
    with pytest.raises(UserError, match="is not a directory"):
        RoundRecord.read(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is not valid JSON"),
        (json.dumps({"format": "thinkprune-round/1", "round": 1}), "lacks token_limit"),
        (json.dumps({**make_record().to_dict(), "format": "other/2"}), "has format 'other/2'"),
        (json.dumps([1, 2]), "lacks round"),
    ],
)
def test_invalid_records_are_one_line_errors(tmp_path, content, message):
    (tmp_path / ROUND_RECORD).write_text(content)
    with pytest.raises(UserError, match=message):
        RoundRecord.find(tmp_path)


def test_unknown_keys_of_a_newer_version_are_ignored(tmp_path):
    (tmp_path / ROUND_RECORD).write_text(json.dumps({**make_record().to_dict(), "added_later": 1}))
    assert RoundRecord.read(tmp_path) == make_record()


def test_local_models_are_named_by_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "round1").mkdir()
    monkeypatch.chdir(tmp_path)
    assert model_reference("round1") == str(tmp_path / "round1")
    assert model_reference("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


def test_the_automatic_schedules_decisions_and_difficulty_limits_round_trip(tmp_path):
    record = make_record(
        auto={"token_limit": 150, "limit_reason": "75% of the 8 finished, correct responses fit in 150 tokens"},
        difficulty={"min_limit": 66, "limits": {"min": 66, "mean": 120.5, "max": 200}},
    )
    record.write(tmp_path)
    assert RoundRecord.read(tmp_path) == record
    older = {key: value for key, value in make_record().to_dict().items() if key not in ("auto", "difficulty")}
    (tmp_path / ROUND_RECORD).write_text(json.dumps(older))
    assert RoundRecord.read(tmp_path).auto is None and RoundRecord.read(tmp_path).difficulty is None


@pytest.mark.parametrize("offline", [False, True])
def test_a_hub_parent_that_cannot_be_read_is_not_taken_for_a_base_model_unless_offline(monkeypatch, caplog, offline):
    """huggingface_hub raises LocalEntryNotFoundError (a subclass of its "not found") for an uncached file it could
    not fetch: offline, or with the Hub out of reach. Only offline may the parent be taken for a base model."""

    def unreachable(*args, **kwargs):
        raise LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub")

    monkeypatch.setattr("thinkprune.records.hf_hub_download", unreachable)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    if not offline:
        with pytest.raises(UserError, match="cannot reach the Hub .* alice/toy-iter3k .* HF_HUB_OFFLINE=1"):
            RoundRecord.find_on_hub("alice/toy-iter3k")
        return
    with caplog.at_level(logging.WARNING, logger="thinkprune.records"):
        assert RoundRecord.find_on_hub("alice/toy-iter3k") is None
    assert "cannot tell whether alice/toy-iter3k is a pushed ThinkPrune round" in caplog.text
