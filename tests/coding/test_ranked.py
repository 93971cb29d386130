"""The label-free scorer for codebooks without a calibration of their own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldnotes.coding.ranked import RankedScorer
from fieldnotes.errors import FieldnotesError


def evidence(n: int, k: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "positive_max": rng.uniform(-0.1, 0.7, (n, k)).astype(np.float32),
        "negative_max": np.full((n, k), -1.0, dtype=np.float32),
        "rule": (rng.uniform(size=(n, k)) > 0.95).astype(np.float32),
        "learned": rng.uniform(size=(n, k)).astype(np.float32),
    }


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60), st.integers(1, 9), st.floats(0.1, 2.0), st.integers(0, 1000))
def test_the_rate_sets_how_many_cells_are_suggested(n: int, k: int, rate: float, seed: int) -> None:
    scorer = RankedScorer(rate, use_learned=False, model="m")
    found = evidence(n, k, seed)
    scorer.prepare(found)
    scores = scorer.score(found)
    assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
    wanted = min(round(rate * n), n * k)
    # Exactly the wanted number unless cells tie at the cut (continuous values: they do not).
    assert (scores >= scorer.threshold).sum() == wanted


def test_scores_do_not_depend_on_the_order_of_the_excerpts() -> None:
    found = evidence(40, 5)
    order = np.random.default_rng(1).permutation(40)
    a, b = RankedScorer(0.5, True, "m"), RankedScorer(0.5, True, "m")
    a.prepare(found)
    b.prepare({name: values[order] for name, values in found.items()})
    assert np.allclose(a.score(found)[order], b.score({name: values[order] for name, values in found.items()}))


def test_a_rule_hit_raises_and_a_nearer_negative_prototype_lowers_a_score() -> None:
    found = evidence(30, 4)
    scorer = RankedScorer(0.5, use_learned=False, model="m")
    scorer.prepare(found)
    base = scorer.score(found)[0, 0]
    hit = {**found, "rule": found["rule"].copy()}
    hit["rule"][0, 0] = 1.0 - found["rule"][0, 0]
    raised = scorer.score(hit)[0, 0]
    assert raised > base if found["rule"][0, 0] == 0 else raised < base
    near = {**found, "negative_max": found["negative_max"].copy()}
    near["negative_max"][0, 0] = found["positive_max"][0, 0] + 0.1
    assert scorer.score(near)[0, 0] < base


def test_a_tiny_pool_ranks_by_similarity_without_dividing_by_zero() -> None:
    found = {
        "positive_max": np.array([[0.5, 0.1, 0.1]], dtype=np.float32),
        "negative_max": np.full((1, 3), -1.0, dtype=np.float32),
        "rule": np.zeros((1, 3), dtype=np.float32),
    }
    scorer = RankedScorer(1.0, use_learned=False, model="m")
    scorer.prepare(found)
    scores = scorer.score(found)
    assert np.isfinite(scores).all()
    assert scores[0].argmax() == 0 and scores[0, 0] >= scorer.threshold > scores[0, 1]


def test_an_unprepared_scorer_and_missing_evidence_are_refused() -> None:
    scorer = RankedScorer(0.5, use_learned=False, model="m")
    with pytest.raises(FieldnotesError, match="not prepared"):
        scorer.score(evidence(3, 2))
    with pytest.raises(FieldnotesError, match="needs the evidence 'positive_max'"):
        scorer.prepare({"rule": np.zeros((3, 2))})
