"""Writing result files so that a crash never leaves half a file behind."""

from __future__ import annotations

import csv
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Write to a temporary file beside `path` and move it into place only when complete."""
    path = Path(path)
    # A name of its own ("x": created, never shared): two runs writing one file each replace it whole.
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping]) -> int:
    """A CSV with a header, atomically; returns the number of rows."""
    count = 0
    with atomic_text(path) as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[column] for column in columns])
            count += 1
    return count
