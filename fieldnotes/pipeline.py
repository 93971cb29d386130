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
from pathlib import Path

from fieldnotes import __version__
from fieldnotes.errors import CorpusError, DocumentError
from fieldnotes.files import write_csv
from fieldnotes.ingest.discover import Skipped, discover
from fieldnotes.ingest.model import CleanDocument, SourceDocument
from fieldnotes.ingest.readers import READERS, read_bytes_bounded, read_document
from fieldnotes.ingest.repair import repair_document
from fieldnotes.ingest.segment import SentenceSplitter, document_id, segment_document, splitters_for
from fieldnotes.ingest.sites import SiteMatcher, assign_sites
from fieldnotes.records import Passage
from fieldnotes.resources import installed_version
from fieldnotes.settings import Settings
from fieldnotes.store import DB_NAME, DocumentVersion, Store, holds_results_lock
from fieldnotes.timing import Stopwatch, add_seconds

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
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: ingest, segment, write

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
    """Write the active passages atomically (a crash never leaves half a file)."""
    return write_csv(path, PASSAGE_COLUMNS, store.corpus.active_passages())


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


@holds_results_lock("ingest")
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
    splitters = splitters or splitters_for(settings.segment)
    settings_hash = settings.digest(*INGEST_SECTIONS)
    with Store.open(out_dir / DB_NAME) as store:
        report.run_id = store.runs.begin(
            "ingest",
            str(corpus.resolve()),
            settings.digest(),
            json.dumps(settings.model_dump(mode="json"), sort_keys=True),
            package_versions(),
        )
        stored = store.corpus.documents()
        present: set[str] = set()
        unchanged: list[str] = []  # documents seen again as they were, touched together at the end
        max_bytes = int(settings.ingest.max_file_mb * 1024 * 1024)
        corpus_hash = hashlib.sha256()
        for index, (path, relpath) in enumerate(found.files):
            if progress:
                progress(index, len(found.files), relpath)
            doc_id = document_id(relpath)
            present.add(doc_id)
            previous = stored.get(doc_id)
            if previous is not None and previous.settings_hash == settings_hash and previous.status != "missing":
                # Same bytes as a document read before: hashing them is enough, no parsing.
                digest = _file_sha256(path, relpath, max_bytes)
                if digest == previous.raw_hash:
                    corpus_hash.update(f"{relpath}\0{digest}\0".encode())
                    report.documents_by_format[READERS.get(path.suffix.lower(), ("txt",))[0]] += 1
                    unchanged.append(doc_id)
                    report.reused += 1
                    continue
            try:
                source = read_document(path, relpath, max_bytes=max_bytes)
            except DocumentError as exc:
                report.errors.append(Skipped(relpath, exc.reason))
                if doc_id in stored and stored[doc_id].status != "missing":
                    store.corpus.mark_unreadable(report.run_id, doc_id, exc.reason)
                    report.notes.append(Skipped(relpath, "kept the version read in an earlier run"))
                continue
            corpus_hash.update(f"{relpath}\0{source.raw_hash}\0".encode())
            report.documents_by_format[source.format] += 1
            if (
                previous is not None
                and previous.raw_hash == source.raw_hash
                and previous.settings_hash == settings_hash
                and previous.status != "missing"
            ):
                unchanged.append(doc_id)
                report.reused += 1
                continue
            cleaned, passages, notes = process_document(
                source, settings, matcher, splitters, found.manifest.get(relpath, {}), report.timings
            )
            report.notes.extend(Skipped(relpath, note) for note in notes)
            store.corpus.save_document(report.run_id, doc_id, document_version(cleaned, settings_hash), passages)
        store.corpus.touch_documents(report.run_id, unchanged)
        report.missing = store.corpus.mark_missing(report.run_id, present)
        report.repairs.update(store.corpus.repair_totals())
        writing = time.perf_counter()
        write_passages_csv(store, report.csv_path)
        add_seconds(report.timings, "write", time.perf_counter() - writing)
        for row in store.corpus.active_passages():
            report.passages_by_site[row["site"]] += 1
        report.seconds = time.perf_counter() - started
        # Everything else (finding, reading and repairing files, storing them) is ingestion.
        report.timings["ingest"] = report.seconds - sum(report.timings.values())
        store.runs.finish(
            report.run_id,
            corpus_hash.hexdigest(),
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
    return report


EXCERPTS_CSV = "excerpts.csv"
SCORE_CHUNK = 8192  # excerpts embedded and scored at a time
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
    rows = store.reads.coded_excerpts(codebook.id)
    return write_csv(path, EXCERPT_COLUMNS, ({**row, "code_name": names.get(row["code"], row["code"])} for row in rows))


@holds_results_lock("code")
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
    from fieldnotes.coding.excerpts import build_excerpts
    from fieldnotes.coding.run import build_coder, coder_key, make_embedder, suggest
    from fieldnotes.embedding import embed_cached, open_embedding_cache
    from fieldnotes.review.reattach import reattach_decisions

    clock = Stopwatch()
    with clock.stage("code_setup"):
        name = codebook or settings.coding.codebook
        loaded = load_codebook(name, check_patterns=False)
        if not _codebook_checked(Path(out_dir) / DB_NAME, loaded.sha256):
            loaded = load_codebook(name)  # spaCy checks the token patterns (once per codebook version)
        embedder = embedder or make_embedder(settings)
    ingest = ingest_corpus(corpus, out_dir, settings, progress=progress)
    for stage, seconds in ingest.timings.items():
        add_seconds(clock.timings, stage, seconds)
    clock.note_peak("ingest")
    started = time.perf_counter()
    report = CodeReport(ingest, codebook=loaded.describe(), model=embedder.model_id)
    with Store.open(out_dir / DB_NAME) as store, open_embedding_cache(settings.embedding, store) as shared:
        cache, cache_note = shared
        report.notes.extend([cache_note] if cache_note else [])
        with clock.stage("code_setup"):
            previous = store.runs.latest("code")
            prior = json.loads(previous.summary_json or "{}") if previous and previous.finished_at else {}
            run_id = store.runs.begin(
                "code",
                str(Path(corpus).resolve()),
                settings.digest(),
                json.dumps(settings.model_dump(mode="json"), sort_keys=True),
                package_versions(),
            )
            report.run_id = run_id
            key = coder_key(loaded, settings, embedder.model_id, store)
            # The last run's suggestions stand if it finished with the same coder (see coder_key).
            same_coder = prior.get("coder_key") == key
            store.runs.record_provenance(run_id, loaded.describe(), loaded.sha256, embedder.model_id)
        with clock.stage("segment"):
            passages, sentences, texts = store.corpus.passages_with_sentences()
            excerpts = build_excerpts(passages, sentences, texts, settings.coding.min_excerpt_chars)
            stored = store.coding.active_sentence_excerpts()
            unchanged = {e.excerpt_id: (e.start, e.end) for e in excerpts} == stored
            if unchanged:
                store.coding.touch_excerpts(run_id)
            else:
                store.coding.save_excerpts(run_id, excerpts)
        report.excerpts = len(excerpts)
        if same_coder and unchanged:
            mode = "reused"
        elif same_coder:
            mode = "new excerpts"
        else:
            mode = "all"
        todo = {"all": excerpts, "new excerpts": [e for e in excerpts if e.excerpt_id not in stored]}.get(mode, [])
        coder_notes: list[str] = prior.get("coder_notes", [])
        if mode == "all" or todo:
            with clock.stage("code_setup"):
                coder = build_coder(loaded, settings, store, embedder, cache)
                report.calibration, report.threshold = coder.calibration_path.name, coder.threshold
                coder_notes = coder.notes
        else:
            # The coder is the last run's: no model, no training, no rules to build.
            report.calibration, report.threshold = prior.get("calibration", ""), prior.get("threshold", 0.0)
        report.notes.extend(coder_notes)
        if mode == "reused":
            report.reviewed_kept = prior.get("reviewed_kept", 0)
            report.suggestions_by_code.update(prior.get("suggestions_by_code", {}))
            report.suggestions_by_site.update(prior.get("suggestions_by_site", {}))
            report.notes.append(f"nothing the suggestions depend on changed since run {previous.run_id}: reused")
        else:
            keep = {e.excerpt_id for e in excerpts if e.excerpt_id in stored} if mode == "new excerpts" else set()
            suggestions = []
            with clock.stage("code"):
                # In chunks, so only one chunk's vectors and evidence are in memory at a time.
                for start in range(0, len(todo), SCORE_CHUNK):
                    chunk = todo[start : start + SCORE_CHUNK]
                    vectors, _ = embed_cached([e.text for e in chunk], embedder, cache)
                    suggestions.extend(suggest(coder, chunk, vectors))
                counts = store.coding.save_suggestions(run_id, loaded.codebook.id, suggestions, keep)
            report.reviewed_kept, report.withdrawn = counts["kept"], counts["withdrawn"]
            if mode == "all":
                site_of = {e.excerpt_id: e.site for e in excerpts}
                for s in suggestions:
                    report.suggestions_by_code[s.code_id] += 1
                    report.suggestions_by_site[site_of[s.excerpt_id]] += 1
            else:
                _count_stored_suggestions(store, loaded.codebook.id, report)
                report.notes.append(f"{len(todo)} new excerpts scored; the suggestions of the others stand")
        with clock.stage("code"):
            report.reattached, orphans = reattach_decisions(store, run_id, loaded.codebook.id)
        report.orphaned = len(orphans)
        with clock.stage("write"):
            if orphans:
                write_csv(
                    out_dir / ORPHANS_CSV,
                    ("excerpt_id", "document", "code", "status", "coder", "decided_at", "memo", "text"),
                    orphans,
                )
            write_excerpts_csv(store, loaded.codebook, report.csv_path)
        if settings.themes.enabled:
            from fieldnotes.themes.run import run_themes

            with clock.stage("themes", own_model_time=True):
                report.themes = run_themes(out_dir, settings, store, embedder, run_id, cache)
        report.seconds = time.perf_counter() - started
        report.embedded = clock.texts_encoded  # codebook, reference, excerpt and theme texts alike
        corpus_hash = ingest_hash(store)
        summary = {
            "codebook": loaded.describe(),
            "model": report.model,
            "calibration": report.calibration,
            "threshold": report.threshold,
            "excerpts": report.excerpts,
            "embedded": report.embedded,
            "suggestions": sum(report.suggestions_by_code.values()),
            "suggestions_by_code": dict(report.suggestions_by_code),
            "suggestions_by_site": dict(report.suggestions_by_site),
            "reviewed_kept": report.reviewed_kept,
            "reattached": report.reattached,
            "orphaned": report.orphaned,
            "withdrawn": report.withdrawn,
            "themes": len(report.themes.themes) if report.themes else 0,
            "seconds": round(report.seconds, 3),
            "coder_key": key,
            "coder_notes": coder_notes,
            "scored": mode,
        }
        store.runs.finish(run_id, corpus_hash, summary)
        # What the report shows: when none of it changed and its files are there, it is not drawn again.
        report_key = _report_key(key, excerpts, passages, report, settings, loaded.sha256)
        with clock.stage("compare"):
            report.comparison = _reuse_comparison(out_dir, prior, report_key) if mode == "reused" else None
            if report.comparison is None:
                from fieldnotes.compare.run import compare

                report.comparison = compare(out_dir, settings, loaded)
        summary["report_key"] = report_key
        summary["comparison"] = {
            "status_used": report.comparison.status_used,
            "distinctive": list(report.comparison.distinctive.items()),  # pairs: the summary's keys get sorted
            "warnings": report.comparison.warnings,
            "files": [str(path) for path in report.comparison.files],
        }
        # Seconds per stage, ingestion and the report included; model time is under model_load and embed.
        store.runs.finish(
            run_id,
            corpus_hash,
            {
                **summary,
                "timings": clock.rounded(),
                "peak_rss_mb": clock.peak_rss_mb,
                "encoded_by_stage": clock.encoded_by_stage,
            },
        )
    return report


def _codebook_checked(database: Path, sha256: str) -> bool:
    """Whether a finished coding run in this results folder already used (and so checked) this codebook."""
    if not database.is_file():
        return False
    with Store.open(database) as store:
        return store.runs.code_run_used_codebook(sha256)


def _count_stored_suggestions(store: Store, codebook_id: str, report: CodeReport) -> None:
    """Suggestions by code and site as stored, for a run that scored only some excerpts: machine
    suggestions standing, and reviewed ones whose score reached their threshold."""
    for row in store.reads.machine_suggestions(codebook_id):
        if row["status"] != "suggested":
            threshold = json.loads(row["components_json"] or "{}").get("threshold")
            if threshold is None or row["score"] < threshold:
                continue
        report.suggestions_by_code[row["code_id"]] += 1
        report.suggestions_by_site[row["site"]] += 1


def _report_key(coder: str, excerpts, passages: list[dict], report: CodeReport, settings: Settings, book: str) -> str:
    """A digest of what the comparison report is drawn from."""
    digest = hashlib.sha256()
    digest.update(f"{coder}\0{settings.digest()}\0{book}\0".encode())
    for excerpt in excerpts:
        digest.update(f"{excerpt.excerpt_id}:{excerpt.start}:{excerpt.end}\0".encode())
    for passage in passages:
        digest.update(f"{passage['passage_id']}:{passage['site']}\0".encode())
    themes = report.themes
    # The themes run whose themes are current: an earlier one when they were reused.
    digest.update(f"themes {(themes.reused_from or themes.run_id) if themes else None}".encode())
    return digest.hexdigest()


def _reuse_comparison(out_dir: Path, prior: dict, report_key: str):
    """The last run's comparison, when its input is unchanged and its files are all still there."""
    from fieldnotes.compare.run import CompareReport

    saved = prior.get("comparison")
    if prior.get("report_key") != report_key or not saved:
        return None
    files = [Path(path) for path in saved["files"]]
    if not files or not all(path.is_file() for path in files):
        return None
    return CompareReport(
        Path(out_dir),
        status_used=saved["status_used"],
        files=files,
        distinctive=dict(saved["distinctive"]),
        warnings=saved["warnings"],
    )


def ingest_hash(store: Store) -> str:
    """The corpus hash recorded by the latest ingest run."""
    return store.runs.latest_ingest_corpus_hash()
