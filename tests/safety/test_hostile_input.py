"""Hostile and broken files in a corpus: each is refused with a message naming it, or read safely,
and the rest of the corpus is always read. (Reader-level cases of bad files are in test_readers.py.)"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest
from conftest import DATA, make_docx, make_pdf

from fieldnotes.files import safe_cell
from fieldnotes.ingest.readers import read_document
from fieldnotes.pipeline import ingest_corpus

SECRET = "SECRET-FROM-OUTSIDE-THE-CORPUS"
W = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MINI_DOCUMENTS = {
    "articles/three-sites.txt",
    "documents/leaflet.md",
    "nagoya/2024-10-14_han-meeting.md",
    "osaka/clinic-notes.txt",
}


def docx_replacing(template: Path, document_xml: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    """A copy of a real Word file with its body replaced (and extra archive members added)."""
    with zipfile.ZipFile(template) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts["word/document.xml"] = document_xml
    parts.update(extra or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def body(paragraph: bytes, doctype: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + doctype + b"<w:document " + W + b"><w:body>"
        b"<w:p><w:r><w:t>" + paragraph + b"</w:t></w:r></w:p></w:body></w:document>"
    )


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, settings):
    """The mini corpus plus one hostile file of each kind, ingested once."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    bad = corpus / "hostile"
    bad.mkdir()
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET} in Nagoya.\n", encoding="utf-8")
    secret_uri = (outside / "secret.txt").as_uri().encode()

    # PDFs: half a file, a password, a page tree that contains itself.
    whole = make_pdf(root / "whole.pdf", ["Members met in the salon in Osaka."] * 30).read_bytes()
    (bad / "truncated.pdf").write_bytes(whole[: len(whole) // 2])
    make_pdf(bad / "encrypted.pdf", ["Confidential minutes."], user_password="secret")
    (bad / "malformed.pdf").write_bytes(
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[2 0 R 3 0 R]/Count 2>>"
        b"endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 300]/Contents 3 0 R>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )

    # Word: a decompression bomb (20 MB of zeros in 20 kB), a member named to escape an unpacker,
    # external and recursive XML entities.
    template = make_docx(root / "template.docx", [("", "Template paragraph in Nagoya.")])
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * (20 * 1024 * 1024))
    (bad / "bomb.docx").write_bytes(bomb.getvalue())
    traversal = docx_replacing(template, body(b"Traversal text."), {"../../escaped.txt": b"escaped"})
    (bad / "traversal.docx").write_bytes(traversal)
    external = b'<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "' + secret_uri + b'">]>'
    (bad / "xxe.docx").write_bytes(docx_replacing(template, body(b"Members met in Osaka &xxe; today.", external)))
    laughs = b"".join(b'<!ENTITY l%d "%s">' % (i + 1, b"&l%d;" % i * 10) for i in range(9))
    laughs = b'<!DOCTYPE w:document [<!ENTITY l0 "lol">' + laughs + b"]>"
    (bad / "laughs.docx").write_bytes(docx_replacing(template, body(b"Laughs &l9; in Osaka.", laughs)))

    # HTML: an external entity, and 20,000 nested elements.
    (bad / "xxe.html").write_bytes(
        b"<!DOCTYPE html [<!ENTITY xxe SYSTEM '" + secret_uri + b"'>]><html><body>"
        b"<p>Members met in Osaka &xxe; today.</p></body></html>"
    )
    (bad / "deep.html").write_bytes(
        b"<html><body>" + b"<div>" * 20000 + b"<p>Deep text about the Osaka clinic.</p>" + b"</div>" * 20000
    )
    # Markdown nested past markdown-it's limit, which silently drops the rest of the file.
    (bad / "deep.md").write_text(
        "Opening words in Nagoya.\n\n" + "> " * 80 + "Deeply quoted words.\n\nClosing words after the quote.\n",
        encoding="utf-8",
    )
    # Three encodings, control characters, right-to-left and CJK text.
    (bad / "mixed-encodings.txt").write_bytes(
        "Members met in Nagoya.\n\n名古屋の班会議で話し合った。\n\n".encode()
        + "大阪の診療所で看護師が勤務表を作る。\n\n".encode("cp932")
    )
    (bad / "control.txt").write_bytes(
        b"The han met on Monday\x07 and \x1b[1mcooked\x1b[0m lunch together for everyone in the street.\x0b "
        + b"They talked about the clinic and about the visits they plan for the autumn months. " * 3
    )
    (bad / "rtl.md").write_text(
        "# Osaka\n\nשלום עולם. مرحبا بالعالم في أوساكا. Members greeted visitors \u202bفي العيادة\u202c.\n",
        encoding="utf-8",
    )
    (bad / "cjk.txt").write_text(
        "新居浜の医療生協\n\n組合員が班会で健康チェックをした。看護師も参加した！\n", encoding="utf-8"
    )

    # A paragraph over spaCy's million-character limit, and a run of punctuation its tokenizer splits
    # one character at a time (quadratic: 50,000 brackets took minutes).
    (bad / "one-paragraph.txt").write_text("Members of the han met again in Osaka to plan visits. " * 22000)
    (bad / "brackets.txt").write_text("Notes from Osaka " + "(" * 50000 + " end of notes.\n")

    # Links out of the corpus, a link loop and a named pipe.
    os.symlink(outside / "secret.txt", bad / "link-out.txt")
    os.symlink(outside, bad / "linked-folder")
    os.symlink(bad / "loop.txt", bad / "loop.txt")
    os.mkfifo(bad / "pipe.txt")

    started = time.perf_counter()
    report = ingest_corpus(corpus, root / "out", settings)
    seconds = time.perf_counter() - started
    with report.csv_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    messages: dict[str, list[str]] = {}
    for item in [*report.errors, *report.skipped, *report.notes]:
        messages.setdefault(item.path, []).append(item.reason)
    database = sqlite3.connect(report.db_path)
    texts = dict(database.execute("SELECT path, text FROM documents").fetchall())
    database.close()
    return {"report": report, "rows": rows, "messages": messages, "texts": texts, "root": root}, seconds


def message(hostile, name: str) -> str:
    found = hostile[0]["messages"].get(f"hostile/{name}")
    assert found, f"no message names hostile/{name}: {hostile[0]['messages']}"
    return " / ".join(found)


def text_of(hostile, name: str) -> str:
    return hostile[0]["texts"][f"hostile/{name}"]


def test_the_rest_of_the_corpus_is_read(hostile):
    results, _ = hostile
    documents = {row["document"] for row in results["rows"]}
    assert documents >= MINI_DOCUMENTS
    assert results["report"].documents >= len(MINI_DOCUMENTS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.pdf", r"PDF|no extractable text"),
        ("encrypted.pdf", "encrypted PDF that needs a password"),
        ("malformed.pdf", r"not a valid PDF|no extractable text|cannot be read as a PDF"),
        ("bomb.docx", "zip bomb"),
        ("traversal.docx", "archive member '../../escaped.txt' points outside the archive"),
        ("laughs.docx", "not a valid Word file"),
        ("link-out.txt", "symbolic link to a file outside the corpus"),
        ("linked-folder/", "symbolic link to a folder, not followed"),
        ("loop.txt", "symbolic link that leads nowhere"),
        ("pipe.txt", "not a regular file"),
    ],
)
def test_refused_with_a_message_naming_the_file(hostile, name, expected):
    import re

    assert re.search(expected, message(hostile, name))
    assert f"hostile/{name}" not in hostile[0]["texts"]


def test_nothing_from_outside_the_corpus_is_read_or_written(hostile):
    results, _ = hostile
    assert not any(SECRET in text for text in results["texts"].values())
    assert not list(results["root"].rglob("escaped.txt"))


def test_external_entities_are_not_resolved(hostile):
    # The Word and HTML files are read, without the entity's target.
    assert text_of(hostile, "xxe.docx").startswith("Members met in Osaka")
    assert "Members met in Osaka" in text_of(hostile, "xxe.html")


def test_a_200_mb_text_file_is_refused_without_being_read(tmp_path, settings):
    import tracemalloc

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini" / "osaka", corpus)
    ingest_corpus(corpus, tmp_path / "out", settings)  # libraries loaded before memory is measured
    line = b"Members of the han met again to plan the visits of the coming months.\n"
    with (corpus / "huge.txt").open("wb") as handle:
        chunk = line * (1024 * 1024 // len(line) + 1)
        while handle.tell() < 200 * 1024 * 1024:
            handle.write(chunk)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        report = ingest_corpus(corpus, tmp_path / "out", settings)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert {item.path: item.reason for item in report.skipped}["huge.txt"] == "larger than max_file_mb (200 MB > 100)"
    assert report.documents == 1
    assert time.perf_counter() - started < 30 and peak < 50 * 1024 * 1024


def test_deep_nesting_is_read_without_losing_text(hostile):
    assert "Deep text about the Osaka clinic." in text_of(hostile, "deep.html")
    text = text_of(hostile, "deep.md")
    assert "Opening words" in text and "Deeply quoted words." in text and "Closing words after the quote." in text
    assert "nested more than 50 levels deep; read as plain text" in message(hostile, "deep.md")


def test_huge_paragraphs_and_punctuation_runs_are_segmented(hostile):
    results, seconds = hostile
    rows = [row for row in results["rows"] if row["document"] == "hostile/one-paragraph.txt"]
    assert len(rows) > 700 and all(len(row["text"]) <= 1500 for row in rows)
    assert any(row["document"] == "hostile/brackets.txt" for row in results["rows"])
    assert seconds < 60


def test_mixed_encodings_in_one_file_are_each_decoded(hostile):
    text = text_of(hostile, "mixed-encodings.txt")
    assert "名古屋の班会議で話し合った。" in text and "大阪の診療所で看護師が勤務表を作る。" in text


def test_control_characters_are_dropped(hostile):
    text = text_of(hostile, "control.txt")
    assert "cooked" in text and not any(ord(ch) < 32 and ch != "\n" for ch in text)


def test_right_to_left_and_cjk_text_keep_their_offsets(hostile):
    results, _ = hostile
    assert "مرحبا بالعالم في أوساكا." in text_of(hostile, "rtl.md")
    cjk = [row for row in results["rows"] if row["document"] == "hostile/cjk.txt"]
    assert cjk and cjk[0]["site"] == "niihama" and cjk[0]["n_sentences"] == "2"
    for row in results["rows"]:
        text = results["texts"][row["document"]]
        assert safe_cell(text[int(row["start"]) : int(row["end"])]) == row["text"]  # formula guard aside


# --- files that change while the corpus is read ------------------------------------------------


def test_file_growing_past_the_limit_after_listing_is_refused(tmp_path, settings):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    grows = corpus / "grows.txt"
    grows.write_text("A short note about Osaka.\n", encoding="utf-8")
    small = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"max_file_mb": 1})})

    def progress(index: int, total: int, relpath: str) -> None:
        if relpath == "grows.txt":  # listed while small; grows before it is read
            grows.write_bytes(b"More notes about Osaka.\n" * 100_000)
        if relpath == "nagoya/2024-10-14_han-meeting.md":  # listed, then deleted before it is read
            (corpus / relpath).unlink()

    report = ingest_corpus(corpus, tmp_path / "out", small, progress=progress)
    errors = {item.path: item.reason for item in report.errors}
    assert "larger than max_file_mb" in errors["grows.txt"]
    assert "cannot read file" in errors["nagoya/2024-10-14_han-meeting.md"]
    assert report.documents == 3


@pytest.mark.parametrize("suffix", [".docx", ".pdf", ".txt"])
def test_a_file_rewritten_while_it_is_read_is_read_as_one_version(tmp_path, monkeypatch, suffix):
    """The bytes read once are the bytes checked, hashed and parsed: a reader never opens the path again."""
    from fieldnotes.ingest import readers

    def write(path: Path, words: str) -> Path:
        if suffix == ".docx":
            return make_docx(path, [("", words)])
        if suffix == ".pdf":
            return make_pdf(path, [words])
        path.write_text(words + "\n", encoding="utf-8")
        return path

    target = write(tmp_path / f"minutes{suffix}", "Version A of the Nagoya minutes.")
    later = write(tmp_path / f"later{suffix}", "Version B of the Nagoya minutes.").read_bytes()
    fmt, reader = readers.READERS[suffix]

    def saved_over_while_reading(path: Path, data: bytes):
        path.write_bytes(later)  # an editor saves the file between our read and the parse
        return reader(path, data)

    monkeypatch.setitem(readers.READERS, suffix, (fmt, saved_over_while_reading))
    document = read_document(target, f"minutes{suffix}")
    text = " ".join(line for block in document.blocks for line in block.lines)
    assert "Version A" in text and "Version B" not in text


@pytest.mark.skipif(
    os.name == "nt" or os.uname().sysname == "Darwin", reason="needs a file system that keeps raw bytes"
)
def test_a_file_name_that_is_not_utf8_is_skipped_with_a_note(tmp_path, settings):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("The clinic in Niihama runs a salon for older residents.\n", encoding="utf-8")
    with open(os.path.join(os.fsencode(corpus), b"caf\xe9.txt"), "wb") as handle:
        handle.write(b"The han meets in the cafe every Tuesday to check on members living alone.\n")
    report = ingest_corpus(corpus, tmp_path / "out", settings)
    assert report.documents == 1 and report.passages == 1
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("caf\ufffd.txt", "its name is not valid UTF-8 text; rename the file to read it")
    ]


@pytest.mark.parametrize("damage", ["schema", "pages"])
def test_a_damaged_results_database_gets_one_line_and_no_traceback(tmp_path, damage):
    from click.testing import CliRunner

    from fieldnotes.cli import cli

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["ingest", str(corpus), "--out", str(out)]).exit_code == 0
    database = out / "fieldnotes.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    data = bytearray(database.read_bytes())
    start = 4096 if damage == "schema" else len(data) // 2  # the schema page, or table pages
    for i in range(start, len(data) - 16, 997):
        data[i] = 0x5A
    database.write_bytes(bytes(data))
    for args in (["ingest", str(corpus)], ["export", "--format", "csv", "-o", str(tmp_path / "x.csv")]):
        result = CliRunner().invoke(cli, [*args, "--out", str(out)])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "fieldnotes.db" in result.output or "results database" in result.output
        assert len(result.output.strip().splitlines()) <= 2, result.output


def test_a_database_failing_in_the_middle_of_a_command_gets_one_line(tmp_path, monkeypatch):
    """A disk that fills up (or a file damaged where only a later query reads) under a command."""
    import sqlite3

    from click.testing import CliRunner

    from fieldnotes.cli import cli
    from fieldnotes.store.corpus import CorpusRepository

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)

    def full(*args, **kwargs):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(CorpusRepository, "active_passages", full)
    result = CliRunner().invoke(cli, ["ingest", str(corpus), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.output.startswith("Error: the results database cannot be used (database or disk is full)")
    assert len(result.output.strip().splitlines()) == 1
