"""Files that several processes share: written whole or not at all, by one writer at a time.

``write_atomic`` writes a temporary file in the same folder, flushes it to disk and renames it
over the target, so a reader (or a process killed mid-write) sees the old file or the new one,
never half of one. ``lock`` is a ``filelock.FileLock``: an OS lock that two processes cannot
both hold and that the OS releases when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from filelock import FileLock

__all__ = ["lock", "write_atomic"]


def write_atomic(path: Path | str, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, fsynced, then renamed over it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def lock(path: Path | str) -> FileLock:
    """A lock on ``path`` (created on first use) that one thread of one process holds at a time; re-entrant."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), thread_local=False)
