"""A results folder keeps its decisions: never rebuilt from nothing over the CSV files that hold them,
never read as part of the corpus, never listing orphans that are not."""

from __future__ import annotations

import os
import shutil
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import DATA

from fieldnotes.cli import cli
from fieldnotes.errors import CorpusError, StoreError
from fieldnotes.pipeline import code_corpus, ingest_corpus
from fieldnotes.store import Store


@pytest.fixture
def quick(settings):
    return settings.model_copy(update={"themes": settings.themes.model_copy(update={"enabled": False})})


def test_an_emptied_database_is_refused_and_the_csv_files_are_left_alone(tmp_path, quick, mini_corpus, shared_embedder):
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    excerpts = (out / "excerpts.csv").read_bytes()
    (out / "fieldnotes.db").write_bytes(b"")  # a failed copy or a `>` typo
    for wal in out.glob("fieldnotes.db-*"):
        wal.unlink()
    with pytest.raises(StoreError, match=r"the results database is empty \(0 bytes\); restore it from a backup"):
        code_corpus(mini_corpus, out, quick)
    assert (out / "excerpts.csv").read_bytes() == excerpts and (out / "fieldnotes.db").stat().st_size == 0
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "--out", str(out)])
    assert result.exit_code == 1 and "is empty (0 bytes)" in result.output


def test_a_missing_database_beside_results_is_refused(tmp_path, quick, mini_corpus, shared_embedder):
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    for database in out.glob("fieldnotes.db*"):
        database.unlink()
    excerpts = (out / "excerpts.csv").read_bytes()
    with pytest.raises(StoreError, match=r"is missing but excerpts\.csv and passages\.csv are here"):
        code_corpus(mini_corpus, out, quick)
    assert (out / "excerpts.csv").read_bytes() == excerpts and not (out / "fieldnotes.db").exists()


def test_another_programs_database_is_refused(tmp_path, settings):
    out = tmp_path / "out"
    out.mkdir()
    with sqlite3.connect(out / "fieldnotes.db") as foreign:
        foreign.execute("CREATE TABLE invoices (id INTEGER)")
    foreign.close()
    before = (out / "fieldnotes.db").read_bytes()
    with pytest.raises(StoreError, match="not a fieldnotes results database"):
        ingest_corpus(DATA / "mini", out, settings)
    # Refused without a byte changed (not even switched to WAL) and nothing left beside it.
    assert (out / "fieldnotes.db").read_bytes() == before
    assert sorted(path.name for path in out.iterdir()) == ["fieldnotes.db"]
    with sqlite3.connect(out / "fieldnotes.db") as foreign:
        tables = [row[0] for row in foreign.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert tables == ["invoices"]


def test_a_results_folder_inside_the_corpus_is_not_read(tmp_path, settings, mini_corpus, monkeypatch):
    monkeypatch.chdir(mini_corpus)
    first = ingest_corpus(mini_corpus, mini_corpus / "outputs", settings)
    (mini_corpus / "outputs" / "report.html").write_text("<html><p>Nagoya Osaka Niihama report</p></html>")
    again = ingest_corpus(mini_corpus, mini_corpus / "outputs", settings)
    assert again.passages == first.passages and again.documents == first.documents
    assert ("outputs/", "the results folder (--out), not read") in [(s.path, s.reason) for s in again.skipped]
    with pytest.raises(CorpusError, match="is the corpus folder itself"):
        ingest_corpus(mini_corpus, mini_corpus, settings)


def test_orphaned_decisions_csv_goes_when_no_decision_is_orphaned(tmp_path, quick, mini_corpus, shared_embedder):
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    with Store.open(out / "fieldnotes.db") as store:
        row = store.connection.execute("SELECT excerpt_id, code_id FROM suggestions LIMIT 1").fetchone()
        store.decisions.record(row["excerpt_id"], row["code_id"], "accepted", "aiko")
        text = store.connection.execute(
            "SELECT text FROM excerpts WHERE excerpt_id = ?", (row["excerpt_id"],)
        ).fetchone()[0]
    moved = tmp_path / "aside"
    shutil.copytree(mini_corpus, moved)
    for path in mini_corpus.rglob("*"):
        if path.is_file() and text in path.read_text(encoding="utf-8", errors="ignore"):
            path.write_text(
                path.read_text(encoding="utf-8").replace(text, "Something else entirely."), encoding="utf-8"
            )
    assert code_corpus(mini_corpus, out, quick).orphaned == 1 and (out / "orphaned_decisions.csv").is_file()
    shutil.rmtree(mini_corpus)
    shutil.copytree(moved, mini_corpus)
    assert code_corpus(mini_corpus, out, quick).orphaned == 0
    assert not (out / "orphaned_decisions.csv").exists()
    assert os.path.isfile(out / "excerpts.csv")


def test_backup_holds_every_decision_and_restores(tmp_path, quick, mini_corpus, shared_embedder):
    out = tmp_path / "out"
    code_corpus(mini_corpus, out, quick)
    with Store.open(out / "fieldnotes.db") as store:
        rows = store.connection.execute("SELECT excerpt_id, code_id FROM suggestions ORDER BY 1, 2 LIMIT 3").fetchall()
        for row in rows:
            store.decisions.record(row["excerpt_id"], row["code_id"], "accepted", "aiko", memo="kept")
        # The review page's connection is still open: the decisions may be in the WAL file only.
        result = CliRunner().invoke(cli, ["backup", f"{tmp_path / 'backups'}/", "--out", str(out)])
    assert result.exit_code == 0, result.output
    copy = tmp_path / "backups" / "fieldnotes.db"
    assert f"to {copy}" in result.output and not list((tmp_path / "backups").glob(".*partial"))
    restored = tmp_path / "restored"
    restored.mkdir()
    shutil.copy(copy, restored / "fieldnotes.db")
    with Store.open(restored / "fieldnotes.db") as store:
        kept = store.connection.execute("SELECT count(*) FROM suggestions WHERE status = 'accepted' AND memo = 'kept'")
        assert kept.fetchone()[0] == 3
    refused = CliRunner().invoke(cli, ["backup", str(out / "fieldnotes.db"), "--out", str(out)])
    assert refused.exit_code == 1 and "that is the database itself" in refused.output
    missing = CliRunner().invoke(cli, ["backup", str(tmp_path / "x.db"), "--out", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no results database" in missing.output


def test_one_file_read_alone_leaves_the_rest_of_the_corpus_and_its_decisions(
    tmp_path, quick, mini_corpus, shared_embedder
):
    out = tmp_path / "out"
    full = code_corpus(mini_corpus, out, quick)
    with Store.open(out / "fieldnotes.db") as store:
        row = store.connection.execute(
            "SELECT s.excerpt_id, s.code_id FROM suggestions s JOIN excerpts e USING (excerpt_id) "
            "JOIN passages p USING (passage_id) JOIN documents d ON d.document_id = p.document_id "
            "WHERE d.path != 'osaka/clinic-notes.txt' LIMIT 1"
        ).fetchone()
        store.decisions.record(row["excerpt_id"], row["code_id"], "accepted", "aiko")
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    note.write_text(note.read_text(encoding="utf-8") + "\nThe han now runs a walking group on Saturdays.\n")
    alone = code_corpus(note, out, quick)
    assert alone.ingest.partial.startswith("read osaka/clinic-notes.txt alone; the other 3 document(s)")
    assert alone.ingest.missing == [] and alone.withdrawn == 0 and alone.orphaned == 0
    assert alone.excerpts == full.excerpts + 1
    with Store.open(out / "fieldnotes.db") as store:
        statuses = dict(store.connection.execute("SELECT path, status FROM documents").fetchall())
        decided = store.connection.execute(
            "SELECT status FROM suggestions WHERE excerpt_id = ? AND code_id = ?", (row["excerpt_id"], row["code_id"])
        ).fetchone()[0]
    assert set(statuses) == {"articles/three-sites.txt", "osaka/clinic-notes.txt", "nagoya/2024-10-14_han-meeting.md",
                             "documents/leaflet.md"}  # fmt: skip
    assert "missing" not in statuses.values() and decided == "accepted"
    again = code_corpus(mini_corpus, out, quick)
    assert again.orphaned == 0 and again.ingest.missing == [] and again.ingest.partial == ""
