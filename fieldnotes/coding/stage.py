"""The coding stage: the current excerpts in; suggestions (reviewed ones kept as decided) and
excerpts.csv out. Excerpts are scored again only when what their suggestions depend on changed
(fieldnotes.freshness, stage "coder"): the codebook, its reference set and calibration, the
settings, the model, the researchers' decisions, the libraries; otherwise only new excerpts are.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.embedding import Embedder, VectorCache, embed_cached
from fieldnotes.files import write_csv
from fieldnotes.freshness import CoderState, current, inputs_digest, record, recorded
from fieldnotes.records import EXCERPT_COLUMNS, ORPHAN_COLUMNS, Excerpt, Suggestion
from fieldnotes.settings import Settings
from fieldnotes.store import Store
from fieldnotes.timing import Stopwatch
from fieldnotes.workspace import Workspace

SCORE_CHUNK = 8192  # excerpts embedded and scored at a time
CODER = ("coder", "suggestions")  # freshness stage and subject: one coder's suggestions stand at a time


@dataclass
class CodingResult:
    codebook: str = ""
    model: str = ""
    calibration: str = ""
    threshold: float = 0.0
    run_id: int = 0
    excerpts: int = 0
    suggestions_by_code: Counter[str] = field(default_factory=Counter)
    suggestions_by_site: Counter[str] = field(default_factory=Counter)
    reviewed_kept: int = 0
    withdrawn: int = 0
    reattached: int = 0
    orphaned: int = 0
    notes: list[str] = field(default_factory=list)
    scored: str = ""  # "all", "new excerpts" or "reused"
    coder_key: str = ""
    excerpt_digest: str = ""  # of the excerpts' spans and the passages' sites (the report draws on them)
    excerpts_csv: Path | None = None


@dataclass(frozen=True)
class CodingJob:
    """What one coding run works with."""

    workspace: Workspace
    store: Store
    cache: VectorCache
    settings: Settings
    loaded: LoadedCodebook
    embedder: Embedder
    clock: Stopwatch
    run_id: int
    # Hears a line between chunks of a long run: how far it is and about how long is left.
    progress: Callable[[str], None] | None = None


def _time_left(done: int, total: int, seconds: float) -> str:
    """ "scored 8,192 of 50,000 excerpts, about 3 min left", at the pace so far."""
    left = seconds / done * (total - done) if done else 0.0
    when = f"{left / 60:.0f} min" if left >= 90 else f"{max(1, round(left))} s"
    return f"scored {done:,} of {total:,} excerpts, about {when} left"


def code_excerpts(job: CodingJob) -> CodingResult:
    """Suggest codes for the current excerpts, keep every decision, write excerpts.csv."""
    from fieldnotes.coding.run import changed_inputs, coder_inputs, coder_key

    result = CodingResult(job.loaded.describe(), job.embedder.model_id, run_id=job.run_id)
    _note_other_codebooks(job, result)
    with job.clock.stage("segment"):
        excerpts, stored, japanese, references = _current_excerpts(job, result)
        # Reference lists are not coded: their excerpts are neither scored nor ranked against.
        if references:
            result.notes.append(f"{len(references)} excerpts of reference lists not scored (they can be coded by hand)")
            excerpts = [e for e in excerpts if e.excerpt_id not in references]
    with job.clock.stage("code_setup"):
        inputs = coder_inputs(job.loaded, job.settings, job.embedder.model_id, job.store)
        result.coder_key = coder_key(inputs)
        fresh = current(job.store, *CODER, result.coder_key, CoderState)
        before = recorded(job.store, *CODER, CoderState) if fresh is None else None
        if before is not None and before[1].inputs:
            changed = ", ".join(changed_inputs(before[1].inputs, inputs)) or "the way suggestions are keyed"
            result.notes.append(f"every excerpt scored again: {changed} changed since run {before[0]}")
        job.store.freshness.forget(*CODER)  # a run that stops half-way leaves no claim to freshness
    todo = excerpts if fresh is None else [e for e in excerpts if e.excerpt_id not in stored]
    if todo and fresh is not None and job.settings.coding.unit == "document":
        todo = _whole_parts(excerpts, todo)  # a document's codes are chosen among all its excerpts
    result.scored = "all" if fresh is None else ("new excerpts" if todo else "reused")
    if fresh is None or todo:
        scored = {e.excerpt_id for e in todo}
        keep = set() if fresh is None else {e.excerpt_id for e in excerpts if e.excerpt_id in stored} - scored
        state = _score(job, result, excerpts, todo, keep, japanese)
    else:
        run_id, state = fresh
        result.reviewed_kept = state.reviewed_kept
        result.notes.append(f"nothing the suggestions depend on changed since run {run_id}: reused")
    result.calibration, result.threshold = state.calibration, state.threshold
    result.notes[:0] = state.notes
    if result.scored != "all":
        for (code, site), count in job.store.reads.standing_suggestions(job.loaded.codebook.id).items():
            result.suggestions_by_code[code] += count
            result.suggestions_by_site[site] += count
    _reattach_and_write(job, result)
    record(job.store, *CODER, result.coder_key, job.run_id, replace(state, inputs=inputs))
    return result


def _whole_parts(excerpts: Sequence[Excerpt], todo: Sequence[Excerpt]) -> list[Excerpt]:
    """Every excerpt of each document part (`document_parts`) that has an excerpt in `todo`."""
    from fieldnotes.coding.excerpts import document_parts

    wanted = {e.excerpt_id for e in todo}
    parts = document_parts(excerpts)
    touched = {part for part, e in zip(parts, excerpts, strict=True) if e.excerpt_id in wanted}
    return [e for part, e in zip(parts, excerpts, strict=True) if part in touched]


def _note_other_codebooks(job: CodingJob, result: CodingResult) -> None:
    """Say so when the results folder holds other codebooks' suggestions too: they are kept apart
    (suggestions and decisions are keyed by codebook) and left as they are."""
    others = job.store.coding.other_codebooks(job.loaded.codebook.id)
    if others:
        held = ", ".join(f"'{book}' ({reviewed} reviewed)" for book, reviewed in others.items())
        result.notes.append(
            f"this results folder also holds the suggestions of codebook {held}: kept apart and unchanged"
        )


def _current_excerpts(
    job: CodingJob, result: CodingResult
) -> tuple[list[Excerpt], dict[str, tuple[int, int]], set[str], set[str]]:
    """The excerpts of the current passages, stored (touched when unchanged); those stored before;
    the ids of the excerpts of Japanese passages, and of those of reference lists
    (fieldnotes.citations)."""
    from fieldnotes.citations import is_reference_list
    from fieldnotes.coding.excerpts import build_excerpts

    store = job.store
    passages, sentences, texts = store.corpus.passages_with_sentences()
    coding = job.settings.coding
    excerpts = build_excerpts(passages, sentences, texts, coding.min_excerpt_chars, coding.unit)
    japanese_passages = {p["passage_id"] for p in passages if p["language"] == "ja"}
    japanese = {e.excerpt_id for e in excerpts if e.passage_id in japanese_passages}
    listed = {p["passage_id"] for p in passages if is_reference_list(p["text"], p["section"])}
    references = {e.excerpt_id for e in excerpts if e.passage_id in listed}
    stored = store.coding.active_sentence_excerpts()
    if {e.excerpt_id: (e.start, e.end) for e in excerpts} == stored:
        store.coding.touch_excerpts(job.run_id)
    else:
        store.coding.save_excerpts(job.run_id, excerpts, stored)
    result.excerpts = len(excerpts)
    result.excerpt_digest = inputs_digest(
        [(e.excerpt_id, e.start, e.end) for e in excerpts], [(p["passage_id"], p["site"]) for p in passages]
    )
    return excerpts, stored, japanese, references


def _score(
    job: CodingJob,
    result: CodingResult,
    excerpts: Sequence[Excerpt],
    todo: Sequence[Excerpt],
    keep: set[str],
    japanese: set[str],
) -> CoderState:
    """Build the coder, score `todo` in chunks and save the suggestions; `keep`: current excerpts
    whose suggestions stand (scored before by the same coder). Others' machine suggestions that
    were not made again are withdrawn. A label-free scorer is prepared on all current
    `excerpts` it scores, so an excerpt scored in an incremental run is ranked against the whole
    corpus. Excerpts of Japanese passages (`japanese`) are scored by a coder of their own on the
    `[embedding] japanese_backend` encoder, which puts them in one space with the codebook's
    English definitions and examples."""
    from fieldnotes.coding.run import build_coder, suggest
    from fieldnotes.embedding import make_japanese_embedder

    groups = [(job.embedder, list(excerpts), list(todo), "")]
    if japanese and job.settings.embedding.japanese_backend:
        with job.clock.stage("code_setup"):
            encoder = make_japanese_embedder(job.settings, job.embedder)
        if encoder.model_id != job.embedder.model_id:
            groups = [
                (
                    job.embedder,
                    [e for e in excerpts if e.excerpt_id not in japanese],
                    [e for e in todo if e.excerpt_id not in japanese],
                    "",
                ),
                (
                    encoder,
                    [e for e in excerpts if e.excerpt_id in japanese],
                    [e for e in todo if e.excerpt_id in japanese],
                    "Japanese excerpts",
                ),
            ]
    suggestions: list[Suggestion] = []
    scorings, notes, threshold = [], [], None
    for embedder, pool, part, label in groups:
        if label and not pool:
            continue
        with job.clock.stage("code_setup"):
            coder = build_coder(job.loaded, job.settings, job.store, embedder, job.cache)
        with job.clock.stage("code"):
            # A label-free scorer ranks against the whole pool: its evidence is computed once,
            # to prepare the scorer and then to score (rules are not matched twice).
            pool_evidence, row_of = None, {}
            if part and not coder.scorer.prepared:
                texts = [e.text for e in pool]
                pool_evidence = coder.prepare(texts, embed_cached(texts, embedder, job.cache)[0])
                row_of = {e.excerpt_id: row for row, e in enumerate(pool)}
            # In chunks, so only one chunk's vectors and evidence are in memory at a time (the
            # pool's evidence aside, when a label-free scorer needs it).
            began = time.perf_counter()
            for start in range(0, len(part), SCORE_CHUNK):
                if start and job.progress is not None:
                    job.progress(_time_left(start, len(part), time.perf_counter() - began))
                chunk = part[start : start + SCORE_CHUNK]
                if pool_evidence is not None:
                    evidence = pool_evidence.rows([row_of[e.excerpt_id] for e in chunk])
                    suggestions.extend(suggest(coder, chunk, None, evidence))
                    continue
                vectors, _ = embed_cached([e.text for e in chunk], embedder, job.cache)
                suggestions.extend(suggest(coder, chunk, vectors))
        if label:
            scorings.append(f"{label}: {coder.scoring} ({embedder.model_id})")
            notes.append(f"{len(pool)} {label} scored with {embedder.model_id}: {coder.scorer.description()}")
        else:
            scorings.insert(0, coder.scoring)
            threshold = coder.threshold
            notes[:0] = coder.notes
    if job.settings.coding.unit == "document":
        from fieldnotes.coding.excerpts import one_per_document

        states = job.store.reads.suggestion_states(job.loaded.codebook.id)
        decided = [
            (excerpt_id, row["passage_id"], code)
            for (excerpt_id, code), row in states.items()
            if row["status"] in ("accepted", "rejected")
        ]
        suggestions = one_per_document(suggestions, todo, decided)
        notes.append("unit 'document': each code is suggested at most once per document (per site within one)")
    with job.clock.stage("code"):
        counts = job.store.coding.save_suggestions(job.run_id, job.loaded.codebook.id, suggestions, keep)
    result.reviewed_kept, result.withdrawn = counts["kept"], counts["withdrawn"]
    if result.scored != "all":
        result.notes.append(f"{len(todo)} new excerpts scored; the suggestions of the others stand")
    else:
        site_of = {e.excerpt_id: e.site for e in todo}
        for suggestion in suggestions:
            result.suggestions_by_code[suggestion.code_id] += 1
            result.suggestions_by_site[site_of[suggestion.excerpt_id]] += 1
    return CoderState("; ".join(scorings), threshold if threshold is not None else 0.0, notes, result.reviewed_kept)


def _reattach_and_write(job: CodingJob, result: CodingResult) -> None:
    """Move decisions onto their text's new place, list the orphans, write excerpts.csv."""
    from fieldnotes.review.reattach import reattach_decisions

    with job.clock.stage("code"):
        result.reattached, orphans = reattach_decisions(job.store, job.run_id, job.loaded.codebook.id)
    result.orphaned = len(orphans)
    with job.clock.stage("write"):
        orphans_csv = codebook_files(job.store, job.workspace, job.loaded.codebook.id)[1]
        if orphans:
            write_csv(orphans_csv, ORPHAN_COLUMNS, orphans)
        else:  # none any more: an old list would say decisions are lost that are not
            orphans_csv.unlink(missing_ok=True)
        result.excerpts_csv = write_excerpts_csv(job.store, job.loaded, job.workspace)


def codebook_files(store: Store, workspace: Workspace, codebook_id: str) -> tuple[Path, Path]:
    """The codebook's excerpts and orphans files in the results folder (Workspace.codebook_files)."""
    return workspace.codebook_files(codebook_id, store.runs.first_codebook())


def write_excerpts_csv(store: Store, loaded: LoadedCodebook, workspace: Workspace) -> Path:
    """Every coded excerpt of the codebook, with the code's name, written atomically to the
    codebook's excerpts file; returns that file."""
    from fieldnotes.document_csv import write_by_document

    path = codebook_files(store, workspace, loaded.codebook.id)[0]
    names = {code.id: code.name for code in loaded.codebook.codes}

    def rows(documents: Collection[str] | None) -> Iterator[dict]:
        for row in store.reads.coded_excerpts(loaded.codebook.id, documents):
            yield {**row, "code_name": names.get(row["code"], row["code"])}

    write_by_document(store, path, EXCERPT_COLUMNS, rows, digest_parts=[loaded.codebook.id, sorted(names.items())])
    return path
