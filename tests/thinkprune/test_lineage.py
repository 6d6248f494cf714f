"""How published files (card, pushed record, Space bundle) name a round's ancestors: never by this machine's paths."""

from thinkprune.lineage import display_name, lineage_names, public_recipe, published_record
from thinkprune.records import RoundRecord


def test_ancestors_are_named_by_hub_id_once_pushed_else_by_folder(tmp_path):
    pushed, local = tmp_path / "outputs" / "r1", tmp_path / "outputs" / "r2"
    pushed.mkdir(parents=True)
    local.mkdir()
    (pushed / "README.md").write_text("---\nthinkprune:\n  repo_id: alice/toy-thinkprune-90\n---\n")
    assert display_name(str(pushed)) == "alice/toy-thinkprune-90"
    assert display_name(f"{local}/") == "r2"
    hub_id = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert display_name("toy") == "toy" and display_name(hub_id) == hub_id
    assert lineage_names(["toy", str(pushed), str(local)]) == ["toy", "alice/toy-thinkprune-90", "r2"]


def test_a_published_record_holds_no_local_path_nor_token_field(tmp_path):
    parent = tmp_path / "outputs" / "r1"
    parent.mkdir(parents=True)
    recipe = {
        "model_name_or_path": str(parent),
        "output_dir": str(tmp_path / "outputs" / "r2"),
        "hub_token": "<HUB_TOKEN>",
        "learning_rate": 1e-6,
    }
    record = RoundRecord(2, 3000, str(parent), "toy", ["toy", str(parent)], "2026-01-01T00:00:00+00:00", recipe=recipe)
    published = published_record(record)
    assert str(tmp_path) not in str(published.to_dict())
    assert (
        published.recipe
        == public_recipe(record)
        == {"model_name_or_path": "r1", "output_dir": "r2", "learning_rate": 1e-6}
    )
    assert (published.parent, published.lineage, published.token_limit) == ("r1", ["toy", "r1"], 3000)
    assert record.parent == str(parent)  # the local record is left as it is
