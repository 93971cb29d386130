"""Saving only the excerpts that changed, and building only the changed documents' excerpts, leave the
database as saving and building all of them does."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from conftest import DATA

from fieldnotes.coding.current import CurrentExcerpts, current_excerpts, record_built
from fieldnotes.ingest.run import ingest_corpus
from fieldnotes.records import Excerpt
from fieldnotes.settings import Settings
from fieldnotes.store import Store


def _rows(store: Store) -> list[tuple]:
    return store.connection.execute(
        "SELECT excerpt_id, passage_id, start, end, text, text_hash, active, kind, first_run, last_run,"
        " activated_run FROM excerpts ORDER BY excerpt_id"
    ).fetchall()


def test_saving_the_changes_only_equals_saving_every_excerpt(coded_store, tmp_path) -> None:
    whole = coded_store
    copy_path = tmp_path / "copy.db"
    with sqlite3.connect(copy_path) as target:
        whole.connection.backup(target)
    delta = Store.open(copy_path)
    try:
        first = [
            Excerpt(r["excerpt_id"], r["passage_id"], r["document_id"], "", "", r["start"], r["end"], r["text"])
            for r in whole.connection.execute("SELECT * FROM excerpts WHERE active = 1 AND kind = 'sentence'")
        ]
        assert len(first) >= 4
        moved = replace(first[1], start=first[1].start + 1)
        # dropped, moved, back again after a break, everything gone but one, all back
        rounds = [first[2:], [first[0], moved, *first[3:]], first, first[:1], first]
        for run, excerpts in enumerate(rounds, start=10):
            for store in (whole, delta):
                store.connection.execute(
                    "INSERT INTO runs (run_id, command, started_at) VALUES (?, 'code', '2026-12-02')", (run,)
                )
            whole.coding.save_excerpts(run, excerpts)
            delta.coding.save_excerpts(run, excerpts, delta.coding.active_sentence_excerpts())
            assert _rows(delta) == _rows(whole), run
    finally:
        delta.close()


def _build_run(out: Path, settings: Settings, everything: bool = False) -> CurrentExcerpts:
    """One run's excerpts, built by `current_excerpts` and recorded as a coding run does."""
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", "corpus", "", "{}", {})
        now = current_excerpts(store, settings, run_id, everything=everything)
        record_built(store, settings, now, run_id)
        now.store = None  # type: ignore[assignment]  # closed: what the test compares is the data
        return now


def _state(out: Path) -> tuple[list[tuple], list[tuple]]:
    with Store.open(out / "fieldnotes.db") as store:
        changes = store.connection.execute("SELECT stage, subject, digest FROM freshness ORDER BY stage").fetchall()
        return _rows(store), [tuple(row) for row in changes]


def test_building_the_changed_documents_only_gives_what_a_full_build_gives(tmp_path, settings) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    (corpus / "documents" / "reading.md").write_text(
        "# References\n\nTanaka, H. (2019). Care and the han. Tokyo: Iwanami, pp. 1-20.\n\n"
        "Sato, K. (2021). Health cooperatives in Japan. Journal of Care, 4(2), 33-51.\n",
        encoding="utf-8",
    )
    (corpus / "documents" / "han-ja.txt").write_text(
        "班会では組合員が健康チェックを行いました。\n\n見守りのボランティアが地域を回っています。\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    ingest_corpus(corpus, out, settings)
    first = _build_run(out, settings)
    assert first.complete and first.references and first.japanese

    note = corpus / "osaka" / "clinic-notes.txt"
    edits = [
        lambda: note.write_text(note.read_text(encoding="utf-8") + "\nThe nurses and members cooked together.\n"),
        lambda: (corpus / "documents" / "leaflet.md").unlink(),
        lambda: (corpus / "documents" / "han-ja.txt").write_text("班長が集まり、配食の当番を決めました。\n"),
        lambda: (corpus / "documents" / "reading.md").unlink(),
        lambda: None,  # nothing changed
    ]
    for round_, edit in enumerate(edits):
        edit()
        ingest_corpus(corpus, out, settings)
        whole = tmp_path / f"whole-{round_}"
        whole.mkdir()
        with sqlite3.connect(out / "fieldnotes.db") as source, sqlite3.connect(whole / "fieldnotes.db") as target:
            source.backup(target)
        part = _build_run(out, settings)
        full = _build_run(whole, settings, everything=True)
        assert not part.complete and full.complete, round_
        assert len(part.built) < len(full.built), round_  # only the changed documents were built
        assert {e.excerpt_id for e in part.built} <= set(full.spans), round_
        for name in ("spans", "stored", "japanese", "references", "digest", "listed"):
            assert getattr(part, name) == getattr(full, name), (round_, name)
        assert _state(out) == _state(whole), round_
    assert not part.built  # the last round changed nothing: nothing was built


def test_other_excerpt_settings_build_every_document_again(tmp_path, settings) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    ingest_corpus(corpus, out, settings)
    _build_run(out, settings)
    assert not _build_run(out, settings).complete
    longer = settings.model_copy(
        update={
            "coding": settings.coding.model_copy(update={"min_excerpt_chars": settings.coding.min_excerpt_chars + 30})
        }
    )
    again = _build_run(out, longer)
    assert again.complete and again.built and again.spans != again.stored
