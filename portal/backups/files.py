"""Private files and folders for backups: secrets go in them, so nobody else may read them.

A backup is made in a hidden sibling folder and renamed into place when complete, so a folder
under the name asked for is always a whole backup, never half of one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class BackupError(Exception):
    """A backup or restore refused or failed; the message says why and what to do."""


def others_may_read(path: Path) -> bool:
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))


def destination_check(dest: Path) -> None:
    """A backup goes to a new folder, or to an empty one only its owner may open."""
    if not dest.exists():
        if not dest.parent.is_dir():
            raise BackupError(f"{dest.parent} does not exist")
        return
    if not dest.is_dir():
        raise BackupError(f"{dest} exists and is not a folder")
    if any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: name a new folder")
    if others_may_read(dest):
        mode = stat.filemode(dest.stat().st_mode)
        raise BackupError(
            f"{dest} may be opened by others ({mode}) and a backup holds MLHub's secrets: "
            f"chmod 700 it, or name a new folder (made readable by you alone)"
        )


@contextmanager
def private_folder_for(dest: Path) -> Iterator[Path]:
    """A private folder beside ``dest`` to write the backup in; renamed to ``dest`` when the
    block ends without error, removed when it fails."""
    partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))  # 0700
    try:
        yield partial
        if dest.exists():
            dest.rmdir()  # empty and private (destination_check)
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def private_file(path: Path) -> Path:
    """Make ``path``'s folders (owner only) and the file itself, empty, owner read-write."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    return path


def private_copy(source: Path, target: Path) -> None:
    shutil.copyfile(source, private_file(target))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
