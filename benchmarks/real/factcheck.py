"""Code suggestions measured on a real human-coded set with a codebook brought from elsewhere.

    python benchmarks/real/factcheck.py [--seeds 0,1,2] [--json FILE]
    python benchmarks/real/factcheck.py --document-unit   # through `fieldnotes code`, unit "document"

Data: ../shared/real-coded/factcheck/ (80 ChatGPT answers, 6 binary codes, 3 coders, and the
coders' codebook.txt; see its README). Skipped with a message when the folder is absent.

* The codebook is converted into a fieldnotes codebook (YAML, in a temporary folder, never
  committed) from what codebook.txt says only: each code's concept name, its conceptual
  definition (for `mentions_cutoff_date`, which has none, the column description) and its
  "Example" line. Code ids are the column names with '-' for '_'.
* Gold per text and code: two of the three coders' files say true.
* Human agreement: mean pairwise Cohen's kappa of the three files, per code and mean.
* The unit is one answer. fieldnotes codes sentence-level excerpts, so each answer is segmented
  as fieldnotes segments a document (label_tool.cleaned on a temporary .txt file) and gets a code
  when any of its excerpts gets it ("any excerpt"). The same with the whole answer as one
  excerpt is printed as a second line ("whole text").

Configurations, all with default settings:

  (a) definitions only; if fieldnotes refuses that codebook the refusal is printed exactly, and
      measured instead: (a2) definitions + the codebook's own examples, (a3) definitions + each
      code's name as keyword pattern, the codebook `fieldnotes import-codebook` would make;
  (b) (a2) plus a `reference:` CSV of 10 or 20 answers beside the codebook (chosen with a fixed
      seed, stratified: every code gets a positive and a negative answer where the data have
      one, the rest drawn at random), evaluated on the other answers only, measured
      (b-default) as the system then runs by default, and (b-calibrated) after
      `fieldnotes.coding.run.calibrate` wrote a calibration beside the codebook.

Per configuration: F1 and Cohen's kappa (system vs majority) per code, micro-F1, mean kappa,
next to the human mean pairwise kappa on the same answers. Nothing here is tuned; no answer text
is written to any file of the project (the JSON holds numbers, ids and code names).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from coding_eval import FileCachedEmbedder, kappa, predict_all, system_coder  # noqa: E402

if TYPE_CHECKING:
    import numpy as np

DATA = ROOT.parent / "shared" / "real-coded" / "factcheck"
CODER_FILES = ("coder_v0.csv", "coder_v1.csv", "coder_v2.csv")
CODES = (
    "mentions_cutoff_date",
    "is_debunk",
    "suggests_lateral_read",
    "presents_media_literacy_tips",
    "rebutts_science_denialism",
    "mention_social_norms",
)
SHORT = {
    "mentions_cutoff_date": "cutoff",
    "is_debunk": "debunk",
    "suggests_lateral_read": "lateral",
    "presents_media_literacy_tips": "media-lit",
    "rebutts_science_denialism": "sci-denial",
    "mention_social_norms": "soc-norms",
}
TEXT_COLUMN = "cgpt_response"
REFERENCE_SIZES = (10, 20)


# --- data ---------------------------------------------------------------------------------------------


@dataclass
class CodedSet:
    ids: list[str]  # filename column (stimulus name)
    texts: list[str]
    coders: list[np.ndarray]  # per coder: texts x codes, 0/1
    gold: np.ndarray  # two of three


def load_coded() -> CodedSet:
    import numpy as np

    tables = []
    for name in CODER_FILES:
        with (DATA / name).open(encoding="utf-8", newline="") as handle:
            tables.append({row["filename"]: row for row in csv.DictReader(handle)})
    ids = sorted(tables[0])
    if any(sorted(t) != ids for t in tables[1:]):
        raise SystemExit("the three coder files do not hold the same texts")
    differing = sum(len({t[i][TEXT_COLUMN] for t in tables}) > 1 for i in ids)
    if differing:
        print(f"note: {differing} answers differ between the coder files; coder_v0's text is used")
    coders = [
        np.array([[t[i][c].strip().lower() == "true" for c in CODES] for i in ids], dtype=np.int8) for t in tables
    ]
    gold = (sum(coders) >= 2).astype(np.int8)
    return CodedSet(ids, [tables[0][i][TEXT_COLUMN] for i in ids], coders, gold)


def human_kappas(coded: CodedSet, rows: np.ndarray | None = None) -> list[float]:
    """Mean pairwise Cohen's kappa of the three coders, per code."""
    import numpy as np

    rows = np.arange(len(coded.ids)) if rows is None else rows
    return [
        float(np.mean([kappa(a[rows, c], b[rows, c]) for a, b in combinations(coded.coders, 2)]))
        for c in range(len(CODES))
    ]


# --- the codebook, converted from codebook.txt ----------------------------------------------------------


def parse_codebook(path: Path) -> dict[str, dict[str, str]]:
    """Per column: its description (COLUMNS section) and Concept / Definition / Example lines."""
    found: dict[str, dict[str, str]] = {}
    section, current = None, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("COLUMNS"):
            section = "columns"
        elif line.startswith("CONCEPTUAL"):
            section = "concepts"
        top = re.match(r"^- (\w+)(?::\s*(.*))?$", line)
        sub = re.match(r"^\s+- (\w+):\s*(.*)$", line)
        if top:
            current = top.group(1)
            entry = found.setdefault(current, {})
            if section == "columns" and top.group(2):
                entry["column"] = top.group(2).strip()
        elif sub and current is not None:
            key = sub.group(1).lower()
            entry = found.setdefault(current, {})
            entry[key if section == "concepts" or key != "example" else "column_example"] = sub.group(2).strip()
    return found


def code_id(column: str) -> str:
    return column.replace("_", "-")


def unquote(text: str) -> str:
    return text[1:-1] if len(text) > 1 and text[0] == text[-1] == '"' else text


def codebook_data(parsed: dict[str, dict[str, str]], variant: str, reference: str | None = None) -> dict:
    """variant: 'definitions' | 'examples' | 'names-as-patterns' (what import-codebook makes)."""
    codes = []
    for column in CODES:
        entry = parsed.get(column, {})
        definition = entry.get("definition") or entry.get("column") or ""
        name = entry.get("concept") or column.replace("_", " ")
        code: dict = {"id": code_id(column), "name": name, "definition": " ".join(definition.split())}
        if variant == "examples":
            example = entry.get("example") or entry.get("column_example")
            code["examples"] = [unquote(" ".join(example.split()))] if example else []
        elif variant == "names-as-patterns":
            from fieldnotes.exchange.imports import codebook_from_tree
            from fieldnotes.exchange.refi_read import RefiCode

            made, _ = codebook_from_tree([RefiCode("x", name, code["definition"], True)], "x", "x", "codebook.txt")
            code["examples"], code["patterns"] = made["codes"][0]["examples"], made["codes"][0]["patterns"]
        codes.append(code)
    data = {
        "id": "factcheck",
        "name": "Interventions against misinformation (factcheck coders' codebook)",
        "version": "1",
        "description": "Converted at run time from ../shared/real-coded/factcheck/codebook.txt.",
        "codes": codes,
    }
    if reference:
        data["reference"] = reference
    return data


def write_codebook(folder: Path, data: dict, name: str = "factcheck.yaml") -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    return path


def write_reference(folder: Path, coded: CodedSet, rows: list[int]) -> str:
    name = "reference.csv"
    with (folder / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "codes"])
        for r in rows:
            codes = ";".join(code_id(c) for c, v in zip(CODES, coded.gold[r], strict=True) if v)
            writer.writerow([f"t{r:03d}", coded.texts[r], codes])
    return name


def choose_reference(gold: np.ndarray, size: int, seed: int) -> list[int]:
    """A fixed-seed draw in which every code has a positive and a negative where possible."""
    rng = random.Random(seed)
    order = list(range(len(gold)))
    rng.shuffle(order)
    chosen: list[int] = []
    # Rarest side first, so one draw can serve several codes.
    needs = sorted(
        ((c, v) for c in range(gold.shape[1]) for v in (1, 0)), key=lambda cv: int((gold[:, cv[0]] == cv[1]).sum())
    )
    for column, value in needs:
        if len(chosen) >= size or any(gold[r, column] == value for r in chosen):
            continue
        pick = next((r for r in order if gold[r, column] == value and r not in chosen), None)
        if pick is not None:
            chosen.append(pick)
    chosen.extend(r for r in order if r not in chosen)
    return sorted(chosen[:size])


# --- units: an answer as fieldnotes' excerpts, or as one excerpt ----------------------------------------------


def segment(coded: CodedSet, folder: Path) -> list[list[str]]:
    """Each answer's excerpts as fieldnotes builds them from a plain-text document."""
    from label_tool import cleaned

    folder.mkdir(parents=True, exist_ok=True)
    result = []
    for r, text in enumerate(coded.texts):
        path = folder / f"answer-{r:03d}.txt"
        path.write_text(text, encoding="utf-8")
        _, _, excerpts = cleaned(str(path))
        result.append([e.text for e in excerpts] or [text])
    return result


@dataclass
class Inputs:
    excerpt_texts: list[str]
    excerpt_vectors: np.ndarray
    owner: np.ndarray  # answer index of each excerpt
    whole_vectors: np.ndarray


def default_calibration_note(parts) -> str | None:
    """Say so when a codebook other than the co-production one is scored with the shipped
    co-production calibration, and whether fieldnotes itself said anything about it."""
    from fieldnotes.resources import data_dir

    coder = parts.coder
    shipped = data_dir("codebooks") / "coproduction.calibration.json"
    path = coder.calibration_path
    if coder.codebook.codebook.id != "coproduction" and path is not None and path.resolve() == shipped.resolve():
        said = "; fieldnotes said: " + " | ".join(coder.notes) if coder.notes else " without any note or warning"
        return (
            f"BY DEFAULT fieldnotes scores codebook '{coder.codebook.codebook.id}' with the shipped co-production "
            f"calibration ({shipped.name}, fitted on {coder.scorer.fitted_on.get('reference')}, threshold "
            f"{coder.threshold:.2f}){said}"
        )
    return None


def predictions(parts, inputs: Inputs, coded: CodedSet) -> tuple[dict[str, dict[str, np.ndarray]], list[str]]:
    """unit ('any excerpt' | 'whole text') -> method -> answers x codes."""
    import numpy as np

    by_excerpt = predict_all(parts, inputs.excerpt_texts, inputs.excerpt_vectors)
    whole = predict_all(parts, coded.texts, inputs.whole_vectors)
    n = len(coded.texts)
    any_excerpt = {}
    for method, matrix in by_excerpt.predictions.items():
        rolled = np.zeros((n, matrix.shape[1]), dtype=bool)
        np.logical_or.at(rolled, inputs.owner, matrix)
        any_excerpt[method] = rolled
    return {"any excerpt": any_excerpt, "whole text": dict(whole.predictions)}, by_excerpt.notes


def measure(predicted: np.ndarray, gold: np.ndarray, rows: np.ndarray) -> dict:
    from fieldnotes.coding.gold import score_predictions

    p, g = predicted[rows].astype(bool), gold[rows].astype(bool)
    per_code, micro = score_predictions(p, g)
    kappas = [kappa(p[:, c], g[:, c]) for c in range(len(CODES))]
    return {
        "texts": len(rows),
        "f1": [round(s.f1, 4) for s in per_code],
        "kappa": [round(k, 4) for k in kappas],
        "micro_f1": round(micro.f1, 4),
        "micro_precision": round(micro.precision, 4),
        "micro_recall": round(micro.recall, 4),
        "mean_kappa": round(sum(kappas) / len(kappas), 4),
        "predicted_positive_rate": [round(float(p[:, c].mean()), 3) for c in range(len(CODES))],
    }


def table(rows: list[tuple[str, dict]], human: list[float], human_label: str) -> str:
    head = (
        f"{'configuration':46s}{'n':>4s}"
        + "".join(f"{SHORT[c]:>11s}" for c in CODES)
        + f"{'micro-F1':>10s}{'mean k':>8s}"
    )
    lines = [head]
    for label, m in rows:
        cells = "".join(f"{f:>5.2f}/{k:>5.2f}" for f, k in zip(m["f1"], m["kappa"], strict=True))
        lines.append(f"{label:46s}{m['texts']:4d}{cells}{m['micro_f1']:10.2f}{m['mean_kappa']:8.2f}")
    lines.append(
        f"{human_label:46s}{'':4s}"
        + "".join(f"{'k':>5s} {k:>5.2f}" for k in human)
        + f"{'':10s}{sum(human) / len(human):8.2f}"
    )
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------------------------------


def run(seeds: list[int], json_path: Path | None, settings_path: Path | None = None) -> dict:
    import numpy as np

    from fieldnotes.codebook import CodebookError, load_codebook
    from fieldnotes.settings import load_settings

    started = time.perf_counter()
    # spaCy warns (W036) on every match call when a codebook has no token patterns; said once here.
    # spaCy installs its own filter for W036 when imported, so it is imported before ours is set.
    from fieldnotes.lazy import import_spacy

    import_spacy()
    warnings.filterwarnings("ignore", message=r".*\[W036\]")
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return {}
    coded = load_coded()
    all_rows = np.arange(len(coded.ids))
    human = human_kappas(coded)
    print(f"{len(coded.ids)} answers, codes {', '.join(CODES)}; gold = two of three coders")
    print(
        "majority positives per code: "
        + ", ".join(f"{SHORT[c]} {int(coded.gold[:, i].sum())}" for i, c in enumerate(CODES))
    )
    print(
        "human mean pairwise Cohen's kappa: "
        + ", ".join(f"{SHORT[c]} {k:.2f}" for c, k in zip(CODES, human, strict=True))
        + f"; mean {np.mean(human):.2f}"
    )
    print(
        "note: spaCy's warning W036 (matcher without patterns), raised on every batch for these codebooks, is silenced"
    )
    parsed = parse_codebook(DATA / "codebook.txt")
    settings = load_settings(settings_path)
    embedder = FileCachedEmbedder(settings, "real-factcheck")
    results: dict = {"human_kappa": dict(zip(CODES, human, strict=True)), "codes": list(CODES), "configs": {}}
    clock: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="fieldnotes-factcheck-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        excerpts = segment(coded, tmp / "answers")
        flat = [text for group in excerpts for text in group]
        owner = np.array([r for r, group in enumerate(excerpts) for _ in group])
        inputs = Inputs(flat, embedder.encode(flat), owner, embedder.encode(coded.texts))
        clock["segment and embed answers"] = round(time.perf_counter() - t, 1)
        sizes = [len(g) for g in excerpts]
        print(
            f"answers segmented by fieldnotes into {len(flat)} excerpts "
            f"(median {int(np.median(sizes))}, max {max(sizes)} per answer)"
        )
        print(f"embedded {embedder.encoded} new texts (cache {embedder.path.relative_to(ROOT)})")

        rows_a: list[tuple[str, dict]] = []
        t = time.perf_counter()
        print("\n(a) definitions only")
        variants = [
            ("examples", "a2 definitions + codebook examples"),
            ("names-as-patterns", "a3 definitions + names as patterns"),
        ]
        try:
            load_codebook(write_codebook(tmp / "a1", codebook_data(parsed, "definitions")))
            print("accepted by fieldnotes: measured as a1")
            variants.insert(0, ("definitions", "a1 definitions only"))
        except CodebookError as exc:
            print("fieldnotes refuses the codebook:")
            print(str(exc))
            results["definitions_only_refusal"] = "refused"
        for variant, label in variants:
            loaded = load_codebook(write_codebook(tmp / variant, codebook_data(parsed, variant)))
            parts = system_coder(loaded, settings, embedder)
            preds, notes = predictions(parts, inputs, coded)
            print(f"{label}: " + "; ".join(notes))
            warning = default_calibration_note(parts)
            if warning:
                print(f"  {warning}")
            for unit, methods in preds.items():
                for method, matrix in methods.items():
                    if method == "keywords" and variant != "names-as-patterns":
                        continue  # no patterns: nothing to match
                    name = f"{label[:2]} {method}, {unit}"
                    m = measure(matrix, coded.gold, all_rows)
                    rows_a.append((name, m))
                    results["configs"][name] = m
        clock["(a)"] = round(time.perf_counter() - t, 1)
        print()
        print(table(rows_a, human, "human mean pairwise kappa (80 answers)"))
        print("cells: F1/kappa against the two-of-three majority")

        t = time.perf_counter()
        for size in REFERENCE_SIZES:
            collected: dict[str, list[dict]] = {}
            rows_b: list[tuple[str, dict]] = []
            humans = []
            for seed in seeds:
                reference_rows = choose_reference(coded.gold, size, seed)
                held_out = np.array([r for r in all_rows if r not in set(reference_rows)])
                folder = tmp / f"b{size}-seed{seed}"
                folder.mkdir()
                ref_name = write_reference(folder, coded, reference_rows)
                loaded = load_codebook(write_codebook(folder, codebook_data(parsed, "examples", ref_name)))
                positives = coded.gold[reference_rows].sum(axis=0)
                print(
                    f"\n(b) {size} reference answers, seed {seed}: positives per code in the reference "
                    + ", ".join(f"{SHORT[c]} {int(v)}" for c, v in zip(CODES, positives, strict=True))
                    + f"; evaluated on {len(held_out)} other answers"
                )
                hk = human_kappas(coded, held_out)
                humans.append(hk)
                for mode in ("default", "calibrated"):
                    parts = system_coder(loaded, settings, embedder, calibrate_first=(mode == "calibrated"))
                    preds, notes = predictions(parts, inputs, coded)
                    if mode == "calibrated":
                        cal = parts.coder.scorer
                        notes.append(
                            "weights "
                            + ", ".join(f"{f} {w:+.2f}" for f, w in zip(cal.features, cal.weights, strict=True))
                        )
                    print(f"  b-{mode}: " + "; ".join(notes))
                    warning = default_calibration_note(parts)
                    if warning:
                        print(f"    {warning}")
                    for unit, methods in preds.items():
                        for method, matrix in methods.items():
                            if method == "keywords":
                                continue  # the codebook has no patterns
                            name = f"b{size}-{mode} {method}, {unit}"
                            m = measure(matrix, coded.gold, held_out)
                            collected.setdefault(name, []).append(m)
                            rows_b.append((f"{name} s{seed}", m))
                            results["configs"][f"{name}, seed {seed}"] = m
            print()
            mean_rows = []
            for name, ms in collected.items():
                mean = {
                    "texts": ms[0]["texts"],
                    "f1": list(np.mean([m["f1"] for m in ms], axis=0)),
                    "kappa": list(np.mean([m["kappa"] for m in ms], axis=0)),
                    "micro_f1": float(np.mean([m["micro_f1"] for m in ms])),
                    "mean_kappa": float(np.mean([m["mean_kappa"] for m in ms])),
                }
                results["configs"][f"{name}, mean over seeds {seeds}"] = mean
                mean_rows.append((f"{name} (mean)" if len(seeds) > 1 else name, mean))
            human_mean = list(np.mean(humans, axis=0))
            if len(seeds) > 1:
                print(table(rows_b, human_mean, "human kappa on the held-out answers (mean)"))
                print()
            print(
                table(
                    mean_rows, human_mean, "human kappa on the held-out answers" + (" (mean)" if len(seeds) > 1 else "")
                )
            )
            results[f"human_kappa_held_out_{size}"] = human_mean
        clock["(b)"] = round(time.perf_counter() - t, 1)
    clock["total"] = round(time.perf_counter() - started, 1)
    results["seconds"] = clock
    print("\nruntime: " + ", ".join(f"{k} {v:.1f} s" for k, v in clock.items()))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=float) + "\n", encoding="utf-8")
        print(f"wrote {json_path}")
    return results


def document_unit(settings_path: Path | None = None) -> None:
    """`fieldnotes code` itself with `[coding] unit = "document"` on the answers as files (in a
    temporary folder), definitions only and with the codebook's examples: its answer-level
    suggestions must score as the "any excerpt" rows do, with at most one suggestion per answer
    and code, and fewer to review than at sentence unit."""
    import sqlite3

    import numpy as np
    from click.testing import CliRunner

    from fieldnotes.cli import cli

    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent")
        return
    coded = load_coded()
    parsed = parse_codebook(DATA / "codebook.txt")
    ids = [code_id(c) for c in CODES]
    extra = settings_path.read_text(encoding="utf-8") if settings_path is not None else ""
    with tempfile.TemporaryDirectory(prefix="fieldnotes-factcheck-") as tmp:
        tmp = Path(tmp)
        corpus = tmp / "answers"
        corpus.mkdir()
        for r, text in enumerate(coded.texts):
            (corpus / f"answer-{r:03d}.txt").write_text(text, encoding="utf-8")
        for variant in ("definitions", "examples"):
            book = write_codebook(tmp / variant, codebook_data(parsed, variant))
            for unit in ("document", "sentence"):
                settings = tmp / variant / f"{unit}.toml"
                settings.write_text(
                    f'{extra}\n[coding]\nunit = "{unit}"\n[themes]\nenabled = false\n', encoding="utf-8"
                )
                out = tmp / variant / f"out-{unit}"
                args = ["code", str(corpus), "--codebook", str(book), "--out", str(out), "--settings", str(settings)]
                done = CliRunner().invoke(cli, args)
                if done.exit_code != 0:
                    raise SystemExit(done.output)
                db = sqlite3.connect(out / "fieldnotes.db")
                rows = db.execute(
                    """SELECT d.path, s.code_id FROM suggestions s JOIN excerpts e USING (excerpt_id)
                       JOIN documents d ON d.document_id = e.document_id
                       WHERE e.active = 1 AND s.status = 'suggested'"""
                ).fetchall()
                db.close()
                predicted = np.zeros(coded.gold.shape, dtype=bool)
                cells: dict[tuple[int, str], int] = {}
                for path, code in rows:
                    r = int(Path(path).stem.split("-")[1])
                    predicted[r, ids.index(code)] = True
                    cells[r, code] = cells.get((r, code), 0) + 1
                m = measure(predicted, coded.gold, np.arange(len(coded.texts)))
                print(
                    f"{variant:<11} unit {unit:<8}: {len(rows)} suggestions to review, at most "
                    f"{max(cells.values(), default=0)} per answer and code; micro-F1 {m['micro_f1']:.2f}, "
                    f"mean kappa {m['mean_kappa']:.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="seeds for drawing the reference answers (default 0,1,2)")
    parser.add_argument("--json", type=Path, help="write the figures (numbers, ids and code names) to FILE")
    parser.add_argument("--settings", type=Path, help="a fieldnotes settings file (default: the shipped defaults)")
    parser.add_argument(
        "--document-unit",
        action="store_true",
        help="instead: run `fieldnotes code` with unit 'document' and 'sentence' on the answers and score both",
    )
    args = parser.parse_args()
    if args.document_unit:
        document_unit(args.settings)
        return
    run([int(s) for s in args.seeds.split(",") if s.strip()], args.json, args.settings)


if __name__ == "__main__":
    main()
