"""SetFit-style contrastive fine-tuning of the sentence encoder, against the frozen encoder + probe.

    python benchmarks/real/finetune_lab.py [--split dev] [--pairs 10] [--epochs 1]

Research harness for issue 14, item 2 (DEV only unless `--split test`, which is run once after
choosing). Two situations on one split of benchmarks/real/coproduction_labels.csv:

  A. no reviewed decisions: the encoder fine-tuned on the project's reference set only, every unit
     of the split scored;
  B. a quarter of the split reviewed, most uncertain first (the same units the frozen system
     would show first: chosen as benchmarks/real/decisions_curve.py chooses them, in rounds, with
     the frozen encoder): the encoder fine-tuned on the reference set plus the reviewed units,
     scored on the units not reviewed.

Fine-tuning is SetFit's recipe written in plain torch (no `datasets`/`accelerate`): pairs of
labelled texts, target cosine 1 when they share a code and 0 when they share none (texts with no
code only ever in negative pairs), `--pairs` pairs per text, mean-squared error on the cosine,
AdamW at 2e-5, batch 16, fixed seeds. After fine-tuning, everything is embedded again with the
new encoder (excerpts, reference set, codebook prototypes) and the system is rebuilt the way
fieldnotes builds it: rules, semantic evidence, the learned probe trained on codebook examples,
reference set and decisions, and the shipped calibration at its threshold. Also printed: the
probe alone at 0.5. Numbers only; no document text is written anywhere.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
from coding_eval import FileCachedEmbedder, figures, system_coder  # noqa: E402
from coding_lab import build_rows  # noqa: E402
from decisions_curve import SimulatedReview  # noqa: E402


def make_pairs(label_sets: list[frozenset[str]], per_text: int, seed: int) -> list[tuple[int, int, float]]:
    rng = random.Random(seed)
    coded = [i for i, labels in enumerate(label_sets) if labels]
    by_code: dict[str, list[int]] = {}
    for i in coded:
        for code in label_sets[i]:
            by_code.setdefault(code, []).append(i)
    pairs = []
    everyone = list(range(len(label_sets)))
    for i, labels in enumerate(label_sets):
        for _ in range(per_text):
            if labels and rng.random() < 0.5:
                code = rng.choice(sorted(labels))
                j = rng.choice(by_code[code])
                if j != i:
                    pairs.append((i, j, 1.0))
            else:
                j = rng.choice(everyone)
                if j != i and not (labels & label_sets[j]) and (labels or label_sets[j]):
                    pairs.append((i, j, 0.0))
    return pairs


def fine_tune(folder: str, texts: list[str], label_sets: list[frozenset[str]], per_text: int, epochs: int):
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = SentenceTransformer(folder, device="cpu", local_files_only=True)
    pairs = make_pairs(label_sets, per_text, 0)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-5)
    model.train()
    started = time.perf_counter()
    batch = 16
    order = list(range(len(pairs)))
    for epoch in range(epochs):
        random.Random(epoch).shuffle(order)
        for start in range(0, len(order), batch):
            chosen = [pairs[k] for k in order[start : start + batch]]
            left = model.tokenize([texts[i] for i, _, _ in chosen])
            right = model.tokenize([texts[j] for _, j, _ in chosen])
            a = model(left)["sentence_embedding"]
            b = model(right)["sentence_embedding"]
            cosine = torch.nn.functional.cosine_similarity(a, b)
            target = torch.tensor([y for _, _, y in chosen])
            loss = torch.nn.functional.mse_loss(cosine, target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    seconds = time.perf_counter() - started

    def encode(batch_texts):
        vectors = model.encode(list(batch_texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        return vectors.astype(np.float32)

    return encode, len(pairs), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--only", choices=("A", "B"), help="run one situation only")
    parser.add_argument(
        "--b-pairs-from",
        default="both",
        choices=("both", "decisions"),
        help="B: pairs from the reference set and the reviewed units, or from the reviewed units only",
    )
    args = parser.parse_args()

    from fieldnotes.codebook import load_codebook
    from fieldnotes.coding.learned import LearnedSuggester, TrainingSet, codebook_training, merge
    from fieldnotes.coding.suggest import Batch, Prototypes, RuleSuggester, SemanticSuggester
    from fieldnotes.settings import load_settings

    settings = load_settings(None)
    loaded = load_codebook(settings.coding.codebook)
    codebook = loaded.codebook
    code_ids = codebook.code_ids
    embedder = FileCachedEmbedder(settings, "real-coding")
    parts = system_coder(loaded, settings, embedder)
    coder = parts.coder
    rows, table_texts, table_vec, table_ctx = build_rows(embedder, code_ids, 1)
    ref = parts.reference
    ref_labels = ref.labels.astype(np.int8)
    ref_training = TrainingSet(embedder.encode(ref.texts), ref_labels)
    units = [u for u, s in enumerate(rows.split) if s == args.split]
    k = len(code_ids)
    threshold = coder.threshold
    rules = RuleSuggester(codebook)

    # --- which units a reviewer sees first (frozen system, rounds, as decisions_curve.py) ---------------
    review = SimulatedReview(coder, rows, (table_texts, table_vec, table_ctx), ref_training)
    for step in (10, 25, 50, round(0.25 * len(units))):
        review.review_until(step, units)
    reviewed, decided_x, decided_y = review.reviewed, review.decided, review.labels
    held = [u for u in units if u not in reviewed]

    def evaluate(encode, decisions: bool, idx: list[int]) -> dict[str, dict]:
        """The system rebuilt on `encode`'s vectors, scored on units `idx`."""
        prototypes = Prototypes.build(codebook, encode)
        semantic = SemanticSuggester(codebook, prototypes)
        sets = [codebook_training(codebook, prototypes), TrainingSet(encode(ref.texts), ref_labels)]
        if decisions:
            sets.append(TrainingSet(encode([table_texts[e] for e in decided_x]), np.array(decided_y)))
        learned = LearnedSuggester(codebook, merge(*sets))
        needed = sorted({e for u in idx for e in rows.keys[u]})
        pos = {e: i for i, e in enumerate(needed)}
        texts = [table_texts[e] for e in needed]
        batch = Batch(texts, encode(texts))
        f: dict[str, np.ndarray] = {}
        for suggester in (rules, semantic, learned):
            f.update(suggester.evidence(batch).features)
        combined = coder.scorer.score(f) >= threshold
        alone = f["learned"] >= 0.5
        truth = rows.labels[idx].astype(bool)
        out = {}
        for name, cells in (("shipped calibration", combined), ("probe alone >= 0.5", alone)):
            predicted = np.array([np.any([cells[pos[e]] for e in rows.keys[u]], axis=0) for u in idx])
            out[name] = figures(predicted.reshape(len(idx), k), truth, code_ids)
        return out

    def show(title: str, result: dict[str, dict]) -> None:
        for name, fig in result.items():
            m = fig["micro"]
            print(
                f"  {title:46s} {name:20s} P {m['precision']:.2f} R {m['recall']:.2f} F1 {m['f1']:.2f} "
                f"macro {fig['macro_f1']:.2f} sugg/unit {fig['suggestions_per_unit']:.2f}"
            )

    print(f"{args.split}: {len(units)} units; B reviews {len(reviewed)} (most uncertain first), scores {len(held)}")
    ref_sets = [frozenset(code_ids[c] for c in np.flatnonzero(row)) for row in ref_labels]
    if args.only in (None, "A"):
        show("A frozen encoder, no decisions", evaluate(embedder.encode, False, units))
        folder = str(embedder._inner.folder)
        encode, n_pairs, seconds = fine_tune(folder, list(ref.texts), ref_sets, args.pairs, args.epochs)
        show(f"A fine-tuned on reference ({n_pairs} pairs, {seconds:.0f} s)", evaluate(encode, False, units))
    if args.only in (None, "B"):
        show("B frozen encoder + probe on decisions", evaluate(embedder.encode, True, held))
        unit_sets = [frozenset(code_ids[c] for c in np.flatnonzero(rows.labels[u])) for u in reviewed]
        unit_texts = [table_texts[rows.keys[u][0]] for u in reviewed]
        if args.b_pairs_from == "both":
            texts, sets, what = list(ref.texts) + unit_texts, ref_sets + unit_sets, "reference + reviewed"
        else:
            texts, sets, what = unit_texts, unit_sets, "reviewed only"
        encode, n_pairs, seconds = fine_tune(str(embedder._inner.folder), texts, sets, args.pairs, args.epochs)
        show(f"B fine-tuned on {what} ({n_pairs} pairs, {seconds:.0f} s)", evaluate(encode, True, held))


if __name__ == "__main__":
    main()
