"""Wires the stages together. Each stage is a plain function that can also run alone:

discover -> read_document -> repair_document -> segment_document -> assign_sites -> Store
"""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path

from fieldnotes import __version__
from fieldnotes.errors import CorpusError, DocumentError
from fieldnotes.files import write_csv
from fieldnotes.ingest.discover import Skipped, discover
from fieldnotes.ingest.model import CleanDocument, Passage, SourceDocument
from fieldnotes.ingest.readers import read_document
from fieldnotes.ingest.repair import repair_document
from fieldnotes.ingest.segment import SentenceSplitter, default_splitters, document_id, segment_document
from fieldnotes.ingest.sites import SiteMatcher, assign_sites
from fieldnotes.settings import Settings
from fieldnotes.store import Store

DB_NAME = "fieldnotes.db"
PASSAGES_CSV = "passages.csv"
PASSAGE_COLUMNS = (
    "passage_id",
    "document_id",
    "document",
    "format",
    "site",
    "site_evidence",
    "section",
    "start",
    "end",
    "language",
    "n_sentences",
    "text",
)
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
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return sum(self.documents_by_format.values())

    @property
    def passages(self) -> int:
        return sum(self.passages_by_site.values())

    @property
    def db_path(self) -> Path:
        return self.out_dir / DB_NAME

    @property
    def csv_path(self) -> Path:
        return self.out_dir / PASSAGES_CSV


def package_versions() -> dict[str, str]:
    versions = {"fieldnotes": __version__, "python": platform.python_version()}
    for name in ("spacy", "wordfreq", "ftfy", "pdfminer.six", "python-docx", "markdown-it-py"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def write_passages_csv(store: Store, path: Path) -> int:
    """Write the active passages atomically (a crash never leaves half a file)."""
    return write_csv(path, PASSAGE_COLUMNS, store.active_passages())


def process_document(
    source: SourceDocument,
    settings: Settings,
    matcher: SiteMatcher,
    splitters: dict[str, SentenceSplitter],
    manifest_row: dict[str, str] | None = None,
) -> tuple[CleanDocument, list[Passage], list[str]]:
    """Repair, segment and assign sites to one document read from disk.

    Metadata in the document (front matter) wins over the corpus manifest.
    Returns the cleaned document, its passages, and notes for the user.
    """
    meta_source = "front matter" if source.metadata.get("site") is not None else "manifest"
    source.metadata = {**(manifest_row or {}), **source.metadata}
    cleaned = repair_document(source, settings.repair, settings.segment)
    passages = segment_document(cleaned, settings.segment, splitters)
    passages, site_notes = assign_sites(source.relpath, source.metadata, meta_source, cleaned.blocks, passages, matcher)
    return cleaned, passages, [*source.notes, *site_notes]


def ingest_corpus(
    corpus: Path,
    out_dir: Path,
    settings: Settings,
    *,
    splitters: dict[str, SentenceSplitter] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IngestReport:
    """Read every document under `corpus` into `out_dir/fieldnotes.db` and `passages.csv`.

    Unreadable files are reported and skipped; documents unchanged since the last
    run (same bytes, same settings) are reused without being read again.
    """
    started = time.perf_counter()
    corpus = Path(corpus)
    out_dir = Path(out_dir)
    found = discover(corpus, settings.ingest)
    if not found.files:
        wanted = ", ".join(settings.ingest.extensions)
        raise CorpusError(f"{corpus}: no documents to read (looked for {wanted})")
    report = IngestReport(corpus, out_dir, skipped=list(found.skipped))
    matcher = SiteMatcher(settings.site)
    splitters = splitters or default_splitters()
    settings_hash = settings.digest(*INGEST_SECTIONS)
    with Store.open(out_dir / DB_NAME) as store:
        report.run_id = store.begin_run(
            "ingest",
            str(corpus.resolve()),
            settings.digest(),
            json.dumps(settings.model_dump(mode="json"), sort_keys=True),
            package_versions(),
        )
        stored = store.documents()
        present: set[str] = set()
        corpus_hash = hashlib.sha256()
        for index, (path, relpath) in enumerate(found.files):
            if progress:
                progress(index, len(found.files), relpath)
            doc_id = document_id(relpath)
            present.add(doc_id)
            try:
                source = read_document(path, relpath)
            except DocumentError as exc:
                report.errors.append(Skipped(relpath, exc.reason))
                if doc_id in stored and stored[doc_id].status != "missing":
                    store.mark_unreadable(report.run_id, doc_id, exc.reason)
                    report.notes.append(Skipped(relpath, "kept the version read in an earlier run"))
                continue
            corpus_hash.update(f"{relpath}\0{source.raw_hash}\0".encode())
            report.documents_by_format[source.format] += 1
            previous = stored.get(doc_id)
            if (
                previous is not None
                and previous.raw_hash == source.raw_hash
                and previous.settings_hash == settings_hash
                and previous.status != "missing"
            ):
                store.touch_document(report.run_id, doc_id)
                report.reused += 1
                continue
            cleaned, passages, notes = process_document(
                source, settings, matcher, splitters, found.manifest.get(relpath, {})
            )
            report.notes.extend(Skipped(relpath, note) for note in notes)
            text_hash = hashlib.sha256(cleaned.text.encode()).hexdigest()
            store.save_document(report.run_id, doc_id, cleaned, passages, settings_hash, text_hash)
        report.missing = store.mark_missing(report.run_id, present)
        for row in store.connection.execute("SELECT repairs_json FROM documents WHERE status != 'missing'").fetchall():
            report.repairs.update(json.loads(row["repairs_json"]))
        write_passages_csv(store, report.csv_path)
        for row in store.active_passages():
            report.passages_by_site[row["site"]] += 1
        report.seconds = time.perf_counter() - started
        store.finish_run(
            report.run_id,
            corpus_hash.hexdigest(),
            {
                "documents": report.documents,
                "passages": report.passages,
                "passages_by_site": dict(report.passages_by_site),
                "errors": [vars(e) for e in report.errors],
                "reused": report.reused,
                "seconds": round(report.seconds, 3),
            },
        )
    return report


EXCERPTS_CSV = "excerpts.csv"
ORPHANS_CSV = "orphaned_decisions.csv"
EXCERPT_COLUMNS = (
    "excerpt_id",
    "passage_id",
    "document",
    "site",
    "start",
    "end",
    "text",
    "code",
    "code_name",
    "score",
    "suggested_by",
    "rationale",
    "status",
    "coder",
    "decided_at",
    "memo",
)


@dataclass
class CodeReport:
    ingest: IngestReport
    codebook: str = ""
    model: str = ""
    calibration: str = ""
    threshold: float = 0.0
    run_id: int = 0
    excerpts: int = 0
    embedded: int = 0
    suggestions_by_code: Counter[str] = field(default_factory=Counter)
    suggestions_by_site: Counter[str] = field(default_factory=Counter)
    themes: object | None = None  # ThemesReport, when the themes stage ran
    comparison: object | None = None  # CompareReport
    reviewed_kept: int = 0
    withdrawn: int = 0
    reattached: int = 0
    orphaned: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def csv_path(self) -> Path:
        return self.ingest.out_dir / EXCERPTS_CSV


def write_excerpts_csv(store: Store, codebook, path: Path) -> int:
    names = {code.id: code.name for code in codebook.codes}
    rows = store.coded_excerpts(codebook.id)
    return write_csv(path, EXCERPT_COLUMNS, ({**row, "code_name": names.get(row["code"], row["code"])} for row in rows))


def code_corpus(
    corpus: Path,
    out_dir: Path,
    settings: Settings,
    codebook: str | Path | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    embedder=None,
) -> CodeReport:
    """Ingest `corpus`, then suggest codes for every excerpt; reviewed suggestions are kept as they are.

    The codebook is validated before any work starts.
    """
    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.embed import embed_cached
    from fieldnotes.coding.excerpts import build_excerpts
    from fieldnotes.coding.run import build_coder, suggest

    loaded = load_codebook(codebook or settings.coding.codebook)
    ingest = ingest_corpus(corpus, out_dir, settings, progress=progress)
    started = time.perf_counter()
    report = CodeReport(ingest, codebook=loaded.describe())
    with Store.open(out_dir / DB_NAME) as store:
        run_id = store.begin_run(
            "code",
            str(Path(corpus).resolve()),
            settings.digest(),
            json.dumps(settings.model_dump(mode="json"), sort_keys=True),
            package_versions(),
        )
        report.run_id = run_id
        coder = build_coder(loaded, settings, store, embedder)
        report.model = coder.embedder.model_id
        report.calibration = coder.calibration_path.name
        report.threshold = coder.threshold
        report.notes.extend(coder.notes)
        store.record_run_provenance(run_id, loaded.describe(), loaded.sha256, coder.embedder.model_id)
        passages, sentences, texts = store.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, settings.coding.min_excerpt_chars)
        store.save_excerpts(run_id, excerpts)
        vectors, report.embedded = embed_cached([e.text for e in excerpts], coder.embedder, store)
        suggestions = suggest(coder, excerpts, vectors) if excerpts else []
        counts = store.save_suggestions(run_id, loaded.codebook.id, suggestions)
        report.reattached, orphans = store.reattach_decisions(run_id, loaded.codebook.id)
        report.orphaned = len(orphans)
        if orphans:
            write_csv(
                out_dir / ORPHANS_CSV,
                ("excerpt_id", "document", "code", "status", "coder", "decided_at", "memo", "text"),
                orphans,
            )
        report.excerpts = len(excerpts)
        report.reviewed_kept, report.withdrawn = counts["kept"], counts["withdrawn"]
        site_of = {e.excerpt_id: e.site for e in excerpts}
        for s in suggestions:
            report.suggestions_by_code[s.code_id] += 1
            report.suggestions_by_site[site_of[s.excerpt_id]] += 1
        write_excerpts_csv(store, loaded.codebook, report.csv_path)
        if settings.themes.enabled:
            from fieldnotes.themes.run import run_themes

            report.themes = run_themes(out_dir, settings, store, coder.embedder, run_id)
        report.seconds = time.perf_counter() - started
        store.finish_run(
            run_id,
            ingest_hash(store),
            {
                "codebook": loaded.describe(),
                "model": report.model,
                "calibration": report.calibration,
                "threshold": report.threshold,
                "excerpts": report.excerpts,
                "embedded": report.embedded,
                "suggestions": sum(report.suggestions_by_code.values()),
                "reviewed_kept": report.reviewed_kept,
                "reattached": report.reattached,
                "orphaned": report.orphaned,
                "withdrawn": report.withdrawn,
                "themes": len(report.themes.themes) if report.themes else 0,
                "seconds": round(report.seconds, 3),
            },
        )
    from fieldnotes.compare.run import compare

    report.comparison = compare(out_dir, settings, loaded)
    return report


def ingest_hash(store: Store) -> str:
    """The corpus hash recorded by the latest ingest run."""
    row = store.connection.execute(
        "SELECT corpus_hash FROM runs WHERE command = 'ingest' AND corpus_hash IS NOT NULL ORDER BY run_id DESC LIMIT 1"
    ).fetchone()
    return row["corpus_hash"] if row else ""
