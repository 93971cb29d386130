"""Files written by document (fieldnotes.document_csv): after any change they are the same bytes
as writing them whole, they make rows only for the documents that changed, and a file that is
not the one recorded is written whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.codebook import load_codebook
from fieldnotes.coding.stage import write_excerpts_csv
from fieldnotes.document_csv import write_by_document
from fieldnotes.files import write_csv
from fieldnotes.records import EXCERPT_COLUMNS, PASSAGE_COLUMNS, Suggestion
from fieldnotes.store import Store
from fieldnotes.workspace import Workspace


def whole_passages(store: Store, path: Path) -> bytes:
    """passages.csv as the plain writer makes it from every row: the oracle."""
    write_csv(path, PASSAGE_COLUMNS, store.corpus.active_passages())
    return path.read_bytes()


def whole_excerpts(store: Store, path: Path) -> bytes:
    names = {code.id: code.name for code in load_codebook("coproduction").codebook.codes}
    rows = [{**row, "code_name": names[row["code"]]} for row in store.reads.coded_excerpts("coproduction")]
    write_csv(path, EXCERPT_COLUMNS, rows)
    return path.read_bytes()


def ingest(corpus: Path, out: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", str(corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output


def test_passages_csv_equals_the_whole_file_after_edits_additions_renames_and_removals(mini_corpus, tmp_path):
    out = tmp_path / "out"
    ingest(mini_corpus, out)
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    han = mini_corpus / "nagoya" / "2024-10-14_han-meeting.md"
    changes = [
        lambda: note.write_text(note.read_text().replace("and a clerk", "and two clerks"), encoding="utf-8"),
        lambda: (mini_corpus / "osaka" / "2024-11-02_visit.txt").write_text(
            "A new visit to the clinic.\n\nThe nurse spoke with the han leader about the rota.\n", encoding="utf-8"
        ),
        lambda: han.rename(mini_corpus / "nagoya" / "2024-10-15_han-meeting.md"),
        lambda: (mini_corpus / "documents" / "leaflet.md").unlink(),
        lambda: None,  # nothing changed: the file stays as it is
    ]
    for step, change in enumerate(changes):
        change()
        ingest(mini_corpus, out)
        with Store.open(out / "fieldnotes.db") as store:
            assert (out / "passages.csv").read_bytes() == whole_passages(store, tmp_path / f"whole-{step}.csv"), step


def test_only_the_changed_documents_rows_are_made_again(mini_corpus, tmp_path):
    out = tmp_path / "out"
    ingest(mini_corpus, out)
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    note.write_text(note.read_text().replace("and a clerk", "and two clerks"), encoding="utf-8")
    ingest(mini_corpus, out)  # records the layout after this change
    note.write_text(note.read_text().replace("two clerks", "three clerks"), encoding="utf-8")
    ingest(mini_corpus, out)
    with Store.open(out / "fieldnotes.db") as store:
        asked: list[object] = []

        def rows(documents):
            asked.append(None if documents is None else sorted(documents))
            return store.corpus.active_passages(documents)

        note_id = store.connection.execute(
            "SELECT document_id FROM documents WHERE path = 'osaka/clinic-notes.txt'"
        ).fetchone()[0]
        # Nothing changed since the ingest wrote the file: not a row is made.
        write_by_document(store, out / "passages.csv", PASSAGE_COLUMNS, rows)
        assert asked == []
        store.connection.execute("UPDATE passages SET site = 'nagoya' WHERE document_id = ?", (note_id,))
        write_by_document(store, out / "passages.csv", PASSAGE_COLUMNS, rows)
        assert asked == [[note_id]]
        assert (out / "passages.csv").read_bytes() == whole_passages(store, tmp_path / "whole.csv")


@pytest.mark.parametrize("tamper", ["edited", "deleted", "truncated"])
def test_a_file_that_is_not_the_recorded_one_is_written_whole(mini_corpus, tmp_path, tamper):
    out = tmp_path / "out"
    ingest(mini_corpus, out)
    path = out / "passages.csv"
    if tamper == "edited":
        path.write_text(path.read_text(encoding="utf-8") + "a researcher's note\n", encoding="utf-8")
    elif tamper == "deleted":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    ingest(mini_corpus, out)
    with Store.open(out / "fieldnotes.db") as store:
        assert path.read_bytes() == whole_passages(store, tmp_path / "whole.csv")


def test_excerpts_csv_follows_decisions_memos_and_new_suggestions(coded_store, tmp_path):
    out = Path(coded_store.path).parent
    workspace = Workspace.at(out)
    loaded = load_codebook("coproduction")
    path = write_excerpts_csv(coded_store, loaded, workspace)
    assert path.read_bytes() == whole_excerpts(coded_store, tmp_path / "whole-0.csv")
    rota = coded_store.rota  # type: ignore[attr-defined]
    steps = [
        lambda: coded_store.decisions.record(rota.excerpt_id, "staff-autonomy", "accepted", "aiko"),
        lambda: coded_store.decisions.set_memo(rota.excerpt_id, "volunteering", "ask about the rota", "aiko"),
        lambda: coded_store.coding.save_suggestions(
            coded_store.runs.begin("code", "", "", "{}", {}),
            "coproduction",
            [Suggestion(other["excerpt_id"], "mutual-help", 0.7, "semantic", "new", {})],
        ),
    ]
    other = next(
        row
        for row in coded_store.connection.execute("SELECT excerpt_id, document_id FROM excerpts WHERE active = 1")
        if row["document_id"] != rota.document_id
    )
    shows = ["accepted,aiko", "ask about the rota", "mutual-help,Mutual help"]
    for step, (change, shown) in enumerate(zip(steps, shows, strict=True), start=1):
        change()
        write_excerpts_csv(coded_store, loaded, workspace)
        assert path.read_bytes() == whole_excerpts(coded_store, tmp_path / f"whole-{step}.csv"), step
        assert shown in path.read_text(encoding="utf-8"), step


def test_touching_rows_without_changing_what_files_show_stamps_no_document(coded_store):
    clock = coded_store.changes.clock()
    run_id = coded_store.runs.begin("code", "", "", "{}", {})
    coded_store.coding.touch_excerpts(run_id)
    coded_store.corpus.touch_documents(
        run_id, [row[0] for row in coded_store.connection.execute("SELECT document_id FROM documents")]
    )
    same = [
        Suggestion(row["excerpt_id"], row["code_id"], row["score"], row["suggested_by"], row["rationale"], {})
        for row in coded_store.connection.execute("SELECT * FROM suggestions")
    ]
    coded_store.coding.save_suggestions(run_id, "coproduction", same)
    assert coded_store.changes.documents_changed_since(clock) == set()
    coded_store.connection.execute("UPDATE suggestions SET score = score / 2")
    assert coded_store.changes.documents_changed_since(clock) == {coded_store.rota.document_id}  # type: ignore[attr-defined]


def test_a_results_folder_of_the_last_schema_gets_the_change_log_and_writes_whole_once(mini_corpus, tmp_path):
    out = tmp_path / "out"
    ingest(mini_corpus, out)
    shutil.copy(out / "passages.csv", tmp_path / "first.csv")
    with Store.open(out / "fieldnotes.db") as store:
        store.connection.execute("DELETE FROM freshness WHERE stage = 'file'")  # as before the layouts existed
    ingest(mini_corpus, out)
    assert (out / "passages.csv").read_bytes() == (tmp_path / "first.csv").read_bytes()
