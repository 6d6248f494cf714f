"""Atomic writes: a failed write leaves the previous file as it was and no temporary file behind."""

import pytest

from thinkprune.files import atomic_path, copy_atomic, write_json_atomic, write_text_atomic


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
