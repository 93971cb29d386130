"""A results folder (`--out`): every path a command writes, its lock and its database, in one place.

Every command that writes to a results folder takes its lock through `Workspace.locked`, so two
commands never write the same folder at once; the embedding cache is not in the folder but shared
by all of a user's results folders (see `embedding_cache_path`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.resources import user_cache_dir

if TYPE_CHECKING:
    from fieldnotes.settings import EmbeddingSettings
    from fieldnotes.store import Store

EMBEDDING_CACHE_FILE = "embeddings.sqlite"


@dataclass(frozen=True)
class Workspace:
    """One results folder and the files in it."""

    root: Path

    @classmethod
    def at(cls, out_dir: Path | str) -> Workspace:
        return cls(Path(out_dir))

    @property
    def database(self) -> Path:
        from fieldnotes.store import DB_NAME

        return self.root / DB_NAME

    @property
    def passages_csv(self) -> Path:
        return self.root / "passages.csv"

    @property
    def excerpts_csv(self) -> Path:
        return self.root / "excerpts.csv"

    @property
    def orphans_csv(self) -> Path:
        return self.root / "orphaned_decisions.csv"

    def codebook_files(self, codebook_id: str, first_codebook: str | None) -> tuple[Path, Path]:
        """(excerpts.csv, orphaned_decisions.csv) of a codebook: those names for the folder's first
        codebook, `excerpts.ID.csv` and `orphaned_decisions.ID.csv` for any other coded into the
        same folder (codebooks are namespaced in the database; their files stay apart too)."""
        if first_codebook in (None, codebook_id):
            return self.excerpts_csv, self.orphans_csv
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", codebook_id).strip(".-") or "codebook"
        return self.root / f"excerpts.{slug}.csv", self.root / f"orphaned_decisions.{slug}.csv"

    @property
    def themes_csv(self) -> Path:
        return self.root / "themes.csv"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def conflicts_csv(self) -> Path:
        return self.root / "import-conflicts.csv"

    @property
    def cache(self) -> Path:
        """Fitted state a re-run may reuse (the learned suggester's weights)."""
        return self.root / "cache"

    def table(self, name: str) -> Path:
        """A comparison table of the report (code_by_site.csv, ...)."""
        return self.root / name

    @contextmanager
    def locked(self, command: str) -> Iterator[Workspace]:
        """Hold the results folder's lock for `command` (ResultsBusyError when another holds it)."""
        from fieldnotes.store import results_lock

        with results_lock(self.root, command):
            yield self

    def open_store(self) -> Store:
        """The results database, created or migrated as needed; refused when it is missing while
        the folder holds results, whose decisions a fresh database would silently drop."""
        from fieldnotes.errors import StoreError
        from fieldnotes.store import Store

        if not self.has_database():
            left = [path.name for path in (self.excerpts_csv, self.passages_csv) if path.is_file()]
            if left:
                raise StoreError(
                    f"{self.root}: the results database {self.database.name} is missing but {' and '.join(left)} "
                    "are here (excerpts.csv may hold the last copy of your decisions); restore the database "
                    "from a backup, or move this folder away and run again to start afresh"
                )
        return Store.open(self.database)

    def has_database(self) -> bool:
        return self.database.is_file()

    def require_database(self, error: type[Exception] | None = None, first: str = "code") -> Path:
        """The database, or `error` (a StoreError by default) saying which command makes it."""
        if self.has_database():
            return self.database
        from fieldnotes.errors import StoreError

        raise (error or StoreError)(
            f"{self.root}: no results database; run `fieldnotes {first} CORPUS --out {self.root}` first"
        )


def backup_results(out_dir: Path, target: Path | str) -> Path:
    """`fieldnotes backup`: copy a results folder's database, decisions and all, to one file that
    can be restored by copying it back as OUT/fieldnotes.db. Safe while the review page runs."""
    workspace = Workspace.at(out_dir)
    workspace.require_database()
    folder = str(target).endswith(("/", os.sep)) or Path(target).is_dir()
    target = Path(target) / workspace.database.name if folder else Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.resolve() == workspace.database.resolve():
        from fieldnotes.errors import StoreError

        raise StoreError(f"{target}: that is the database itself; name a file elsewhere")
    with workspace.open_store() as store:
        store.backup(target)
    return target


def embedding_cache_path(settings: EmbeddingSettings) -> Path:
    """The embedding cache every results folder shares: `[embedding] cache_dir` when set, else
    the user cache folder. Vectors are keyed by model and text hash, so one file serves all."""
    folder = Path(settings.cache_dir).expanduser() if settings.cache_dir else user_cache_dir()
    return folder / EMBEDDING_CACHE_FILE
