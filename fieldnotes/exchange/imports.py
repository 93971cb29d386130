"""Codebooks and projects made in other QDA tools, brought into fieldnotes.

`import_codebook` turns a REFI-QDA code tree into fieldnotes' YAML: parents with children
become groups (nested as deep as the tree), leaves become codes. Ids are made from the
names (lower case, words joined by '-'); a name used twice under different parents gets
its parent's id in front. Every code gets its description as definition (or a marked
placeholder) and its name as a keyword pattern, so the file is valid at once and ready
to be completed with definitions, include/exclude rules and examples.

`import_project` writes each text source of a .qdpx as a UTF-8 file into the corpus,
ingests the corpus, and records every coded selection as a researcher's accepted code
(a hand-marked excerpt) on the passages that hold its text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from fieldnotes.codebook import CODE_ID, Codebook, LoadedCodebook
from fieldnotes.exchange.archive import ExchangeError
from fieldnotes.exchange.refi_read import RefiCode, read_codebook, read_project, utf16_to_codepoints

_NOT_ID = re.compile(r"[^a-z0-9]+")


def slug(name: str) -> str:
    """A fieldnotes id from a code name: 'CS as Programming' -> 'cs-as-programming';
    a Japanese name by its reading: '見守り活動' -> 'mi-mamori-katsudou'."""
    from fieldnotes.text import KANA_KANJI

    if KANA_KANJI.search(name):
        from fieldnotes.romaji import romanize

        name = romanize(name)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    value = _NOT_ID.sub("-", ascii_name.lower()).strip("-")
    if not value:
        value = "code"
    if not value[0].isalpha():
        value = f"code-{value}"
    return value


@dataclass
class CodebookImport:
    source: Path
    output: Path | None
    yaml_text: str
    groups: int
    codes: int
    placeholders: list[str]  # codes without a description of their own
    renamed: dict[str, str]  # code name -> id where the plain slug was taken
    code_sets: list[str] = field(default_factory=list)  # sets of codes in the file, not imported


def fieldnotes_data(description: str) -> tuple[str, dict | None]:
    """A description without fieldnotes' marked data block, and the block's values (None when
    there is none, or it does not read as the object fieldnotes wrote)."""
    import json

    from fieldnotes.exchange.refi import DATA_BLOCK_END, DATA_BLOCK_START

    start = description.find(DATA_BLOCK_START)
    end = description.find(DATA_BLOCK_END, start)
    if start < 0 or end < 0:
        return description.strip(), None
    try:
        values = json.loads(description[start + len(DATA_BLOCK_START) : end])
    except ValueError:
        return description.strip(), None
    text = (description[:start] + description[end + len(DATA_BLOCK_END) :]).strip()
    return text, values if isinstance(values, dict) else None


def _placeholder(name: str, origin: str) -> str:
    return f"{name}. Imported from {origin or 'a REFI-QDA file'} without a description: write what this code means."


def codebook_from_tree(tree: list[RefiCode], book_id: str, name: str, origin: str) -> tuple[dict, CodebookImport]:
    """The YAML mapping for a code tree, and what was made of it."""
    groups: list[dict] = []
    codes: list[dict] = []
    taken: set[str] = set()
    placeholders: list[str] = []
    renamed: dict[str, str] = {}

    def unique(node_name: str, parent: str | None, wanted: str | None = None) -> str:
        # An id fieldnotes wrote into the description is kept when it is free.
        if wanted and wanted not in taken and CODE_ID.match(wanted):
            taken.add(wanted)
            return wanted
        base = slug(node_name)
        prefix = parent.removesuffix("-group") if parent else None  # a codable parent's group: its code's id
        candidate = base if base not in taken else (f"{prefix}-{base}" if prefix else base)
        number = 2
        while candidate in taken:
            candidate = f"{base}-{number}"
            number += 1
        taken.add(candidate)
        if candidate != base:
            renamed[node_name] = candidate
        return candidate

    def add_code(node: RefiCode, node_id: str, parent: str | None, kept: dict | None) -> None:
        if kept and not kept.get("group"):
            # Written by fieldnotes: the code comes back as it was (id, rules, examples, patterns).
            code: dict[str, object] = {"id": node_id, "name": node.name, **({"parent": parent} if parent else {})}
            code.update({key: value for key, value in kept.items() if key not in ("id", "name", "parent")})
            codes.append(code)
            return
        definition = " ".join(node.description.split())
        if len(definition) < 10:
            placeholders.append(node_id)
            definition = _placeholder(node.name, origin)
        phrase = " ".join(re.sub(r"[_\-/]+", " ", node.name).split()).lower()
        code = {"id": node_id, "name": node.name}
        if parent:
            code["parent"] = parent
        code["definition"] = definition
        code["examples"] = []
        code["patterns"] = [phrase or node_id.replace("-", " ")]
        codes.append(code)

    def visit(node: RefiCode, parent: str | None) -> None:
        description, kept = fieldnotes_data(node.description)
        if not node.children and not (kept and kept.get("group")):
            add_code(node, unique(node.name, parent, kept.get("id") if kept else None), parent, kept)
            return
        # A codable parent (NVivo's nodes all are) carries codings of its own: it becomes a code
        # with the plain id, inside a group of the same name that holds it and its children.
        code_id = unique(node.name, parent) if node.codable and not kept else None
        group_id = unique(f"{node.name} group" if code_id else node.name, parent, kept.get("id") if kept else None)
        group = {"id": group_id, "name": node.name}
        if parent:
            group["parent"] = parent
        if description:
            group["description"] = description
        groups.append(group)
        if code_id:
            add_code(node, code_id, group_id, kept)
        for item in node.children:
            visit(item, group_id)

    for root in tree:
        visit(root, None)
    if not codes:
        raise ExchangeError("the file has no codes to import")
    data = {
        "id": book_id,
        "name": name,
        "version": "1",
        "description": f"Imported from {origin or 'a REFI-QDA file'} by fieldnotes import-codebook.",
        "groups": groups,
        "codes": codes,
    }
    report = CodebookImport(Path(), None, "", len(groups), len(codes), placeholders, renamed)
    return data, report


def import_codebook(path: Path, output: Path | None = None) -> CodebookImport:
    """Read the code tree of a .qdc or .qdpx file and write (or return) fieldnotes YAML."""
    import yaml

    path = Path(path)
    if path.suffix.lower() not in (".qdc", ".qdpx", ".csv"):
        raise ExchangeError(
            f"{path}: expected a REFI-QDA codebook (.qdc) or project (.qdpx), or a Taguette codebook (.csv)"
        )
    code_sets: list[str] = []
    if path.suffix.lower() == ".csv":
        from fieldnotes.exchange.taguette import read_codebook_csv

        origin, tree = read_codebook_csv(path)
    elif path.suffix.lower() == ".qdpx":
        project = read_project(path, with_sources=False)
        origin, tree = project.origin, project.codes
        code_sets = [f"{name} ({codes} codes)" for name, codes, _ in project.sets if codes]
    else:
        origin, tree = read_codebook(path)
    try:
        data, report = codebook_from_tree(tree, slug(path.stem), path.stem.replace("_", " "), origin)
    except ExchangeError as exc:
        raise ExchangeError(f"{path}: {exc}") from None
    # The result must be a codebook fieldnotes accepts as it is.
    Codebook.model_validate(data)
    header = (
        f"# Imported by `fieldnotes import-codebook` from {path.name}"
        + (f" ({origin})" if origin else "")
        + ".\n# Complete each code: a definition of what it means, include/exclude rules, examples\n"
        "# (sentences that get the code) and counter_examples; see codebooks/coproduction.yaml.\n"
        "# Check with: fieldnotes codebook check THIS_FILE.yaml\n"
    )
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    report.source, report.output, report.yaml_text = path, output, text
    report.code_sets = code_sets
    if output is not None:
        from fieldnotes.files import atomic_text

        output.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text(output) as handle:
            handle.write(text)
    return report


# --- projects -----------------------------------------------------------------------------


@dataclass
class ProjectImport:
    source: Path
    corpus_folder: Path
    documents: list[str] = field(default_factory=list)  # written into the corpus
    codings: int = 0  # selections x codes in the file
    imported: int = 0  # codings recorded as accepted codes
    passage_codes: int = 0  # rows recorded: a coding across several passages codes each of them
    suggested: int = 0  # fieldnotes' own unreviewed suggestions, recorded as suggestions again
    already: int = 0  # the same code on the same span was already there
    by_code: Counter[str] = field(default_factory=Counter)
    unmatched_codes: Counter[str] = field(default_factory=Counter)  # code name -> codings not imported
    unplaced: list[str] = field(default_factory=list)  # selections whose text was not found
    problems: list[str] = field(default_factory=list)  # sources not imported, and why

    def count(self, code_id: str, added: int, suggested: bool = False) -> None:
        """Book one coding that `add_code_over_passages` recorded on `added` passages (0: it was
        already there)."""
        self.passage_codes += added
        if not added:
            self.already += 1
            return
        if suggested:
            self.suggested += 1
        else:
            self.imported += 1
        self.by_code[code_id] += 1


ORIGIN_TAG = "fieldnotes:"  # how fieldnotes' REFI export starts a selection's description


def _safe_file_name(name: str) -> str:
    stem = re.sub(r"[^\w.\- ]+", "_", Path(name.replace("\\", "/")).name).strip(" .") or "source"
    return stem[:120]


def site_folder(case_names: list[str], settings) -> str | None:
    """The site id when a source belongs to exactly one case named like a site."""
    if len(case_names) != 1:
        return None
    wanted = case_names[0].strip().lower()
    for site in settings.site:
        if wanted in {site.id.lower(), site.label.lower(), *(alias.lower() for alias in site.aliases)}:
            return site.id
    return None


@dataclass
class CodeMatch:
    """How a file's codes map onto the codebook's: GUID -> code id, and the codes left out."""

    code_of: dict[str, str]
    path_of: dict[str, str]  # GUID -> "Parent > Child", for messages
    ambiguous: set[str]  # GUIDs whose name fits several codes (or repeats in the file)


def _tree_paths(tree: list[RefiCode]) -> list[tuple[RefiCode, tuple[str, ...]]]:
    found: list[tuple[RefiCode, tuple[str, ...]]] = []

    def visit(node: RefiCode, above: tuple[str, ...]) -> None:
        path = (*above, node.name)
        found.append((node, path))
        for item in node.children:
            visit(item, path)

    for root in tree:
        visit(root, ())
    return found


def _book_paths(book: Codebook) -> dict[tuple[str, ...], str]:
    """Each code's path of names (its groups', then its own), as slugs; a code named like the
    group that holds it (a codable parent) also answers to the group's own path."""
    groups = {group.id: group for group in book.groups}

    def group_path(group_id: str | None) -> tuple[str, ...]:
        path: list[str] = []
        while group_id is not None and group_id in groups:
            path.insert(0, slug(groups[group_id].name))
            group_id = groups[group_id].parent
        return tuple(path)

    paths: dict[tuple[str, ...], str] = {}
    for code in book.codes:
        above = group_path(code.parent)
        paths.setdefault((*above, slug(code.name)), code.id)
        if above and above[-1] == slug(code.name):
            paths.setdefault(above, code.id)
    return paths


def match_codes(tree: list[RefiCode], book: Codebook) -> CodeMatch:
    """The file's codes matched to the codebook's: by GUID first (fieldnotes' own exports keep a
    code's GUID), then by the full path of names ("Barriers > Other"), then by name, id or slug
    alone, and that only when the name is unique in the codebook and in the file, so two
    "Other" codes under different parents never land on one code."""
    from fieldnotes.exchange.refi import code_guid

    by_guid = {code_guid(book, code.id).lower(): code.id for code in book.codes}
    by_path = _book_paths(book)
    by_key: dict[str, set[str]] = {}
    for code in book.codes:
        for key in {code.id, slug(code.name), code.name.lower()}:
            by_key.setdefault(key, set()).add(code.id)
    nodes = _tree_paths(tree)
    names_in_file = Counter(slug(node.name) for node, _ in nodes)
    result = CodeMatch({}, {}, set())
    for node, path in nodes:
        result.path_of[node.guid] = " > ".join(path)
        if node.guid in by_guid:
            result.code_of[node.guid] = by_guid[node.guid]
            continue
        along = by_path.get(tuple(slug(name) for name in path))
        if along is not None:
            result.code_of[node.guid] = along
            continue
        candidates = by_key.get(node.name.lower()) or by_key.get(slug(node.name)) or set()
        if len(candidates) == 1 and names_in_file[slug(node.name)] == 1:
            result.code_of[node.guid] = next(iter(candidates))
        elif candidates:
            result.ambiguous.add(node.guid)
    return result


@lru_cache(maxsize=4)  # one document's text serves all its codings
def _normalised(text: str) -> tuple[str, list[int]]:
    """Text with runs of whitespace as one space, and each character's offset in the original."""
    chars: list[str] = []
    offsets: list[int] = []
    previous_space = True
    for index, char in enumerate(text):
        if char.isspace():
            if previous_space:
                continue
            chars.append(" ")
            previous_space = True
        else:
            chars.append(char)
            previous_space = False
        offsets.append(index)
    return "".join(chars), offsets


def locate(document_text: str, wanted: str, hint: float) -> tuple[int, int] | None:
    """Where `wanted` lies in the cleaned document (whitespace-insensitive), nearest to `hint` (0-1).
    The text as the tool had it is looked for first; then as ingestion's character repair makes
    it (NFKC, joiners and soft hyphens dropped, odd spaces), which is what the document holds."""
    found = _find(document_text, wanted, hint)
    if found is None:
        from fieldnotes.ingest.repair.characters import normalize_text

        repaired = normalize_text(wanted)
        found = _find(document_text, repaired, hint) if repaired != wanted else None
    return found


def _find(document_text: str, wanted: str, hint: float) -> tuple[int, int] | None:
    needle, _ = _normalised(wanted)
    needle = needle.strip()
    if not needle:
        return None
    haystack, offsets = _normalised(document_text)
    hits: list[int] = []
    position = haystack.find(needle)
    while position != -1 and len(hits) < 1000:
        hits.append(position)
        position = haystack.find(needle, position + 1)
    if not hits:
        return None
    target = hint * len(haystack)
    best = min(hits, key=lambda hit: abs(hit - target))
    return offsets[best], offsets[best + len(needle) - 1] + 1


def import_project(
    path: Path,
    corpus: Path,
    out_dir: Path,
    settings,
    loaded: LoadedCodebook,
    offsets: str = "auto",
) -> ProjectImport:
    """Bring a .qdpx's text sources into the corpus and its codings in as accepted codes."""
    from fieldnotes.ingest.run import ingest_corpus
    from fieldnotes.store import Store, database_path

    project = read_project(Path(path))
    folder = Path(corpus) / "imported" / _safe_file_name(Path(path).stem)
    result = ProjectImport(Path(path), folder)
    matched = match_codes(project.codes, loaded.codebook)
    codings = _Codings(
        result,
        loaded.codebook.id,
        matched.code_of,
        {
            guid: path + (" (name fits several codes)" if guid in matched.ambiguous else "")
            for guid, path in matched.path_of.items()
        },
        project.users,
        offsets == "utf16" or (offsets == "auto" and "nvivo" in project.origin.lower()),
        f"imported from {Path(path).name}",
    )
    result.problems.extend(f"{name}: not a text source; not imported" for name in project.skipped_sources)
    if project.sets:
        listed = ", ".join(f"{name} ({_members(codes, sources)})" for name, codes, sources in project.sets)
        result.problems.append(f"{len(project.sets)} sets (groups of codes or documents) are not imported: {listed}")
    planned = _write_sources(project, folder, settings, result)
    if not planned:
        raise ExchangeError(f"{path}: no text source could be imported: " + "; ".join(result.problems or ["none"]))
    ingest_corpus(Path(corpus), Path(out_dir), settings)
    with Store.open(database_path(out_dir)) as store:
        corpus_root = Path(corpus).resolve()
        for target, text, selections in planned:
            relative = target.resolve().relative_to(corpus_root).as_posix()
            document = store.corpus.current_document_at(relative)
            if document is None:
                result.problems.append(f"{relative}: ingestion did not accept it; its codings are not imported")
                continue
            passages = store.corpus.passage_spans(document.document_id)
            for selection in selections:
                codings.add(store, relative, document.text, passages, text, selection)
    return result


def _members(codes: int, sources: int) -> str:
    parts = [f"{codes} codes" if codes else "", f"{sources} documents" if sources else ""]
    return ", ".join(part for part in parts if part) or "empty"


def _write_sources(project, folder: Path, settings, result: ProjectImport) -> list[tuple[Path, str, list]]:
    """Write each text source into the corpus folder (a site's case into that site's folder);
    returns (file written, its text, its selections) for each."""
    from fieldnotes.files import atomic_text

    planned: list[tuple[Path, str, list]] = []
    used_names: set[str] = set()
    for source in project.sources:
        if source.text is None:
            result.problems.append(f"{source.name}: {source.problem}; not imported")
            continue
        if not source.text.strip():
            result.problems.append(f"{source.name}: its text is empty; not imported")
            continue
        file_name = _unique_txt_name(source.name, used_names)
        # A source that is one site's case goes into that site's folder, so ingestion places it there.
        site = site_folder(project.cases_of_source.get(source.guid, []), settings)
        target = folder / site / file_name if site else folder / file_name
        if target.is_file() and _read_text(target) != source.text:
            # Written by an earlier import and edited since (or another file by that name): the
            # researcher's text wins; its offsets no longer fit the project's codings.
            result.problems.append(
                f"{target}: already there and different from the project's source (edited since the last "
                "import?); kept as it is, and its codings not imported again; move it away to import it anew"
            )
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_text(target) as handle:
            handle.write(source.text)
        result.documents.append(str(target))
        planned.append((target, source.text, source.selections))
    return planned


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _unique_txt_name(name: str, used_names: set[str]) -> str:
    """A safe .txt file name for a source, numbered when another source has it (case-insensitive)."""
    file_name = _safe_file_name(name)
    if not file_name.lower().endswith(".txt"):
        file_name = f"{Path(file_name).stem or 'source'}.txt"
    base, number = file_name, 2
    while file_name.lower() in used_names:
        file_name = f"{Path(base).stem}-{number}.txt"
        number += 1
    used_names.add(file_name.lower())
    return file_name


@dataclass
class _Codings:
    """Records a project's coded selections as accepted codes, counting into `result`."""

    result: ProjectImport
    codebook_id: str
    code_of: dict[str, str]  # REFI code GUID -> fieldnotes code id
    names: dict[str, str]  # REFI code GUID -> its name
    users: dict[str, str]  # REFI user GUID -> coder name
    utf16: bool  # the file counts offsets in UTF-16 units
    memo: str

    def add(self, store, relative: str, document_text: str, passages, text: str, selection) -> None:
        """One selection of the source `text`, on the ingested document at `relative`."""
        result = self.result
        start, end = selection.start, selection.end
        if self.utf16:
            start, end = utf16_to_codepoints(text, start), utf16_to_codepoints(text, end)
        quoted = text[max(start, 0) : max(end, 0)]
        for guid in selection.code_guids:
            result.codings += 1
            code_id = self.code_of.get(guid)
            if code_id is None:
                result.unmatched_codes[self.names.get(guid, guid)] += 1
                continue
            span = locate(document_text, quoted, start / max(len(text), 1))
            if span is None:
                result.unplaced.append(f"{relative} {selection.start}-{selection.end}: '{quoted[:60]}'")
                continue
            coder = self.users.get(selection.user_guid or "", "imported")
            memo = self.memo + (f": {selection.description}" if selection.description else "")
            # fieldnotes writes "fieldnotes: suggested; ..." on a suggestion no one reviewed: it must
            # come back as a suggestion, not as a coder's accepted code.
            suggested = selection.description.startswith(f"{ORIGIN_TAG} suggested")
            added = store.decisions.add_code_over_passages(
                passages,
                span[0],
                span[1],
                code_id,
                self.codebook_id,
                coder,
                memo,
                action="imported",
                suggested=suggested,
            )
            result.count(code_id, added, suggested)
