"""How a round names its ancestors wherever others read it: its model card, its Hub repo, a Space that bundles it.

A round's record names its parent, base model and lineage as the trainer gave them, often absolute paths of the
machine that trained it. Anything published names them instead by their Hub id once pushed, else `toy` or the
directory's name: no machine's folders on the Hub, and two records with equal names descend from the same chain.
"""

from dataclasses import replace
from pathlib import Path

from thinkprune.hub import looks_like_hub_id, pushed_repo_id
from thinkprune.records import RoundRecord
from thinkprune.toy import TOY_MODEL_NAME, toy_base_path


def local_dir(name_or_path: str) -> Path | None:
    """The local checkpoint directory a lineage entry names, if it is one (`toy` is the cached toy base)."""
    if name_or_path == TOY_MODEL_NAME:
        return toy_base_path()
    path = Path(name_or_path).expanduser()
    return path if path.is_dir() else None


def hub_id_of(name_or_path: str) -> str | None:
    """The Hub id of a lineage entry: itself when it is one, the id its card records once it has been pushed."""
    if looks_like_hub_id(name_or_path):
        return name_or_path
    path = local_dir(name_or_path)
    return pushed_repo_id(path) if path else None


def display_name(name_or_path: str) -> str:
    """How a published file names a lineage entry: its Hub id, else `toy` or the directory's name."""
    hub_id = hub_id_of(name_or_path)
    if hub_id or name_or_path == TOY_MODEL_NAME:
        return hub_id or name_or_path
    return Path(name_or_path.rstrip("/")).name or name_or_path


def lineage_names(lineage: list[str]) -> list[str]:
    """The ancestors of a round as published; two records with equal names descend from the same chain."""
    return [display_name(entry) for entry in lineage]


def public_recipe(record: RoundRecord) -> dict:
    """The recipe as published: without secrets or their placeholders (transformers writes `<HUB_TOKEN>` for *_token
    fields), its starting model named as the lineage is, its output directory by its name."""
    recipe = {key: value for key, value in record.recipe.items() if not key.endswith("token")}
    if isinstance(recipe.get("model_name_or_path"), str):
        recipe["model_name_or_path"] = display_name(recipe["model_name_or_path"])
    if isinstance(recipe.get("output_dir"), str):
        recipe["output_dir"] = Path(recipe["output_dir"].rstrip("/")).name or recipe["output_dir"]
    return recipe


def published_record(record: RoundRecord) -> RoundRecord:
    """The record as others get it (the Hub, a Space): its ancestors and recipe named as above. The local record
    keeps its paths, where its parent's evaluation is found."""
    return replace(
        record,
        parent=display_name(record.parent),
        base_model=display_name(record.base_model),
        lineage=lineage_names(record.lineage),
        recipe=public_recipe(record),
    )
