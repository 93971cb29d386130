"""A codebook brought from elsewhere: definitions only is enough to start, and nothing borrowed is silent."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import DATA

from fieldnotes.cli import cli
from fieldnotes.codebook import load_codebook
from fieldnotes.coding.calibration import borrowed_calibration_note, find_calibration, reference_warnings
from fieldnotes.coding.gold import load_gold
from fieldnotes.coding.suggest import Calibration
from fieldnotes.errors import StoreError

DEFINITIONS_ONLY = """\
id: brought
name: A codebook from another project
version: "1"
codes:
  - id: mutual-aid
    name: Mutual aid
    definition: People help each other with everyday needs, expecting help in return some day.
  - id: paperwork
    name: Paperwork
    definition: Forms, applications and administrative procedures that people must complete.
"""


def write_book(tmp_path: Path) -> Path:
    path = tmp_path / "brought.yaml"
    path.write_text(DEFINITIONS_ONLY, encoding="utf-8")
    return path


def test_a_definitions_only_codebook_passes_codebook_check(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["codebook", "check", str(write_book(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "valid; A codebook from another project 1: 2 codes in 0 groups, 0 examples, 0 patterns" in result.output


def test_another_codebooks_calibration_is_never_used(tmp_path: Path) -> None:
    loaded = load_codebook(write_book(tmp_path))
    assert find_calibration(loaded) is None  # scored label-free, not with the co-production weights
    shipped = load_codebook("coproduction", check_patterns=False)
    own = find_calibration(shipped)
    assert own is not None and borrowed_calibration_note(shipped, Calibration.load(own), own) is None
    # A calibration file copied beside another codebook is used, and said to be foreign.
    copied = tmp_path / "brought.calibration.json"
    copied.write_bytes(own.read_bytes())
    assert find_calibration(loaded) == copied
    note = borrowed_calibration_note(loaded, Calibration.load(copied), copied)
    assert note is not None and "fitted on codebook 'coproduction'" in note and "fieldnotes calibrate" in note


def test_a_small_reference_set_is_flagged() -> None:
    mini = load_codebook(DATA / "codebooks" / "mini.yaml", check_patterns=False)
    gold = load_gold(DATA / "codebooks" / "mini-reference.csv", mini.codebook.code_ids)
    warnings = reference_warnings(gold, mini.codebook.code_ids)
    assert any(f"has {len(gold.texts)} labelled excerpts" in w and "unreliable" in w for w in warnings)
    assert any("fewer than 5 positive excerpts" in w for w in warnings)


def test_calibrate_prints_the_small_reference_warning(tmp_path: Path, shared_embedder) -> None:
    import shutil

    for name in ("mini.yaml", "mini-reference.csv"):
        shutil.copy(DATA / "codebooks" / name, tmp_path / name)
    result = CliRunner().invoke(
        cli, ["calibrate", "--codebook", str(tmp_path / "mini.yaml"), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "warning: mini-reference.csv has 10 labelled excerpts" in result.output
    assert (tmp_path / "mini.calibration.json").is_file()


def test_evaluate_runs_on_a_codebook_without_a_reference_set(tmp_path: Path, shared_embedder) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "id,text,codes\n"
        "g1,Neighbours help each other with shopping and expect the same help one day.,mutual-aid\n"
        "g2,The application form for the care allowance runs to twelve pages.,paperwork\n"
        "g3,We took the train back at five.,\n"
        'g4,"We took the train back at five, after the meeting. The application form for the allowance runs to '
        'twelve pages.",paperwork\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        cli, ["evaluate", str(gold), "--codebook", str(write_book(tmp_path)), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    assert "gold.csv: 4 excerpts" in result.output and "micro" in result.output
    # Scored at the unit `code` suggests for: the two-sentence text is two excerpts.
    assert "4 gold texts cut into 5 excerpts as `fieldnotes code` cuts passages" in result.output
    assert "no reference set: no zero-shot baseline" in result.output
    assert "'brought' has no calibration of its own: suggestions are a label-free ranking" in result.output


def test_code_with_a_definitions_only_codebook_suggests_and_says_how(tmp_path: Path, shared_embedder) -> None:
    import csv

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text(
        "Neighbours help each other with the shopping, and everyone expects the same help one day.\n\n"
        "The application form for the care allowance runs to twelve pages and needs three stamps.\n\n"
        "We took the train back at five and had noodles near the station.\n\n"
        "An older couple next door carry water for the widow upstairs; she minds their grandchild.\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["code", str(corpus), "--codebook", str(write_book(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "label-free ranking" in result.output
    with (out / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_code: dict[str, list[str]] = {}
    for row in rows:
        by_code.setdefault(row["code"], []).append(row["text"])
    # About half a suggestion per excerpt, and the paperwork sentence gets paperwork.
    assert 1 <= len(rows) <= 4
    assert any("application form" in text for text in by_code.get("paperwork", []))


def test_a_bad_code_in_a_gold_file_is_reported_before_any_model_loads(tmp_path: Path) -> None:
    import subprocess
    import sys

    gold = tmp_path / "gold.csv"
    gold.write_text("id,text,codes\ng1,Some text here.,no-such-code\n", encoding="utf-8")
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from fieldnotes.cli import cli\n"
        f"result = CliRunner().invoke(cli, ['evaluate', {str(gold)!r}, '--out', {str(tmp_path / 'out')!r}])\n"
        "assert result.exit_code == 1, result.output\n"
        "assert \"gold.csv:2: code 'no-such-code' is not in the codebook\" in result.output, result.output\n"
        "assert 'sentence_transformers' not in sys.modules and 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_passage_unit_codes_whole_paragraphs(tmp_path: Path, shared_embedder) -> None:
    import csv

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    paragraph = "Neighbours help each other with the shopping. Everyone expects the same help one day, and it comes."
    (corpus / "notes.txt").write_text(
        f"{paragraph}\n\nThe application form for the allowance runs to twelve pages. It needs three stamps.\n",
        encoding="utf-8",
    )
    settings = tmp_path / "settings.toml"
    settings.write_text('[coding]\nunit = "passage"\n[themes]\nenabled = false\n', encoding="utf-8")
    out = tmp_path / "out"
    book = str(write_book(tmp_path))
    result = CliRunner().invoke(
        cli, ["code", str(corpus), "--codebook", book, "--out", str(out), "--settings", str(settings)]
    )
    assert result.exit_code == 0, result.output
    assert "Coded 2 excerpts" in result.output
    with (out / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        texts = {row["text"] for row in csv.DictReader(handle)}
    assert texts and texts <= {
        paragraph,
        "The application form for the allowance runs to twelve pages. It needs three stamps.",
    }


def test_two_codebooks_on_one_results_folder_keep_their_suggestions_and_decisions_apart(
    tmp_path: Path, shared_embedder
) -> None:
    import sqlite3

    from fieldnotes.store import Store

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text(
        "Neighbours help each other with the shopping, and everyone expects the same help one day.\n\n"
        "The application form for the care allowance runs to twelve pages and needs three stamps.\n",
        encoding="utf-8",
    )
    settings = tmp_path / "settings.toml"
    settings.write_text("[themes]\nenabled = false\n[coding]\nsuggestions_per_excerpt = 2.0\n", encoding="utf-8")
    # The brought codebook shares a code id with the shipped one: 'mutual-help'.
    book = tmp_path / "brought.yaml"
    book.write_text(DEFINITIONS_ONLY.replace("id: mutual-aid", "id: mutual-help"), encoding="utf-8")
    out = tmp_path / "out"
    common = ["--out", str(out), "--settings", str(settings)]
    first = CliRunner().invoke(cli, ["code", str(corpus), "--codebook", str(book), *common])
    assert first.exit_code == 0, first.output
    with Store.open(out / "fieldnotes.db") as store:
        brought = {(r["excerpt_id"], r["code_id"]): r["status"] for r in store.reads.current_suggestions("brought")}
        assert "mutual-help" in {code for _, code in brought}, brought
        excerpt = next(e for e, code in brought if code == "mutual-help")
        store.decisions.record(excerpt, "mutual-help", "rejected", "alice", "not in this project's sense")
    before = (out / "excerpts.csv").read_bytes()

    second = CliRunner().invoke(cli, ["code", str(corpus), *common])  # the shipped co-production codebook
    assert second.exit_code == 0, second.output
    assert "also holds the suggestions of codebook 'brought' (1 reviewed): kept apart and unchanged" in second.output
    # The first codebook's file is left alone; the second gets its own.
    assert (out / "excerpts.csv").read_bytes() == before
    assert (out / "excerpts.coproduction.csv").is_file()
    db = sqlite3.connect(out / "fieldnotes.db")
    rows = dict(
        db.execute(
            "SELECT codebook_id, status FROM suggestions WHERE excerpt_id = ? AND code_id = 'mutual-help'", (excerpt,)
        )
    )
    assert rows["brought"] == "rejected"
    # A decision in one codebook never touches the other's suggestion of the same code id.
    with Store.open(out / "fieldnotes.db") as store:
        store.decisions.record(excerpt, "mutual-help", "accepted", "bob", codebook_id="coproduction")
        assert store.decisions.undo_last("alice", "coproduction") is None
        assert store.coding.status(excerpt, "mutual-help", "brought") == "rejected"
        assert store.coding.status(excerpt, "mutual-help", "coproduction") == "accepted"
        audit = {(row["coder"], row["codebook_id"]) for row in store.decisions.history(excerpt)}
        assert {("alice", "brought"), ("bob", "coproduction")} <= audit
        # Without a codebook, a decision on a code id both codebooks hold is refused, not guessed.
        with pytest.raises(StoreError, match="in codebooks brought, coproduction; name the codebook"):
            store.decisions.record(excerpt, "mutual-help", "rejected", "carol")
    third = CliRunner().invoke(cli, ["code", str(corpus), "--codebook", str(book), *common])
    assert third.exit_code == 0, third.output
    assert dict(
        db.execute(
            "SELECT codebook_id, status FROM suggestions WHERE excerpt_id = ? AND code_id = 'mutual-help'", (excerpt,)
        )
    ) == {"brought": "rejected", "coproduction": "accepted"}
