"""The command line end to end: exit codes, messages, written data, re-runs, bad input."""

import csv
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import make_pdf

from fieldnotes.cli import cli
from fieldnotes.files import safe_cell
from fieldnotes.records import PASSAGE_COLUMNS
from fieldnotes.store import SCHEMA_VERSION


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_ingest_writes_database_and_csv(mini_corpus, tmp_path):
    out = tmp_path / "out"
    result = run("ingest", mini_corpus, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Read 4 documents (md 2, txt 2)" in result.output
    rows = read_csv(out / "passages.csv")
    assert tuple(rows[0]) == PASSAGE_COLUMNS
    sites = {row["document"]: row["site"] for row in rows}
    assert sites["nagoya/2024-10-14_han-meeting.md"] == "nagoya"
    assert sites["osaka/clinic-notes.txt"] == "osaka"
    assert sites["documents/leaflet.md"] == "niihama"
    db = sqlite3.connect(out / "fieldnotes.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT COUNT(*) FROM passages WHERE active = 1").fetchone()[0] == len(rows)
    text = dict(db.execute("SELECT path, text FROM documents").fetchall())
    for row in rows:
        # The text quotes the document exactly, but for the apostrophe that keeps a spreadsheet
        # from running a cell as a formula (a list item "- ..." gets one).
        assert safe_cell(text[row["document"]][int(row["start"]) : int(row["end"])]) == row["text"]
    (run_row,) = db.execute("SELECT command, settings_hash, versions_json, finished_at FROM runs").fetchall()
    assert run_row[0] == "ingest" and run_row[1] and '"spacy"' in run_row[2] and run_row[3]
    # Every package whose version can change an output is recorded, the models' too.
    recorded = json.loads(run_row[2])
    for name in ("torch", "sentence-transformers", "bertopic", "scikit-learn", "trafilatura"):
        assert recorded[name] != "absent", name


def test_rerun_reuses_unchanged_documents_and_keeps_ids(mini_corpus, tmp_path):
    out = tmp_path / "out"
    run("ingest", mini_corpus, "--out", out)
    first = read_csv(out / "passages.csv")
    result = run("ingest", mini_corpus, "--out", out)
    assert "4 unchanged since the last run" in result.output
    assert read_csv(out / "passages.csv") == first


def test_edited_document_keeps_unchanged_passages_and_old_rows(mini_corpus, tmp_path):
    out = tmp_path / "out"
    run("ingest", mini_corpus, "--out", out)
    before = {row["passage_id"]: row for row in read_csv(out / "passages.csv")}
    note = mini_corpus / "osaka" / "clinic-notes.txt"
    note.write_text(note.read_text().replace("and a clerk", "and two clerks"), encoding="utf-8")
    result = run("ingest", mini_corpus, "--out", out)
    assert "3 unchanged" in result.output
    after = {row["passage_id"]: row for row in read_csv(out / "passages.csv")}
    changed = set(before) - set(after)
    assert len(changed) == 1 and "a clerk" in before[changed.pop()]["text"]
    db = sqlite3.connect(out / "fieldnotes.db")
    assert db.execute("SELECT COUNT(*) FROM passages WHERE active = 0").fetchone()[0] == 1


def test_bad_files_are_reported_and_the_rest_is_read(mini_corpus, tmp_path):
    (mini_corpus / "empty.txt").write_bytes(b"")
    (mini_corpus / "garbled.md").write_bytes(bytes(range(128, 256)) * 20)
    (mini_corpus / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    (mini_corpus / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (mini_corpus / "locked.pdf").write_bytes(make_pdf(tmp_path / "l.pdf", ["Secret."], user_password="pw").read_bytes())
    (mini_corpus / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    (mini_corpus / ".hidden.md").write_text("hidden", encoding="utf-8")
    out = tmp_path / "out"
    result = run("ingest", mini_corpus, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Could not read 5 file(s):" in result.output
    assert "  garbled.md: " in result.output
    assert "  empty.txt: empty file (0 bytes)" in result.output
    assert "  image.txt: looks like a binary file" in result.output
    assert "  broken.pdf: " in result.output
    assert "  locked.pdf: encrypted PDF that needs a password" in result.output
    assert "  photo.jpg: unsupported format '.jpg'" in result.output
    assert "  .hidden.md: hidden or temporary file" in result.output
    assert "Read 4 documents" in result.output
    strict = run("ingest", mini_corpus, "--out", out, "--strict")
    assert strict.exit_code == 1 and "5 file(s) could not be read (--strict)" in strict.output


def test_a_document_gone_bad_keeps_its_last_good_version(mini_corpus, tmp_path):
    out = tmp_path / "out"
    run("ingest", mini_corpus, "--out", out)
    before = read_csv(out / "passages.csv")
    (mini_corpus / "osaka" / "clinic-notes.txt").write_bytes(bytes(range(256)) * 4)
    result = run("ingest", mini_corpus, "--out", out)
    assert "osaka/clinic-notes.txt: kept the version read in an earlier run" in result.output
    assert read_csv(out / "passages.csv") == before


def test_a_removed_document_is_reported_and_kept_in_the_database(mini_corpus, tmp_path):
    out = tmp_path / "out"
    run("ingest", mini_corpus, "--out", out)
    (mini_corpus / "osaka" / "clinic-notes.txt").unlink()
    result = run("ingest", mini_corpus, "--out", out)
    assert "1 document(s) no longer in the corpus (kept in the database):" in result.output
    assert all(row["document"] != "osaka/clinic-notes.txt" for row in read_csv(out / "passages.csv"))
    db = sqlite3.connect(out / "fieldnotes.db")
    assert db.execute("SELECT status FROM documents WHERE path = 'osaka/clinic-notes.txt'").fetchone()[0] == "missing"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "nowhere", "no such file or folder"),
        (lambda root: root, "no documents to read"),
    ],
)
def test_missing_or_empty_corpus_fails_with_a_message(tmp_path, make, message):
    corpus = make(tmp_path / "c")
    (tmp_path / "c").mkdir()
    result = run("ingest", corpus, "--out", tmp_path / "out")
    assert result.exit_code == 1 and message in result.output


def test_a_corpus_whose_only_document_is_skipped_names_it_and_why(tmp_path):
    import os

    corpus = tmp_path / "c"
    corpus.mkdir()
    with open(os.path.join(os.fsencode(corpus), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"Nagoya. The volunteers visited homes.\n")
    result = run("ingest", corpus, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "no documents to read" in result.output
    assert "skipped caf\ufffd.txt: its name is not valid UTF-8 text; rename the file to read it" in result.output


def test_nothing_readable_exits_non_zero_and_keeps_the_database(mini_corpus, tmp_path):
    out = tmp_path / "out"
    run("ingest", mini_corpus, "--out", out)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.txt").write_bytes(b"")
    result = run("ingest", bad, "--out", out)
    assert result.exit_code == 1 and "no document could be read" in result.output
    db = sqlite3.connect(out / "fieldnotes.db")
    assert db.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == 4


def test_invalid_settings_stop_before_any_work(mini_corpus, tmp_path):
    bad = tmp_path / "s.toml"
    bad.write_text("[segment]\nmax_passage_chars = 10\n", encoding="utf-8")
    result = run("ingest", mini_corpus, "--out", tmp_path / "out", "--settings", bad)
    assert result.exit_code == 1
    assert f"{bad}:2: key 'segment.max_passage_chars'" in result.output
    assert not (tmp_path / "out").exists()


def test_settings_commands(tmp_path):
    copy = tmp_path / "mine.toml"
    assert run("settings", "init", copy).exit_code == 0
    assert run("settings", "init", copy).exit_code == 1
    checked = run("settings", "check", copy)
    assert checked.exit_code == 0 and "valid (sites: nagoya, osaka, niihama" in checked.output
    assert "[[site]]" in run("settings", "show").output


def test_manifest_errors_name_the_line(mini_corpus, tmp_path):
    (mini_corpus / "manifest.csv").write_text("path,site\nosaka/clinic-notes.txt,osaka\n,nagoya\n", encoding="utf-8")
    result = run("ingest", mini_corpus, "--out", tmp_path / "out")
    assert result.exit_code == 1 and "manifest.csv:3: empty 'path'" in result.output


def test_every_command_has_help():
    def walk(group, prefix):
        for name, command in group.commands.items():
            assert command.help, f"{prefix} {name} has no help"
            result = run(*prefix, name, "--help")
            assert result.exit_code == 0 and "Usage:" in result.output
            if hasattr(command, "commands"):
                walk(command, [*prefix, name])

    walk(cli, [])


def test_help_imports_no_heavy_library():
    code = "import sys; from fieldnotes.cli import cli; heavy = {'spacy', 'torch', 'pdfminer', 'docx', 'wordfreq', 'pydantic'}; print(sorted(heavy & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_code_says_each_stage_as_it_starts_and_quiet_says_nothing(tmp_path, shared_embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("Nurses plan their own rota together every Monday morning.\n", encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text("[themes]\nenabled = false\n", encoding="utf-8")
    args = ["code", str(corpus), "--out", str(tmp_path / "out"), "--settings", str(settings)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    stages = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    assert stages == [f"reading {corpus} ...", "coding the excerpts of 1 passages with 'coproduction' ...",
                      "comparing the sites ..."]  # fmt: skip
    quiet = CliRunner().invoke(cli, [*args, "-q"])
    assert quiet.exit_code == 0 and not [line for line in quiet.stderr.splitlines() if line.startswith("[")]


def test_a_folder_with_nothing_to_read_names_what_it_holds_and_leaves_no_results(tmp_path):
    corpus = tmp_path / "slides"
    corpus.mkdir()
    (corpus / "talk.pptx").write_bytes(b"x")
    (corpus / "photo.jpg").write_bytes(b"y")
    out = tmp_path / "out"
    result = run("ingest", corpus, "--out", out)
    assert result.exit_code != 0
    assert "2 files of other kinds (photo.jpg, talk.pptx)" in result.output
    assert not out.exists()  # no database, no lock file


def test_a_failed_export_leaves_no_exports_folder(tmp_path):
    out = tmp_path / "nothing"
    result = run("export", "--format", "csv", "--out", out)
    assert result.exit_code != 0 and "no results database" in result.output
    assert not (out / "exports").exists()


def test_a_long_coding_run_says_how_far_it_is_and_about_how_long_is_left(tmp_path, shared_embedder, monkeypatch):
    """Between chunks of excerpts the run prints its count and the time left at its pace so far
    (chunks are 8,192 excerpts; three here, so that a small corpus shows it)."""
    from fieldnotes.coding import stage

    monkeypatch.setattr(stage, "SCORE_CHUNK", 3)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sentences = " ".join(f"The han met on day {n} and talked about the visits to neighbours." for n in range(8))
    (corpus / "note.txt").write_text(sentences + "\n", encoding="utf-8")
    settings = tmp_path / "settings.toml"
    settings.write_text("[themes]\nenabled = false\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["code", str(corpus), "--out", str(tmp_path / "out"), "--settings", str(settings)])
    assert result.exit_code == 0, result.output
    lines = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if line.startswith("[")]
    progress = [line for line in lines if line.startswith("scored ")]
    assert progress and progress[0].startswith("scored 3 of 8 excerpts, about ") and progress[0].endswith(" left ...")
