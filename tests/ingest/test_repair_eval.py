"""The repair benchmark's scorer and damage generator (benchmarks/repair_eval.py).

These tests check the measuring instrument, not the repair: no threshold on repair quality.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "repair_eval.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("repair_eval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


ev = _load()
P = ev.PARAGRAPH_BREAK


def _truth(reference: list[str], damaged: dict[int, str], seams: set[int] | None = None) -> object:
    marks = [{damaged[i]} if i in damaged else set() for i in range(len(reference))]
    return ev.Truth(reference, marks, seams or set())


def test_tokens_split_on_ascii_whitespace_only() -> None:
    assert ev.tokens_of("dif ferent\nstaff\u00a0members") == ["dif", "ferent", "staff\u00a0members"]


def test_repaired_damaged_token_counts_as_repaired() -> None:
    truth = _truth(["they", "are", "different", "from", "us"], {2: ev.STRAY})
    tally = ev.score(truth, ["they", "are", "different", "from", "us"])
    assert (tally.damaged[ev.ALL], tally.repaired[ev.ALL], tally.repaired[ev.STRAY]) == (1, 1, 1)
    assert (tally.undamaged, tally.changed, tally.unmatched_output) == (4, 0, 0)


def test_unrepaired_damaged_token_counts_as_not_repaired() -> None:
    truth = _truth(["they", "are", "different", "from", "us"], {2: ev.STRAY})
    tally = ev.score(truth, ["they", "are", "dif", "ferent", "from", "us"])
    assert (tally.damaged[ev.STRAY], tally.repaired[ev.STRAY]) == (1, 0)
    assert (tally.undamaged, tally.changed, tally.unmatched_output) == (4, 0, 2)
    assert tally.errors[ev.STRAY] == [("they are [different] from us", "they are dif ferent from us")]


def test_changed_undamaged_token_counts_as_false_change() -> None:
    truth = _truth(["be", "a", "member", "of", "the", "staff"], {2: ev.STRAY})
    tally = ev.score(truth, ["beam", "ember", "of", "the", "staff"])  # "be a m ember" joined wrongly
    assert (tally.damaged[ev.ALL], tally.repaired[ev.ALL]) == (1, 0)
    assert (tally.undamaged, tally.changed) == (5, 2)


def test_page_break_seam_needs_its_two_tokens_adjacent() -> None:
    truth = _truth(["the", "han", "was", "started", "late"], {2: ev.PAGE_SEAM, 3: ev.PAGE_SEAM}, {2})
    rejoined = ev.score(truth, ["the", "han", "was", "started", "late"])
    assert (rejoined.damaged[ev.PAGE_SEAM], rejoined.repaired[ev.PAGE_SEAM]) == (2, 2)
    left_cut = ev.score(truth, ["the", "han", "was", P, "started", "late"])
    assert left_cut.repaired[ev.PAGE_SEAM] == 0 and left_cut.changed == 0
    with_header = ev.score(truth, ["the", "han", "was", "Working", "Paper", "started", "late"])
    assert with_header.repaired[ev.PAGE_SEAM] == 0 and with_header.unmatched_output == 2


def test_paragraph_breaks_and_compounds() -> None:
    truth = ev.Truth(["well-being", "matters.", P, "Next", "day."], [{ev.COMPOUND}, set(), set(), set(), set()])
    tally = ev.score(truth, ["wellbeing", "matters.", "Next", "day."])
    assert (tally.breaks, tally.breaks_lost) == (1, 1)
    assert tally.damaged[ev.ALL] == 0  # a compound broken at its own hyphen is not damage
    assert (tally.undamaged, tally.changed) == (4, 1)
    assert (tally.exposed[ev.COMPOUND], tally.exposed_changed[ev.COMPOUND]) == (1, 1)


@pytest.fixture(scope="module")
def five() -> list[str]:
    return ev.heldout_paragraphs()[:5]


def test_perfect_output_scores_perfectly(five: list[str]) -> None:
    for sample in ev.damaged_samples(five, random.Random(13)):
        tally = ev.score(sample.truth, sample.truth.reference)
        assert tally.repaired == tally.damaged
        assert (tally.changed, tally.breaks_lost, tally.unmatched_output) == (0, 0, 0)


def test_evaluation_on_five_paragraphs(five: list[str]) -> None:
    result = ev.evaluate("test", five, seed=13)
    clean_tokens = sum(len(ev.tokens_of(paragraph)) for paragraph in five)
    for tally in (result.repair, result.baseline):
        assert tally.damaged[ev.ALL] > 0
        assert tally.damaged[ev.ALL] + tally.undamaged == clean_tokens
        assert all(0 <= tally.repaired[kind] <= tally.damaged[kind] for kind in tally.damaged)
        assert tally.breaks == len(five) - result.documents  # between paragraphs of a document
    assert result.clean_repair.undamaged == clean_tokens
    # Lines joined with spaces restore undamaged, unhyphenated text exactly.
    assert (result.clean_baseline.changed, result.clean_baseline.breaks_lost) == (0, 0)
    # Without repair a cut paragraph stays cut.
    assert result.baseline.repaired[ev.PAGE_SEAM] == result.baseline.repaired[ev.COLUMN_SEAM] == 0
    assert ev.report(result, 13) == ev.report(ev.evaluate("test", five, seed=13), 13)
