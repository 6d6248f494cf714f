"""Atomic writes: a failed write leaves the previous file as it was and no temporary file behind."""

import os
import stat

import pytest

from thinkprune.files import atomic_path, copy_atomic, new_dir_beside, write_json_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "results.json"
    write_json_atomic(target, {"pass@1": 0.5})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n  "pass@1": 0.5\n}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["results.json"]


def test_text_and_copies_land_whole(tmp_path):
    write_text_atomic(tmp_path / "deep" / "card.md", "# card\n")
    copy_atomic(tmp_path / "deep" / "card.md", tmp_path / "copy.md")
    assert (tmp_path / "copy.md").read_text() == "# card\n"


def test_written_files_get_the_umask_mode_not_a_private_one(tmp_path):
    """mkstemp made every results.json, samples.jsonl, round record and card 0600: unreadable by anyone else."""
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "results.json", "{}\n")
        copy_atomic(tmp_path / "results.json", tmp_path / "copy.json")
    finally:
        os.umask(umask)
    for name in ("results.json", "copy.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_staging_directories_get_the_umask_mode_not_a_private_one(tmp_path):
    """mkdtemp made the staged toy checkpoint and Space 0700: renamed into place, unreadable by anyone else."""
    umask = os.umask(0o022)
    try:
        staging = new_dir_beside(tmp_path / "space")
    finally:
        os.umask(umask)
    assert staging.parent == tmp_path and staging.name.startswith(".space-")
    assert stat.S_IMODE(staging.stat().st_mode) == 0o755
