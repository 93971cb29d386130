"""The labels made on real documents (../shared/real-docs) still point at their text.

Labels are anchors into the cleaned text (fieldnotes/anchors.py), so a change to ingestion can
move or lose them; this test says so at once. It skips where ../shared is absent, except in CI.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import sys

import pytest
from conftest import REPO

from fieldnotes.anchors import Anchor, letter_stream, locate

REAL_DOCS = REPO.parent / "shared" / "real-docs"
LABELS = REPO / "benchmarks" / "real"
# Anchored in the text fieldnotes cleans (the others, in the readers' raw text, are checked by
# benchmarks/real/ingest_eval.py).
CLEANED_TEXT_LABELS = ("coproduction_labels.csv", "japanese_labels.csv", "sites_labels.csv")

if not REAL_DOCS.is_dir():
    if os.environ.get("CI") == "true":
        pytest.fail(f"{REAL_DOCS} is missing; CI must check the real labels", pytrace=False)
    pytest.skip("../shared/real-docs is not here", allow_module_level=True)


def label_tool():
    spec = importlib.util.spec_from_file_location("fieldnotes_label_tool", LABELS / "label_tool.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", CLEANED_TEXT_LABELS)
def test_every_real_label_is_found_in_its_document(name: str) -> None:
    tool = label_tool()
    with (LABELS / name).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows
    lost = []
    streams: dict[str, tuple[str, list[int]]] = {}
    for row in rows:
        text = tool.cleaned(row["file"])[0]
        stream = streams.setdefault(row["file"], letter_stream(text))
        anchor = Anchor(int(row["letter_start"]), int(row["letter_count"]), row["digest"], row["head"])
        if locate(text, anchor, stream) is None:
            lost.append((row["file"], row["letter_start"]))
    assert not lost, f"{len(lost)} of {len(rows)} labels of {name} no longer found: {lost[:5]}"


def test_label_files_hold_no_quoted_text() -> None:
    """Notes are the annotators' own words: none of them repeats a run of 8+ words of a document."""
    tool = label_tool()
    for name in CLEANED_TEXT_LABELS:
        with (LABELS / name).open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            words = row.get("note", "").split()
            if len(words) < 8:
                continue
            text = " ".join(tool.cleaned(row["file"])[0].split())
            for start in range(len(words) - 7):
                assert " ".join(words[start : start + 8]) not in text, (name, row["file"], row["letter_start"])
