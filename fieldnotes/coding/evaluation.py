"""Calibration and evaluation: fit the combiner on a codebook's reference excerpts, say which
calibration a codebook is scored with, and score a labelled gold file against two baselines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fieldnotes.codebook import LoadedCodebook
from fieldnotes.coding.calibration import reference_warnings
from fieldnotes.coding.gold import GoldSet, Scores, load_gold, score_predictions
from fieldnotes.coding.learned import LearnedSuggester, TrainingSet, codebook_training, merge
from fieldnotes.coding.run import (
    CROSS_VALIDATION_FOLDS,
    build_coder,
    build_suggesters,
    cached_encoder,
    reference_training,
    suggester_features,
)
from fieldnotes.coding.suggest import Batch, Calibration, Prototypes, choose_threshold, fit_calibration
from fieldnotes.embedding import (
    Embedder,
    VectorCache,
    make_embedder,
    make_japanese_embedder,
    open_embedding_cache,
    vector_space,
)
from fieldnotes.settings import Settings

if TYPE_CHECKING:
    import numpy as np

    from fieldnotes.store import Store


def _out_of_fold_learned(loaded: LoadedCodebook, prototypes: Prototypes, reference: TrainingSet) -> np.ndarray:
    """Learned-suggester scores for each reference excerpt from a model that never saw it."""
    import numpy as np
    from sklearn.model_selection import KFold

    base = codebook_training(loaded.codebook, prototypes)
    scores = np.zeros(reference.labels.shape, dtype=np.float32)
    folds = KFold(CROSS_VALIDATION_FOLDS, shuffle=True, random_state=0)
    for train, held_out in folds.split(reference.vectors):
        fold = TrainingSet(reference.vectors[train], reference.labels[train])
        model = LearnedSuggester(loaded.codebook, merge(base, fold))
        batch = Batch([""] * len(held_out), reference.vectors[held_out])
        scores[held_out] = model.evidence(batch).features["learned"]
    return scores


def reference_evidence(
    loaded: LoadedCodebook, settings: Settings, cache: VectorCache, embedder: Embedder
) -> tuple[GoldSet, dict[str, np.ndarray]]:
    """Evidence for the reference excerpts, the learned part cross-validated."""
    from fieldnotes.codebook import CodebookError

    embed = cached_encoder(embedder, cache)
    gold, training = reference_training(loaded, embed)
    if gold is None or training is None:
        raise CodebookError(f"{loaded.path}: calibration needs labelled reference excerpts (a 'reference' CSV)")
    prototypes = Prototypes.build(loaded.codebook, embed)
    names = [n for n in settings.coding.suggesters if n != "learned"]
    batch = Batch(gold.texts, training.vectors)
    features: dict[str, np.ndarray] = {}
    for suggester in build_suggesters(names, loaded, prototypes, None):
        features.update(suggester.evidence(batch).features)
    if "learned" in settings.coding.suggesters:
        features["learned"] = _out_of_fold_learned(loaded, prototypes, training)
    return gold, features


def calibrate(loaded: LoadedCodebook, settings: Settings, store: Store, out: Path | None = None) -> Calibration:
    """Fit the combiner on the codebook's reference excerpts and save it beside the codebook."""
    embedder = make_embedder(settings)
    with open_embedding_cache(settings.embedding, store) as (cache, _):
        gold, features = reference_evidence(loaded, settings, cache, embedder)
    names = [feature for features in suggester_features(settings.coding.suggesters).values() for feature in features]
    calibration = fit_calibration(features, gold.labels, names, vector_space(embedder.model_id))
    calibration.fitted_on = {
        "reference": gold.path.name,
        "excerpts": len(gold.texts),
        "codebook": loaded.describe(),
        "codebook_id": loaded.codebook.id,
        "suggesters": list(settings.coding.suggesters),
        "warnings": reference_warnings(gold, loaded.codebook.code_ids),
    }
    calibration.save(out or loaded.calibration_path)
    return calibration


@dataclass
class MethodResult:
    name: str
    per_code: list[Scores]
    micro: Scores


@dataclass
class Evaluation:
    gold: Path
    codes: list[str]
    excerpts: int
    methods: list[MethodResult]
    notes: list[str]

    def table(self) -> list[dict[str, object]]:
        """Tidy rows: method, code (or 'micro'), precision, recall, f1, support."""
        rows = []
        for method in self.methods:
            for code, scores in [*zip(self.codes, method.per_code, strict=True), ("micro", method.micro)]:
                rows.append(
                    {
                        "method": method.name,
                        "code": code,
                        "precision": round(scores.precision, 3),
                        "recall": round(scores.recall, 3),
                        "f1": round(scores.f1, 3),
                        "support": scores.tp + scores.fn,
                    }
                )
        return rows


def gold_excerpts(texts: list[str], settings: Settings) -> tuple[list[str], list[int], list[str]]:
    """Each gold text cut into the excerpts `fieldnotes code` would make of it as a passage
    (sentences by the language's splitter, short ones joined to a neighbour; the whole text with
    `[coding] unit = "passage"`; sentences for unit "document" too, whose codes are any
    sentence's): the excerpt texts, the gold row each belongs to, and each excerpt's language."""
    from fieldnotes.coding.excerpts import group_sentences
    from fieldnotes.ingest.segment import detect_language, splitters_for

    splitters = splitters_for(settings.segment)
    pieces: list[str] = []
    owner: list[int] = []
    languages: list[str] = []
    for row, text in enumerate(texts):
        language = detect_language(text)
        splitter = splitters.get(language) or splitters["en"]
        if settings.coding.unit == "passage":
            spans = [(0, len(text))]
        else:
            spans = group_sentences(splitter.split([text])[0], settings.coding.min_excerpt_chars) or [(0, len(text))]
        for start, end in spans:
            pieces.append(text[start:end])
            owner.append(row)
            languages.append(language)
    return pieces, owner, languages


def evaluate(gold_path: Path, loaded: LoadedCodebook, settings: Settings, store: Store) -> Evaluation:
    """Score a labelled gold file with fieldnotes and with the two baselines, at the unit
    `fieldnotes code` suggests for: each gold text is cut into excerpts as `code` cuts a passage,
    scored as `code` scores them (Japanese excerpts through `[embedding] japanese_backend`), and
    gets a code when any of its excerpts does.

    Baseline thresholds are chosen on the reference excerpts, never on the gold file.
    Evaluating the reference file itself gives cross-validated (out-of-fold) figures.
    """
    import numpy as np

    notes: list[str] = []
    gold = load_gold(gold_path, loaded.codebook.code_ids)  # a bad code is reported before any model loads
    embedder = make_embedder(settings)
    with open_embedding_cache(settings.embedding, store) as (cache, cache_note):
        notes.extend([cache_note] if cache_note else [])
        reference: GoldSet | None = None
        reference_features: dict[str, np.ndarray] = {}
        if loaded.reference_path is not None:
            reference, reference_features = reference_evidence(loaded, settings, cache, embedder)
        in_sample = reference is not None and Path(gold_path).resolve() == reference.path.resolve()
        coder = build_coder(loaded, settings, store, embedder, cache)
        notes.extend(coder.notes)
        if in_sample:
            notes.append("the gold file is the codebook's reference set: learned scores are 5-fold cross-validated")
            coder.scorer.prepare(reference_features)
            cells = {"fieldnotes": coder.scorer.score(reference_features) >= _thresholds(loaded, coder.threshold)}
            features, owner = reference_features, np.arange(len(gold.texts))
        else:
            pieces, owners, languages = gold_excerpts(gold.texts, settings)
            owner = np.array(owners, dtype=np.int64)
            if settings.coding.unit == "document":
                notes.append(
                    "unit 'document': each gold text is one document, cut into sentences as `fieldnotes code` "
                    "cuts them; it gets a code when any of its sentences does, as `code` then suggests it once"
                )
            elif len(pieces) != len(gold.texts):
                notes.append(
                    f"{len(gold.texts)} gold texts cut into {len(pieces)} excerpts as `fieldnotes code` cuts "
                    "passages; a text gets a code when any of its excerpts does"
                )
            k = len(loaded.codebook.codes)
            scored = np.zeros((len(pieces), k), dtype=bool)
            features = {}
            groups = [(coder, [i for i, language in enumerate(languages) if language != "ja"], "")]
            japanese = [i for i, language in enumerate(languages) if language == "ja"]
            if japanese and settings.embedding.japanese_backend:
                encoder = make_japanese_embedder(settings, embedder)
                if encoder.model_id != embedder.model_id:
                    japanese_coder = build_coder(loaded, settings, store, encoder, cache)
                    groups.append((japanese_coder, japanese, "Japanese"))
                    notes.append(f"{len(japanese)} Japanese excerpt(s) scored with {encoder.model_id}")
                else:
                    groups[0][1].extend(japanese)
            else:
                groups[0][1].extend(japanese)
            for group_coder, rows, label in groups:
                rows.sort()
                if not rows:
                    continue
                texts = [pieces[i] for i in rows]
                found = group_coder.evidence(texts, group_coder.embed(texts)).features
                group_coder.scorer.prepare(found)  # label-free: ranked within the gold excerpts
                scored[rows] = group_coder.scorer.score(found) >= _thresholds(loaded, group_coder.threshold)
                if not label:  # the baselines are measured on the main model's evidence
                    features = {name: _spread(values, rows, len(pieces)) for name, values in found.items()}
            cells = {"fieldnotes": scored}
    methods = [MethodResult("fieldnotes", *score_predictions(_any(cells["fieldnotes"], owner, gold), gold.labels))]
    if "rule" in features:
        predicted = _any(features["rule"] > 0, owner, gold)
        methods.append(MethodResult("keywords only", *score_predictions(predicted, gold.labels)))
    if reference is None:
        notes.append("the codebook has no reference set: no zero-shot baseline (its threshold is chosen on one)")
        return Evaluation(Path(gold_path), loaded.codebook.code_ids, len(gold.texts), methods, notes)
    # Zero-shot: similarity to the code definitions, with the threshold that is best on the reference set.
    definition_threshold = choose_threshold(
        reference_features["definition"].reshape(-1) if "definition" in reference_features else np.zeros(1),
        reference.labels.reshape(-1),
        0.0,
    )
    if "definition" in features:
        predicted = _any(features["definition"] >= definition_threshold, owner, gold)
        methods.append(MethodResult("zero-shot definitions", *score_predictions(predicted, gold.labels)))
        notes.append(f"zero-shot threshold {definition_threshold:.2f} (best F1 on the reference set)")
    return Evaluation(Path(gold_path), loaded.codebook.code_ids, len(gold.texts), methods, notes)


def _thresholds(loaded: LoadedCodebook, default: float) -> np.ndarray:
    import numpy as np

    return np.array([code.threshold or default for code in loaded.codebook.codes])


def _spread(values: np.ndarray, rows: list[int], n: int) -> np.ndarray:
    """A group's evidence placed at its rows of all `n` excerpts (others -inf: never suggested)."""
    import numpy as np

    out = np.full((n, values.shape[1]), -np.inf, dtype=np.float64)
    out[rows] = values
    return out


def _any(cells: np.ndarray, owner: np.ndarray, gold: GoldSet) -> np.ndarray:
    """Per gold text: a code when any of its excerpts has it."""
    import numpy as np

    predicted = np.zeros(gold.labels.shape, dtype=bool)
    np.logical_or.at(predicted, owner, cells.astype(bool))
    return predicted


def format_evaluation(evaluation: Evaluation) -> str:
    names = [method.name for method in evaluation.methods]
    header = f"{'code':26s}" + "".join(f"{name:>26s}" for name in names) + f"{'n':>5s}"
    lines = [
        f"{evaluation.gold}: {evaluation.excerpts} excerpts; precision / recall / F1 per method",
        header,
    ]
    rows = [*evaluation.codes, "micro"]
    for index, code in enumerate(rows):
        cells = []
        support = 0
        for method in evaluation.methods:
            scores = method.micro if code == "micro" else method.per_code[index]
            support = scores.tp + scores.fn
            cells.append(f"{scores.precision:.2f} / {scores.recall:.2f} / {scores.f1:.2f}")
        lines.append(f"{code:26s}" + "".join(f"{cell:>26s}" for cell in cells) + f"{support:>5d}")
    lines.extend(f"note: {note}" for note in evaluation.notes)
    return "\n".join(lines)


def evaluation_json(evaluation: Evaluation) -> str:
    return json.dumps({"gold": str(evaluation.gold), "rows": evaluation.table(), "notes": evaluation.notes}, indent=2)
