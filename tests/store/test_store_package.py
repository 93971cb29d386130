"""The results database's package: its boundaries (no SQL outside it, no stage types inside it),
the embedding cache on a file of its own, and each researcher action one transaction."""

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fieldnotes.errors import StoreError
from fieldnotes.store.embeddings import EmbeddingRepository

PACKAGE = Path(__file__).resolve().parents[2] / "fieldnotes"


def test_no_sql_outside_the_store():
    pattern = re.compile(r"\.execute(many|script)?\(|read_sql|sqlite3\.connect|\"fieldnotes\.db\"")
    offenders = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "store" not in path.relative_to(PACKAGE).parts[:1]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


def test_the_store_imports_no_stage():
    code = "import sys, fieldnotes.store; print(sorted(m for m in sys.modules if m.startswith('fieldnotes.')))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"fieldnotes\.(ingest|coding|review|compare|exchange|themes|pipeline)", loaded), loaded


def test_embedding_cache_on_a_file_of_its_own(tmp_path):
    connection = sqlite3.connect(tmp_path / "cache.db", isolation_level=None)  # no row factory, no other table
    cache = EmbeddingRepository(connection)
    vector = np.arange(4, dtype=np.float32)
    cache.save("model", {"h1": vector})
    again = EmbeddingRepository(connection)
    found = again.load("model", {"h1", "h2"})
    assert list(found) == ["h1"] and np.array_equal(found["h1"], vector)
    assert again.load("other", {"h1"}) == {}


def test_a_failed_span_move_changes_nothing(coded_store):
    store = coded_store
    rota = store.rota
    before = store.connection.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0]
    with pytest.raises(StoreError, match="no suggestion of code 'mutual-help'"):
        store.decisions.adjust_span(
            rota.excerpt_id, "mutual-help", rota.passage_id, rota.start, rota.end - 1, "coproduction", "aiko"
        )
    assert store.connection.execute("SELECT COUNT(*) FROM suggestions").fetchone()[0] == before
    assert store.connection.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 0
