"""Taguette (taguette.org): codebooks and highlights as its CSV files, both ways.

Taguette 1.5 imports a codebook only as CSV with a `tag` (or `name`, or `path`) column and an
optional `description` column, and exports its codebook (`tag`, `description`, counts) and its
highlights (`id`, `document`, `tag`, `content`) as CSV. It has no REFI-QDA support.

- `write_codebook_csv`: the codebook as Taguette imports it (export format `taguette-codebook`).
- `read_codebook_csv`: Taguette's codebook CSV as a code list for `import-codebook`.
- `import_highlights`: Taguette's highlights CSV as accepted codes (`import-project FILE.csv`). The
  file holds each highlight's text but not its document's text or offsets, so the documents must
  be in the corpus (the files uploaded to Taguette); each highlight is found in its document.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from fieldnotes.codebook import Codebook, LoadedCodebook
from fieldnotes.exchange.archive import ExchangeError, read_bounded_file
from fieldnotes.exchange.data import ExportFormat
from fieldnotes.exchange.refi_read import RefiCode

MAX_CSV_BYTES = 50 * 1024 * 1024
_NAME_COLUMNS = ("tag", "name", "path")


def taguette_tags(book: Codebook) -> list[tuple[str, str]]:
    """(tag, description) per code. Taguette keeps one tag per name, so a name used by two codes
    takes its group's name in front ("Barriers.Other"); Taguette reads '.' as its own nesting."""
    groups = {group.id: group.name for group in book.groups}
    names = [code.name for code in book.codes]
    tags = []
    for code in book.codes:
        tag = code.name
        if names.count(code.name) > 1 and code.parent:
            tag = f"{groups[code.parent]}.{code.name}"
        tags.append((tag, " ".join(code.definition.split())))
    return tags


def write_codebook_csv(book: Codebook, path: Path) -> int:
    from fieldnotes.files import atomic_text

    with atomic_text(path) as handle:
        # Taguette guesses the encoding (chardet), and takes UTF-8 without a byte-order mark for
        # Mac Roman when a line holds few accents: "café" came in as "caf√©". The mark settles it.
        handle.write("\ufeff")
        writer = csv.writer(handle)
        writer.writerow(["tag", "description"])
        writer.writerows(taguette_tags(book))
    return len(book.codes)


export_codebook_csv = ExportFormat(
    lambda request: write_codebook_csv(request.codebook, request.path), codebook_only=True, suffix="csv"
)


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    from fieldnotes.ingest.encoding import decode_text

    text, _ = decode_text(read_bounded_file(path, MAX_CSV_BYTES, "a CSV to import"), path)
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise ExchangeError(f"{path}: not a readable CSV ({exc})") from None
    if not rows:
        raise ExchangeError(f"{path}: the file is empty")
    return [cell.strip().lower() for cell in rows[0]], rows[1:]


def read_codebook_csv(path: Path) -> tuple[str, list[RefiCode]]:
    """(origin, flat code list) of a Taguette codebook CSV; a tag "A.B" nests B under A."""
    header, rows = _read_rows(path)
    found = [name for name in _NAME_COLUMNS if name in header]
    if len(found) != 1:
        raise ExchangeError(
            f"{path}: a codebook CSV needs one column named tag (or name, or path) and may have a "
            f"description column; the header is {', '.join(header) or 'empty'}"
        )
    name_at = header.index(found[0])
    description_at = header.index("description") if "description" in header else None
    tags: dict[str, str] = {}
    for number, row in enumerate(rows, 2):
        if not any(cell.strip() for cell in row):
            continue
        name = row[name_at].strip() if len(row) > name_at else ""
        if not name:
            raise ExchangeError(f"{path}: line {number}: the tag is empty")
        description = row[description_at].strip() if description_at is not None and len(row) > description_at else ""
        tags.setdefault(name, description)  # Taguette keeps the first of a repeated tag
    if not tags:
        raise ExchangeError(f"{path}: no tags in the file")
    return "Taguette", tag_tree(tags)


def tag_tree(tags: dict[str, str]) -> list[RefiCode]:
    """Tags (name -> description) as a code tree: Taguette's "A.B" is B under A when A is a tag."""
    roots: list[RefiCode] = []
    by_path: dict[str, RefiCode] = {}
    for name in sorted(tags, key=lambda tag: (tag.count("."), tag)):
        parent_name, _, own = name.rpartition(".")
        parent = by_path.get(parent_name) if parent_name else None
        node = RefiCode(f"taguette:{name}", own if parent is not None else name, tags[name], True)
        (parent.children if parent is not None else roots).append(node)
        by_path[name] = node
    return roots


def import_highlights(path: Path, corpus: Path, out_dir: Path, settings, loaded: LoadedCodebook, offsets: str = "auto"):
    """Taguette's highlights CSV as accepted codes on the corpus' documents (ingested first)."""
    from fieldnotes.exchange.imports import ProjectImport, locate, match_codes
    from fieldnotes.ingest.run import ingest_corpus
    from fieldnotes.store import Store, database_path

    header, rows = _read_rows(Path(path))
    needed = ("document", "tag", "content")
    if not all(column in header for column in needed):
        hint = (
            " (a codebook CSV: use `fieldnotes import-codebook`)" if "tag" in header and "content" not in header else ""
        )
        raise ExchangeError(
            f"{path}: a Taguette highlights CSV has the columns id, document, tag, content; "
            f"the header is {', '.join(header)}{hint}"
        )
    at = {column: header.index(column) for column in needed}
    result = ProjectImport(Path(path), Path(corpus))
    tags = {row[at["tag"]].strip(): "" for row in rows if len(row) > at["tag"] and row[at["tag"]].strip()}
    matched = match_codes(tag_tree(tags), loaded.codebook)
    ingest_corpus(Path(corpus), Path(out_dir), settings)
    with Store.open(database_path(out_dir)) as store:
        documents = _documents_by_name(store.corpus.document_paths())
        for number, row in enumerate(rows, 2):
            if len(row) <= max(at.values()) or not any(cell.strip() for cell in row):
                continue
            name, tag, content = row[at["document"]].strip(), row[at["tag"]].strip(), row[at["content"]]
            if not tag:
                continue  # a highlight without a tag codes nothing
            result.codings += 1
            code_id = matched.code_of.get(f"taguette:{tag}")
            if code_id is None:
                result.unmatched_codes[tag] += 1
                continue
            relative = _pick(documents, name)
            if relative is None:
                result.unplaced.append(f"line {number}: no document named '{name}' in {corpus}")
                continue
            document = store.corpus.current_document_at(relative)
            span = locate(document.text, content, 0.0) if document else None
            if document is None or span is None:
                result.unplaced.append(f"line {number}: {relative}: '{content[:60]}' not found")
                continue
            added = store.decisions.add_code_over_passages(
                store.corpus.passage_spans(document.document_id),
                span[0],
                span[1],
                code_id,
                loaded.codebook.id,
                "taguette",
                f"imported from {Path(path).name}",
                action="imported",
            )
            result.count(code_id, added)
    return result


def _documents_by_name(paths: list[str]) -> dict[str, list[str]]:
    """Corpus documents under every name Taguette may show for them: the path, the file name and
    the file name without its ending (case-insensitive)."""
    names: dict[str, list[str]] = {}
    for relative in paths:
        file_name = relative.rsplit("/", 1)[-1]
        for key in {relative.lower(), file_name.lower(), file_name.rsplit(".", 1)[0].lower()}:
            names.setdefault(key, []).append(relative)
    return names


def _pick(documents: dict[str, list[str]], name: str) -> str | None:
    found = documents.get(name.lower()) or documents.get(name.rsplit(".", 1)[0].lower()) or []
    return found[0] if len(set(found)) == 1 else None
