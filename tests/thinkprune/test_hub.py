"""Hub naming: the released checkpoints' convention for pruned rounds."""

import httpx2
import pytest
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import hf_raise_for_status

from thinkprune.hub import explain, limit_label, looks_like_hub_id, round_repo_name


@pytest.mark.parametrize(("limit", "label"), [(4000, "4k"), (3000, "3k"), (2000, "2k"), (90, "90"), (2500, "2500")])
def test_limit_labels(limit, label):
    assert limit_label(limit) == label


def test_round_repo_names_follow_the_released_convention():
    base = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert round_repo_name(base, 4000, chained=False) == "DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-4k"
    assert round_repo_name(base, 2000, chained=True) == "DeepSeek-R1-Distill-Qwen-1.5B-thinkprune-iter2k"
    assert round_repo_name("toy", 90, chained=False) == "toy-thinkprune-90"
    assert round_repo_name("weird name!", 90, chained=False) == "weird-name-thinkprune-90"


def test_hub_ids_are_owner_slash_name_and_not_local_directories(tmp_path, monkeypatch):
    assert looks_like_hub_id("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B")
    assert not looks_like_hub_id("toy") and not looks_like_hub_id("../x/y") and not looks_like_hub_id("/abs/path")
    (tmp_path / "outputs" / "round1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not looks_like_hub_id("outputs/round1")


def hub_error(status: int, headers: dict | None = None) -> HfHubHTTPError:
    """The error huggingface_hub raises for a Hub answer of `status`."""
    request = httpx2.Request("POST", "https://huggingface.co/api/models/alice/toy-thinkprune-90/commit/main")
    response = httpx2.Response(status, headers=headers, request=request)
    with pytest.raises(HfHubHTTPError) as raised:
        hf_raise_for_status(response)
    return raised.value


def test_a_rate_limit_says_how_long_to_wait_not_to_check_the_connection():
    limited = hub_error(429, {"RateLimit": '"api";r=0;t=120', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'})
    message = explain(limited, "alice/toy-thinkprune-90", token="")
    assert "rate-limited" in message and "wait 120 s" in message and "connection" not in message
    assert "is unchanged" in message


def test_a_hub_outage_names_the_hub_not_the_connection():
    message = explain(hub_error(503), "alice/toy-thinkprune-90", token="")
    assert "the Hub failed" in message and "HTTP 503" in message and "connection" not in message
