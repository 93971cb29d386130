"""Golden check: the sample corpus's outputs are byte-identical to the stored digests.

A refactoring must not change what researchers get. When a change is meant to alter the
outputs, regenerate the digests on purpose and name the change in the commit:

    FIELDNOTES_UPDATE_GOLDEN=1 python -m pytest tests/e2e/test_golden.py
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("golden.json")
TABLES = (
    "passages.csv",
    "excerpts.csv",
    "themes.csv",
    "code_by_site.csv",
    "topic_by_site.csv",
    "cooccurrence.csv",
)
EXPORTS = ("csv", "md", "qdpx")

pytestmark = pytest.mark.slow


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_digests(out: Path, exports: dict[str, Path]) -> dict[str, str]:
    """Digests of the tables and exports; a qdpx by its members (the zip's own dates aside)."""
    digests = {name: _sha256((out / name).read_bytes()) for name in TABLES}
    for fmt, path in exports.items():
        if fmt == "qdpx":
            with zipfile.ZipFile(path) as archive:
                for member in sorted(archive.namelist()):
                    digests[f"export.qdpx/{member}"] = _sha256(archive.read(member))
        else:
            digests[f"export.{fmt}"] = _sha256(path.read_bytes())
    return digests


@pytest.fixture(scope="module")
def sample_outputs(tmp_path_factory, settings, embedder) -> dict[str, str]:
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.run import export
    from fieldnotes.pipeline import code_corpus

    out = tmp_path_factory.mktemp("golden")
    code_corpus(REPO / "corpus", out, settings, embedder=embedder)
    loaded = load_codebook(settings.coding.codebook, check_patterns=False)
    exports = {fmt: out / f"export.{fmt}" for fmt in EXPORTS}
    for fmt, path in exports.items():
        export(out, loaded, settings, fmt, status="all", output=path)
    return output_digests(out, exports)


def test_sample_corpus_outputs_match_the_golden_digests(sample_outputs: dict[str, str]) -> None:
    if os.environ.get("FIELDNOTES_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(sample_outputs, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip(f"golden digests rewritten in {GOLDEN}")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    changed = sorted(
        name for name in expected.keys() | sample_outputs.keys() if expected.get(name) != sample_outputs.get(name)
    )
    assert not changed, f"outputs differ from the golden digests: {changed[:12]} ({len(changed)} in all)"
