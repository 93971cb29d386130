"""Taguette both ways: its codebook CSV read by Taguette's own importer, and its codebook and
highlights CSV files brought into fieldnotes."""

from __future__ import annotations

import csv
import io
import os
import shutil

import pytest
import yaml
from click.testing import CliRunner
from conftest import DATA

from fieldnotes.cli import cli
from fieldnotes.codebook import load_codebook
from fieldnotes.store import Store

ROTA = "Nurses plan their own rota on a whiteboard in the staff room."


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def taguette_list_tags():
    """Taguette's own codebook reader (taguette.import_codebook.list_tags), from its PyPI package."""
    try:
        from taguette.import_codebook import list_tags
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("taguette is not installed; CI must check the codebook it imports", pytrace=False)
        pytest.skip("taguette is not installed")
    return list_tags


def test_taguette_imports_every_code_of_the_codebook_with_its_description(tmp_path):
    list_tags = taguette_list_tags()
    path = tmp_path / "codebook.csv"
    result = run("export", "--format", "taguette-codebook", "-o", str(path))
    assert result.exit_code == 0, result.output
    with path.open("rb") as handle:
        tags = list_tags(handle)
    book = load_codebook().codebook
    assert len(tags) == len(book.codes) == 14
    assert {tag["path"]: tag["description"] for tag in tags} == {
        code.name: " ".join(code.definition.split()) for code in book.codes
    }


def test_a_taguette_codebook_export_becomes_a_codebook(tmp_path):
    path = tmp_path / "codebook.csv"
    path.write_text(
        "tag,description,number of highlights,number of documents\n"
        "Mutual help,Members helping one another without pay,3,2\n"
        "Mutual help.Han,Help inside a han group,1,1\n"
        "Weather,,0,0\n",
        encoding="utf-8",
    )
    output = tmp_path / "book.yaml"
    result = run("import-codebook", str(path), "-o", str(output))
    assert result.exit_code == 0, result.output
    book = load_codebook(output).codebook
    assert [(code.id, code.name) for code in book.codes] == [
        ("mutual-help", "Mutual help"),
        ("han", "Han"),
        ("weather", "Weather"),
    ]
    assert book.code("mutual-help").definition == "Members helping one another without pay"
    assert book.code("han").parent == "mutual-help-group"
    assert "Taguette" in book.code("weather").definition  # the placeholder says where it came from
    bad = tmp_path / "bad.csv"
    bad.write_text("label,text\nx,y\n", encoding="utf-8")
    result = run("import-codebook", str(bad))
    assert result.exit_code == 1 and "needs one column named tag" in result.output


def test_taguette_highlights_come_in_as_accepted_codes_on_the_corpus_documents(tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "document", "tag", "content"])
    writer.writerow([1, "clinic-notes", "Staff autonomy and work environment", ROTA])
    writer.writerow([2, "clinic-notes.txt", "Weather", ROTA])
    writer.writerow([3, "elsewhere", "Staff autonomy and work environment", ROTA])
    writer.writerow([4, "clinic-notes", "Staff autonomy and work environment", "words that are not in it"])
    highlights = tmp_path / "highlights.csv"
    highlights.write_text(buffer.getvalue(), encoding="utf-8")
    out = tmp_path / "out"
    result = run("import-project", str(highlights), "--corpus", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "and 1 of 4 codings" in result.output
    assert "Weather (1)" in result.output
    assert "line 4: no document named 'elsewhere'" in result.output
    assert "line 5: osaka/clinic-notes.txt: 'words that are not in it' not found" in result.output
    with Store.open(out / "fieldnotes.db") as store:
        rows = store.connection.execute(
            "SELECT e.text, s.code_id, s.status, s.status_by FROM suggestions s JOIN excerpts e USING (excerpt_id)"
        ).fetchall()
    assert [tuple(row) for row in rows] == [(ROTA, "staff-autonomy", "accepted", "taguette")]
    again = run("import-project", str(highlights), "--corpus", str(corpus), "--out", str(out))
    assert "1 were already in the database" in again.output


def test_a_codebook_csv_given_to_import_project_gets_a_hint(tmp_path):
    path = tmp_path / "codebook.csv"
    path.write_text("tag,description\nMutual help,help\n", encoding="utf-8")
    result = run("import-project", str(path), "--corpus", str(tmp_path), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "use `fieldnotes import-codebook`" in result.output
    assert yaml  # the YAML module is what import-codebook writes with
