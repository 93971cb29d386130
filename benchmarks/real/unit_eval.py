"""Sentence against passage as the coding unit, on the real co-production set, scored per passage.

    python benchmarks/real/unit_eval.py [--split dev|test]

Truth per passage is the union of the codes of its labelled excerpts (passages with at least one
labelled excerpt only, as `coding_eval.py`'s passage unit). Two ways to predict a passage's codes,
both with the shipped coder (calibration and threshold as they ship):
  sentence unit   each excerpt scored alone, a passage gets a code when any of its labelled
                  excerpts does (`coding_eval.py`'s passage figures);
  passage unit    `[coding] unit = "passage"`: the passage's text (first to last sentence) scored
                  as one excerpt.
Nothing is fitted. Numbers only; no document text is written anywhere.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
from coding_eval import FileCachedEmbedder, figures, map_labels, predict_all, system_coder  # noqa: E402
from label_tool import cleaned  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    args = parser.parse_args()

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.excerpts import build_excerpts
    from fieldnotes.settings import load_settings

    settings = load_settings(None)
    loaded = load_codebook(settings.coding.codebook)
    code_ids = loaded.codebook.code_ids
    index = {c: i for i, c in enumerate(code_ids)}
    embedder = FileCachedEmbedder(settings, "real-coding")
    parts = system_coder(loaded, settings, embedder)
    mapping = map_labels()
    units = [u for u in mapping.units if u.split == args.split]
    # passage -> (truth, labelled excerpt keys)
    truth: dict[tuple[str, str], np.ndarray] = {}
    members: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for unit in units:
        for passage in unit.passage_ids:
            key = (unit.file, passage)
            row = truth.setdefault(key, np.zeros(len(code_ids), dtype=bool))
            for code in unit.codes:
                row[index[code]] = True
            members.setdefault(key, []).extend(unit.excerpt_keys)
    keys = sorted(truth)
    passage_text: dict[tuple[str, str], str] = {}
    for file in sorted({f for f, _ in keys}):
        text, passages, _ = cleaned(file)
        rows = [
            {"passage_id": p.passage_id, "document_id": p.document_id, "document": file, "site": p.site}
            for p in passages
        ]
        by_passage = build_excerpts(
            rows,
            {p.passage_id: list(p.sentences) for p in passages},
            {p.document_id: text for p in passages},
            40,
            unit="passage",
        )
        passage_text.update({(file, e.passage_id): e.text for e in by_passage})
    gold = np.array([truth[k] for k in keys])
    # sentence unit: any labelled excerpt of the passage
    excerpt_keys = sorted({e for k in keys for e in members[k]})
    excerpt_texts = [mapping.excerpts[e].text for e in excerpt_keys]
    sentence = predict_all(parts, excerpt_texts, embedder.encode(excerpt_texts)).predictions["fieldnotes"]
    row_of = {e: i for i, e in enumerate(excerpt_keys)}
    by_sentence = np.array([sentence[[row_of[e] for e in members[k]]].any(axis=0) for k in keys])
    # passage unit: the passage as one excerpt
    texts = [passage_text[k] for k in keys]
    by_passage_unit = predict_all(parts, texts, embedder.encode(texts)).predictions["fieldnotes"]
    print(
        f"{args.split}: {len(keys)} passages with labelled excerpts (mean {np.mean([len(t) for t in texts]):.0f} chars)"
    )
    for label, predicted in (("sentence unit, any excerpt", by_sentence), ("passage unit", by_passage_unit)):
        fig = figures(predicted, gold, code_ids)
        m = fig["micro"]
        print(
            f"  {label:28s} micro P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f}  "
            f"macro {fig['macro_f1']:.2f}  sugg/passage {fig['suggestions_per_unit']:.2f} "
            f"(gold {fig['gold_codes_per_unit']:.2f})"
        )


if __name__ == "__main__":
    main()
