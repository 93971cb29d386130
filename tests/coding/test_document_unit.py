"""`[coding] unit = "document"`: each code at most once per document part, on its strongest sentence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner
from test_any_codebook import write_book

from fieldnotes.cli import cli
from fieldnotes.coding.excerpts import document_parts, one_per_document
from fieldnotes.records import Excerpt, Suggestion


def _excerpt(name: str, document: str, site: str, passage: str = "") -> Excerpt:
    return Excerpt(name, passage or f"p-{name}", document, f"{document}.txt", site, 0, 1, name)


def _suggestion(excerpt: str, code: str, score: float) -> Suggestion:
    return Suggestion(excerpt, code, score, "semantic", f"near the definition ({score})", {"score": score})


def test_a_document_is_split_into_parts_where_its_site_changes() -> None:
    excerpts = [
        _excerpt("a1", "A", "Nagoya"),
        _excerpt("a2", "A", "Nagoya"),
        _excerpt("a3", "A", "Osaka"),
        _excerpt("a4", "A", "Nagoya"),
        _excerpt("b1", "B", "Nagoya"),
    ]
    assert document_parts(excerpts) == [0, 0, 1, 2, 3]
    assert document_parts([]) == []


def test_each_code_goes_to_the_strongest_excerpt_of_its_part() -> None:
    excerpts = [_excerpt("a1", "A", "Nagoya"), _excerpt("a2", "A", "Nagoya"), _excerpt("b1", "B", "Osaka")]
    suggestions = [
        _suggestion("a1", "mutual-aid", 0.61),
        _suggestion("a2", "mutual-aid", 0.72),
        _suggestion("a2", "paperwork", 0.55),
        _suggestion("a1", "paperwork", 0.55),  # a tie: the first in the text wins
        _suggestion("b1", "mutual-aid", 0.51),
    ]
    kept = one_per_document(suggestions, excerpts)
    assert [(s.excerpt_id, s.code_id, s.score) for s in kept] == [
        ("a1", "paperwork", 0.55),
        ("a2", "mutual-aid", 0.72),
        ("b1", "mutual-aid", 0.51),
    ]
    by_cell = {(s.excerpt_id, s.code_id): s for s in kept}
    assert by_cell["a2", "mutual-aid"].rationale == (
        "for the whole document (its strongest excerpt; 1 other excerpt(s) of it reach the threshold too): "
        "near the definition (0.72)"
    )
    assert by_cell["a2", "mutual-aid"].components["document_excerpts_at_threshold"] == 2
    assert by_cell["b1", "mutual-aid"].rationale.startswith("for the whole document (its strongest excerpt): ")


def test_a_decided_code_is_not_suggested_again_elsewhere_in_its_part() -> None:
    excerpts = [
        _excerpt("a1", "A", "Nagoya", "pa"),
        _excerpt("a2", "A", "Nagoya", "pa"),
        _excerpt("a3", "A", "Nagoya", "pb"),
        _excerpt("b1", "B", "Nagoya", "pc"),
    ]
    suggestions = [
        _suggestion("a1", "mutual-aid", 0.61),
        _suggestion("a2", "mutual-aid", 0.90),
        _suggestion("a3", "paperwork", 0.70),
        _suggestion("b1", "paperwork", 0.60),
    ]
    decided = [
        ("a1", "pa", "mutual-aid"),  # rejected on a1: the document does not have it
        ("m-hand", "pb", "paperwork"),  # coded by hand on a span of passage pb
    ]
    kept = one_per_document(suggestions, excerpts, decided)
    # a1's own decided suggestion is passed on unchanged (the store keeps it as decided); a2's is
    # dropped; paperwork stays open only in document B.
    assert [(s.excerpt_id, s.code_id, s.rationale) for s in kept] == [
        ("a1", "mutual-aid", "near the definition (0.61)"),
        ("b1", "paperwork", "for the whole document (its strongest excerpt): near the definition (0.6)"),
    ]


def _current(out: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(out / "fieldnotes.db")
    db.row_factory = sqlite3.Row
    rows = db.execute(
        """SELECT s.excerpt_id, s.code_id, s.status, s.rationale, e.document_id FROM suggestions s
           JOIN excerpts e USING (excerpt_id) WHERE e.active = 1 AND s.status IN ('suggested', 'accepted', 'rejected')"""
    ).fetchall()
    db.close()
    return rows


def test_code_with_the_document_unit_suggests_each_code_once_per_document(tmp_path: Path, shared_embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "visits.txt").write_text(
        "Neighbours help each other with the shopping every week.\n\n"
        "Everyone expects the same help one day, and it comes when they are ill.\n\n"
        "The application form for the care allowance runs to twelve pages.\n",
        encoding="utf-8",
    )
    (corpus / "office.txt").write_text(
        "The office asks for three stamps on every application form.\n\n"
        "Volunteers help older members fill in the forms for the allowance.\n",
        encoding="utf-8",
    )
    settings = tmp_path / "settings.toml"
    settings.write_text(
        '[coding]\nunit = "document"\nsuggestions_per_excerpt = 2.0\n[themes]\nenabled = false\n', encoding="utf-8"
    )
    out = tmp_path / "out"
    book = str(write_book(tmp_path))
    args = ["code", str(corpus), "--codebook", book, "--out", str(out), "--settings", str(settings)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "each code is suggested at most once per document" in first.output
    rows = _current(out)
    cells = [(row["document_id"], row["code_id"]) for row in rows]
    # Two codes on every sentence would be asked for at sentence level; once per document here.
    assert sorted(cells) == sorted(set(cells)) and len(set(cells)) == 4, cells
    assert all(row["rationale"].startswith("for the whole document") for row in rows)

    # An edit re-scores the whole edited document (and only it), still once per code.
    visits = corpus / "visits.txt"
    visits.write_text(
        visits.read_text(encoding="utf-8") + "\nFriends help each other and expect help in return one day.\n",
        encoding="utf-8",
    )
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert "4 new excerpts scored" in second.output, second.output
    rows = _current(out)
    cells = [(row["document_id"], row["code_id"]) for row in rows]
    assert sorted(cells) == sorted(set(cells)) and len(set(cells)) == 4, cells

    # A rejected document code is not suggested again on another sentence of that document.
    rejected = next(row for row in rows if row["code_id"] == "mutual-aid")
    from fieldnotes.store import Store

    with Store.open(out / "fieldnotes.db") as store:
        store.decisions.record(rejected["excerpt_id"], "mutual-aid", "rejected", "aiko", "not mutual aid")
    third = CliRunner().invoke(cli, args)
    assert third.exit_code == 0, third.output
    rows = _current(out)
    in_document = [r for r in rows if r["document_id"] == rejected["document_id"] and r["code_id"] == "mutual-aid"]
    assert [(r["excerpt_id"], r["status"]) for r in in_document] == [(rejected["excerpt_id"], "rejected")]
    cells = [(row["document_id"], row["code_id"]) for row in rows]
    assert sorted(cells) == sorted(set(cells)), cells


def test_evaluate_with_the_document_unit_scores_each_gold_text_as_one_document(tmp_path: Path, shared_embedder) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "id,text,codes\n"
        'g1,"Neighbours help each other with the shopping. They expect the same help one day.",mutual-aid\n'
        "g2,The application form for the care allowance runs to twelve pages.,paperwork\n",
        encoding="utf-8",
    )
    settings = tmp_path / "settings.toml"
    settings.write_text('[coding]\nunit = "document"\n', encoding="utf-8")
    book = str(write_book(tmp_path))
    result = CliRunner().invoke(
        cli, ["evaluate", str(gold), "--codebook", book, "--settings", str(settings), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "unit 'document': each gold text is one document" in result.output, result.output
