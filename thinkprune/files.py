"""Atomic file writes: a reader, or a crash, never sees half a file. The one place the project writes files."""

import contextlib
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from thinkprune.errors import UserError


def new_file_beside(path: Path) -> Path:
    """A new empty file beside `path` with the mode any new file gets (0644 under umask 022). Not mkstemp's: its
    files are private (0600), and os.replace keeps that, so a group's cluster account, a container of another user or
    a web server could not read the results."""
    while True:
        candidate = path.parent / f".{path.stem}-{secrets.token_hex(4)}{path.suffix}"
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return candidate
        except FileExistsError:
            continue


def new_dir_beside(path: Path) -> Path:
    """A new empty directory beside `path`, to stage it in and `replace_dir` onto it, with the mode any new directory
    gets (0755 under umask 022), not mkdtemp's private 0700."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        candidate = path.parent / f".{path.name}-{secrets.token_hex(4)}"
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` when the block ends without error, removed otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = new_file_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def copy_atomic(source: str | Path, target: str | Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def save_figure_atomic(figure, path: str | Path) -> None:
    """`figure.savefig` through a temporary file (matplotlib picks the format from the suffix, kept here)."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp)


def replace_dir(staging: str | Path, target: str | Path) -> None:
    """Move a fully written `staging` directory to `target` (same filesystem), replacing what was there."""
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)


@contextlib.contextmanager
def exclusive_lock(path: str | Path, held_by_other: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block; the OS releases it if the process dies.

    With `held_by_other`, a lock another process holds is refused at once with that message (a second writer of
    the same files); without it, the block waits for the other process (e.g. another rank building the same cache).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if held_by_other else 0))
        except BlockingIOError as error:
            raise UserError(f"{held_by_other}: wait for it to finish, or choose another output directory") from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
