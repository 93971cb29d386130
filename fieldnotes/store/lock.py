"""One writing run per results folder: an exclusive lock on OUT/.fieldnotes.lock."""

from __future__ import annotations

import functools
import inspect
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TypeVar

from fieldnotes.errors import StoreError
from fieldnotes.store.base import now, unwritable_folder

T = TypeVar("T")

LOCK_NAME = ".fieldnotes.lock"


class ResultsBusyError(StoreError):
    """Another fieldnotes run is writing to the same results folder."""


_held: dict[Path, list[int]] = {}  # lock file -> [descriptor, depth] held by this process
_held_guard = threading.Lock()


def _take(lock_path: Path) -> int | None:
    """An open descriptor holding the lock file exclusively, or None if another process holds it."""
    import fcntl

    while True:
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:  # the folder was removed by a run that failed before writing
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError as exc:  # a read-only folder or file system, no permission
            raise unwritable_folder(lock_path.parent, exc.strerror or str(exc)) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        try:
            if os.stat(lock_path).st_ino == os.fstat(descriptor).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the file was removed by its last holder meanwhile: take the new one


@contextmanager
def results_lock(out_dir: Path, command: str) -> Iterator[None]:
    """Hold the results folder for one writing run. A second run on the same folder at the same
    time is refused with ResultsBusyError rather than interleaving its writes with this one's.

    Re-entrant within a process (code runs ingest). The operating system drops the lock when the
    process ends, also when it is killed, so a crash never leaves the folder locked.
    """
    out_dir = Path(out_dir)
    try:
        import fcntl  # noqa: F401
    except ImportError:  # Windows: SQLite's own locking still keeps every transaction whole
        yield
        return
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{out_dir}: cannot create the results folder ({exc.strerror or exc})") from None
    lock_path = (out_dir / LOCK_NAME).resolve()
    with _held_guard:
        if lock_path in _held:
            _held[lock_path][1] += 1
            descriptor = None
        else:
            descriptor = _take(lock_path)
            if descriptor is None:
                try:
                    holder = lock_path.read_text(encoding="utf-8").strip() or "a fieldnotes run"
                except OSError:
                    holder = "a fieldnotes run"
                raise ResultsBusyError(
                    f"{out_dir}: {holder} is using this results folder; "
                    "wait until it has finished, or give another --out folder"
                )
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"`fieldnotes {command}` (process {os.getpid()}, since {now()})\n".encode())
            _held[lock_path] = [descriptor, 1]
    try:
        yield
    finally:
        with _held_guard:
            _held[lock_path][1] -= 1
            if _held[lock_path][1] == 0:
                descriptor = _held.pop(lock_path)[0]
                # The lock file goes with the run (a process that opened it meanwhile sees that it
                # was removed and takes the new one, see _take); a run that stopped before writing
                # anything leaves no folder behind either (a bad codebook).
                with suppress(OSError):
                    lock_path.unlink()
                    if created and not any(out_dir.iterdir()):
                        out_dir.rmdir()
                os.close(descriptor)


def holds_results_lock(command: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a function with an `out_dir` parameter to run under results_lock(out_dir)."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def run(*args: object, **kwargs: object) -> T:
            out_dir = signature.bind(*args, **kwargs).arguments["out_dir"]
            with results_lock(Path(out_dir), command):
                return func(*args, **kwargs)

        return run

    return decorate
