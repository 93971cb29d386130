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
from fieldnotes.coding.current import CurrentExcerpts
from fieldnotes.embedding import Embedder, VectorCache, embed_cached
from fieldnotes.files import write_csv
from fieldnotes.freshness import CoderState, current, record, recorded
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
    excerpts_built: int = 0  # built again in this run: only the changed documents' when it can
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
    from fieldnotes.coding.current import current_excerpts, record_built, without
    from fieldnotes.coding.run import changed_inputs, coder_inputs, coder_key

    result = CodingResult(job.loaded.describe(), job.embedder.model_id, run_id=job.run_id)
    _note_other_codebooks(job, result)
    with job.clock.stage("code_setup"):
        inputs = coder_inputs(job.loaded, job.settings, job.embedder.model_id, job.store)
        result.coder_key = coder_key(inputs)
        fresh = current(job.store, *CODER, result.coder_key, CoderState)
        before = recorded(job.store, *CODER, CoderState) if fresh is None else None
        if before is not None and before[1].inputs:
            changed = ", ".join(changed_inputs(before[1].inputs, inputs)) or "the way suggestions are keyed"
            result.notes.append(f"every excerpt scored again: {changed} changed since run {before[0]}")
        job.store.freshness.forget(*CODER)  # a run that stops half-way leaves no claim to freshness
    with job.clock.stage("segment"):
        # A coder that scores everything needs every excerpt; one that scores the new ones, only
        # the excerpts of the documents that changed.
        now = current_excerpts(job.store, job.settings, job.run_id, everything=fresh is None)
        result.excerpts, result.excerpts_built, result.excerpt_digest = len(now.spans), len(now.built), now.digest
        # Reference lists are not coded: their excerpts are neither scored nor ranked against.
        if now.references:
            listed = len(now.references)
            result.notes.append(f"{listed} excerpts of reference lists not scored (they can be coded by hand)")
        built = without(now.built, now.references)
    todo = built if fresh is None else [e for e in built if e.excerpt_id not in now.stored]
    if todo and fresh is not None and job.settings.coding.unit == "document":
        todo = _whole_parts(built, todo)  # a document's codes are chosen among all its excerpts
    result.scored = "all" if fresh is None else ("new excerpts" if todo else "reused")
    if fresh is None or todo:
        scored = {e.excerpt_id for e in todo}
        keep = set() if fresh is None else (now.spans.keys() & now.stored.keys()) - now.references - scored
        state = _score(job, result, now, todo, keep)
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
    record_built(job.store, job.settings, now, job.run_id)
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


@dataclass
class _Group:
    """Excerpts scored by one encoder: how many of the current ones it ranks (`size`), those it
    scores in this run (`todo`); `only` / `exclude`: which current excerpts are its own."""

    embedder: Embedder
    size: int
    todo: list[Excerpt]
    label: str = ""
    only: set[str] | None = None
    exclude: set[str] = field(default_factory=set)

    def pool(self, now: CurrentExcerpts) -> list[Excerpt]:
        """The current excerpts it ranks (read in full only when a label-free scorer needs them)."""
        mine = [e for e in now.everything() if e.excerpt_id not in now.references and e.excerpt_id not in self.exclude]
        return mine if self.only is None else [e for e in mine if e.excerpt_id in self.only]


def _score(
    job: CodingJob, result: CodingResult, now: CurrentExcerpts, todo: Sequence[Excerpt], keep: set[str]
) -> CoderState:
    """Build the coder, score `todo` in chunks and save the suggestions; `keep`: current excerpts
    whose suggestions stand (scored before by the same coder). Others' machine suggestions that
    were not made again are withdrawn. A label-free scorer is prepared on all current excerpts
    it scores (`now`), so an excerpt scored in an incremental run is ranked against the whole
    corpus. Excerpts of Japanese passages (`now.japanese`) are scored by a coder of their own on
    the `[embedding] japanese_backend` encoder, which puts them in one space with the codebook's
    English definitions and examples."""
    from fieldnotes.coding.run import build_coder, suggest
    from fieldnotes.embedding import make_japanese_embedder

    japanese = now.japanese - now.references
    groups = [_Group(job.embedder, len(now.spans) - len(now.references), list(todo))]
    if japanese and job.settings.embedding.japanese_backend:
        with job.clock.stage("code_setup"):
            encoder = make_japanese_embedder(job.settings, job.embedder)
        if encoder.model_id != job.embedder.model_id:
            groups = [
                _Group(
                    job.embedder,
                    groups[0].size - len(japanese),
                    [e for e in todo if e.excerpt_id not in japanese],
                    exclude=japanese,
                ),
                _Group(
                    encoder, len(japanese), [e for e in todo if e.excerpt_id in japanese], "Japanese excerpts", japanese
                ),
            ]
    suggestions: list[Suggestion] = []
    scorings, notes, threshold = [], [], None
    for group in groups:
        embedder, part, label = group.embedder, group.todo, group.label
        if label and not group.size:
            continue
        with job.clock.stage("code_setup"):
            coder = build_coder(job.loaded, job.settings, job.store, embedder, job.cache)
        with job.clock.stage("code"):
            # A label-free scorer ranks against the whole pool: its evidence is computed once,
            # to prepare the scorer and then to score (rules are not matched twice).
            pool_evidence, row_of = None, {}
            if part and not coder.scorer.prepared:
                pool = group.pool(now)
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
            notes.append(f"{group.size} {label} scored with {embedder.model_id}: {coder.scorer.description()}")
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
