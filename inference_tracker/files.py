"""File primitives: replace a file whole or not at all, and a bounded exclusive lock.

A kill -9 at any moment leaves either the old or the new file, never a torn one. The lock is
an flock on a lock file (released by the kernel when its holder dies), waited for at most a
given time, with a callback when the wait begins so the caller can say it is waiting.

filelock (installed with huggingface_hub) was considered: it has no hook for "the wait
begins", its waits cannot be injected in tests, and version 4 adds behaviours we do not want
here (a soft-lock fallback, per-thread reentrancy); these 30 lines do exactly what is needed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from inference_tracker.errors import LockBusy, StoreError


def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write `path` whole or not at all: temp file beside it, fsync, rename, fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StoreError(f"cannot write {path}: {strerror(exc)}") from None


def probe_folder(folder: Path) -> None:
    """Prove the folder takes a file: create, write, fsync and remove a probe file."""
    probe = folder / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"probe")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot write a file in {folder.absolute()}: {strerror(exc)}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def why_blocked(folder: Path) -> str | None:
    """What stands in the way of `folder` for every user: a file where a folder should be, a
    broken link; None when nothing does."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            return f"{existing} is a broken link"
        existing = existing.parent
    return None if existing.is_dir() else f"{existing} is not a folder"


def why_unusable(folder: Path) -> str | None:
    """Why files could not be written in `folder` (or the folder made) by this user, without
    writing anything; None when nothing stands in the way that can be seen from outside."""
    blocked = why_blocked(folder)
    if blocked is not None:
        return blocked
    existing = next(path for path in (folder, *folder.parents) if path.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    try:
        stats = os.statvfs(existing)
    except OSError:
        return None
    return f"{existing}: no space left on device" if stats.f_bavail == 0 else None


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def strerror(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied" if exc.errno != errno.EROFS else "read-only file system"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def file_lock(
    path: Path,
    timeout: float,
    on_wait: Callable[[], object] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """An exclusive flock on `path`, waiting at most `timeout` seconds for it."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open lock file {path}: {strerror(exc)}") from None
    try:
        waited = 0.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited == 0.0:
                    on_wait()
                if waited >= timeout:
                    raise LockBusy(
                        f"another tracker run holds {path}; gave up after {timeout:g} s"
                    ) from None
                sleep(0.05)
                waited += 0.05
        yield
    finally:
        os.close(fd)  # closing releases the lock
