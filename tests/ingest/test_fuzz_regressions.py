"""Every input that once crashed a fuzz target (scripts/fuzz.py) is replayed: it must now end in a
clear FieldnotesError or succeed with every invariant of its target holding."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import DATA, load_fuzz

REGRESSIONS = DATA / "fuzz_regressions"


# One .bin file per crash, named after the bug; tests/data/fuzz_regressions/README.md says what each was.
CASES = sorted(REGRESSIONS.glob("*/*.bin"))


def test_every_regression_folder_is_a_target():
    fuzz = load_fuzz()
    assert {path.parent.name for path in CASES} <= set(fuzz.TARGETS)


@pytest.mark.parametrize("case", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_crashing_input_is_handled(case: Path):
    fuzz = load_fuzz()
    error = fuzz.run_once(fuzz.TARGETS[case.parent.name], case.read_bytes())
    if error is not None:
        raise error
