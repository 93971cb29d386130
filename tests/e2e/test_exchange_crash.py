"""`fieldnotes import-decisions` killed (SIGKILL) at a random moment: the sheet's decisions are
in the database all together or not at all, earlier decisions are untouched, and the
database passes SQLite's integrity check. A second import then completes."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA

from fieldnotes.codebook import load_codebook
from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.records import Suggestion
from fieldnotes.store import Store

KILLS = 6
CLI = "from fieldnotes.cli import main; main()"


@pytest.fixture(scope="module")
def reviewed_sheet(tmp_path_factory, settings) -> tuple[Path, Path, int]:
    """(results database, a filled review sheet, how many decisions the sheet makes)."""
    from openpyxl import load_workbook

    from fieldnotes.exchange.data import collect
    from fieldnotes.exchange.tables import write_xlsx

    root = tmp_path_factory.mktemp("kill-import")
    out = root / "out"
    ingest_corpus(DATA / "mini", out, settings)
    book = load_codebook().codebook
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", "", "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 40)
        store.coding.save_excerpts(run_id, excerpts)
        store.coding.save_suggestions(
            run_id,
            book.id,
            [Suggestion(e.excerpt_id, code, 0.5, "rules", "t", {}) for e in excerpts for code in book.code_ids],
        )
        first = excerpts[0].excerpt_id
        store.decisions.record(first, book.code_ids[0], "accepted", "earlier", memo="before the import")
        write_xlsx(collect(store, book, "suggested", {}), root / "sheet.xlsx")
    workbook = load_workbook(root / "sheet.xlsx")
    sheet = workbook["Excerpts"]
    header = [cell.value for cell in sheet[1]]
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row, header.index("decision") + 1).value = "accept" if row % 2 else "reject"
    workbook.save(root / "sheet.xlsx")
    return out / "fieldnotes.db", root / "sheet.xlsx", sheet.max_row - 1


@pytest.mark.parametrize("seed", range(KILLS))
def test_sigkill_during_import_decisions_is_all_or_nothing(reviewed_sheet, tmp_path, seed):
    source_db, sheet, decided = reviewed_sheet
    out = tmp_path / "out"
    out.mkdir()
    database = out / "fieldnotes.db"
    with sqlite3.connect(source_db) as source, sqlite3.connect(database) as target:
        source.backup(target)
    generator = random.Random(seed)
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "import-decisions", str(sheet), "--out", str(out), "--coder", "kill"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    # From start-up to the end of the write: anywhere in between, or after it finished.
    time.sleep(0.3 + generator.random() * 3.0)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)

    db = sqlite3.connect(database)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    applied = db.execute("SELECT COUNT(*) FROM decisions WHERE coder = 'kill'").fetchone()[0]
    assert applied in (0, decided)
    earlier = db.execute("SELECT status, status_by, memo FROM suggestions WHERE status_by = 'earlier'").fetchall()
    assert earlier == [("accepted", "earlier", "before the import")]
    db.close()

    again = subprocess.run(
        [sys.executable, "-c", CLI, "import-decisions", str(sheet), "--out", str(out), "--coder", "kill"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    db = sqlite3.connect(database)
    assert db.execute("SELECT COUNT(*) FROM decisions WHERE coder = 'kill'").fetchone()[0] == decided
    db.close()
