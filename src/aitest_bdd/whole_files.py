"""Files that the run writes (outputs, recordings): checked before the run starts, and written whole or not at all."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class UnwritablePath(Exception):
    """An output path that cannot be written; the message says why."""


def prepare_path(path: Path) -> None:
    """Make the folders `path` needs and check that a file can be written there, before the run pays for a model.

    Raises `UnwritablePath` for a directory, a parent that is a file, or a folder that cannot be written in.
    A full disk only shows when the file is written.
    """
    if path.is_dir():
        raise UnwritablePath("is a directory; give a file name")
    if _written_in_place(path):
        if not os.access(path, os.W_OK):
            raise UnwritablePath("cannot be written")
        return
    folder = path.parent
    try:
        blocker = next(parent for parent in (folder, *folder.parents) if parent.exists())
        if not blocker.is_dir():
            raise UnwritablePath(f"{blocker} is a file, not a folder")
        folder.mkdir(parents=True, exist_ok=True)
        descriptor, probe = _new_file_beside(path)
        os.close(descriptor)
        probe.unlink()
    except OSError as error:
        raise UnwritablePath(f"cannot write in the folder {folder}: {error.strerror or error}") from None


def write_file(path: Path, text: str) -> None:
    """Write `text` to `path` whole: into a new file in the same folder, renamed over `path` once complete.

    Anything but a plain file (a device, a pipe, a link such as /dev/stdout) is written in place.
    """
    if _written_in_place(path):
        path.write_text(text, encoding="utf-8")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = _new_file_beside(path)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _written_in_place(path: Path) -> bool:
    """True for a path that is there but is not a plain file or folder: a device, a pipe, a symbolic link."""
    return path.is_symlink() or (path.exists() and not path.is_file() and not path.is_dir())


def _new_file_beside(path: Path) -> tuple[int, Path]:
    """A new hidden file in `path`'s folder, open for writing, with the permissions a new `path` would get."""
    temporary = path.with_name(f".aitest-{uuid.uuid4().hex[:12]}.tmp")  # short: `path`'s own name may be at the limit
    return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
