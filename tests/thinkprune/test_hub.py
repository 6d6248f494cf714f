"""Hub naming: the released checkpoints' convention for pruned rounds."""

import pytest

from thinkprune.hub import limit_label, looks_like_hub_id, round_repo_name


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
