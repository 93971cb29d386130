"""Every input that once crashed a fuzz target (scripts/fuzz.py) is replayed: it must now end in a
clear FieldnotesError or succeed with every invariant of its target holding."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from conftest import DATA, REPO

REGRESSIONS = DATA / "fuzz_regressions"


def load_fuzz():
    """scripts/fuzz.py as a module (its targets need no atheris)."""
    if "fieldnotes_fuzz" not in sys.modules:
        spec = importlib.util.spec_from_file_location("fieldnotes_fuzz", REPO / "scripts" / "fuzz.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["fieldnotes_fuzz"] = module
        spec.loader.exec_module(module)
    return sys.modules["fieldnotes_fuzz"]


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
