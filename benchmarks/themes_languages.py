"""Do themes group a corpus in English and Japanese by what it says, or by language? (issue 17)

    HF_HUB_OFFLINE=1 python benchmarks/themes_languages.py

For each set, each text with one gold code is embedded by MiniLM, by USE multilingual and by the
two together (the default pair), and themes are fitted with `fieldnotes.themes.model.fit_themes`
with PCA + k-means (the default `[themes] method`) and with UMAP + HDBSCAN (`method =
"umap-hdbscan"`). Printed: the number of themes, their normalised mutual
information (NMI) with the gold codes (higher: themes follow content) and with the language
(lower: they do not follow language), the share of themes of 5 or more texts that are at least
90% one language, and, without any clustering, how many of each text's 10 nearest neighbours
are in the other language and share its code.

Sets (texts with exactly one code):
  * written: `benchmarks/gold/test.csv` (English) with `benchmarks/gold/ja-written.csv`
    (Japanese), both **written by the project**; the choice in `fieldnotes.themes.run.theme_embedder`
    was made on this set;
  * real dev: the real English co-production documents' dev labels with the real Japanese
    documents' dev labels (`benchmarks/real/`; needs ../shared); a label's excerpts joined.
    The two languages' documents are on different subjects, so some language split is real
    content. No test split is read.
"""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "benchmarks" / "real"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(REAL))


def written_set() -> tuple[list[str], list[str], list[str]]:
    texts, codes, languages = [], [], []
    for name, language in (("test.csv", "en"), ("ja-written.csv", "ja")):
        with (ROOT / "benchmarks" / "gold" / name).open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                code = (row["codes"] or "").strip()
                if code and ";" not in code:
                    texts.append(row["text"])
                    codes.append(code)
                    languages.append(language)
    return texts, codes, languages


def real_dev_set() -> tuple[list[str], list[str], list[str]] | None:
    if not (ROOT.parent / "shared" / "real-docs").is_dir():
        return None
    from coding_eval import LABELS, map_labels

    texts, codes, languages = [], [], []
    for labels, language in ((LABELS, "en"), (REAL / "japanese_labels.csv", "ja")):
        mapping = map_labels(labels)
        for unit in mapping.units:
            if unit.split == "dev" and len(unit.codes) == 1:
                texts.append(" ".join(mapping.excerpts[key].text for key in unit.excerpt_keys))
                codes.append(unit.codes[0])
                languages.append(language)
    return texts, codes, languages


def measure(name: str, texts: list[str], codes: list[str], languages: list[str]) -> None:
    import numpy as np
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from fieldnotes.embedding import make_embedder
    from fieldnotes.settings import EmbeddingSettings, Settings, ThemeSettings
    from fieldnotes.themes.model import fit_themes

    language = np.array(languages)
    code = np.array(codes)
    print(f"\n{name}: {len(texts)} texts, {int((language == 'ja').sum())} Japanese, {len(set(codes))} codes")
    print(
        "encoder   path           themes  NMI code  NMI language  one-language themes"
        "  10-NN other language  10-NN same code"
    )
    encoders = {
        "pair": Settings(),
        "MiniLM": Settings(embedding=EmbeddingSettings(ensemble=[])),
        "USE": Settings(embedding=EmbeddingSettings(backend="use-multilingual", ensemble=[])),
    }
    for label, settings in encoders.items():
        vectors = np.asarray(make_embedder(settings).encode(texts), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, :10]
        other = float((language[nearest] != language[:, None]).mean())
        same = float((code[nearest] == code[:, None]).mean())
        for path, method in (("k-means", "kmeans"), ("UMAP+HDBSCAN", "umap-hdbscan")):
            topics = np.array(fit_themes(texts, vectors, ThemeSettings(method=method), set()).topics)
            shares = [float((language[topics == t] == "ja").mean()) for t in set(topics) if (topics == t).sum() >= 5]
            pure = float(np.mean([max(s, 1 - s) >= 0.9 for s in shares])) if shares else float("nan")
            print(
                f"{label:<9} {path:<14} {len(set(topics)):>6}  {nmi(codes, topics):>8.3f}"
                f"  {nmi(languages, topics):>12.3f}  {pure:>19.2f}  {other:>20.2f}  {same:>15.2f}"
            )


def main() -> None:
    warnings.filterwarnings("ignore")
    measure("written by the project (English test.csv + Japanese ja-written.csv)", *written_set())
    real = real_dev_set()
    if real is None:
        print("\nreal dev: skipped (../shared is absent)")
    else:
        measure("real documents, dev labels (English + Japanese)", *real)


if __name__ == "__main__":
    main()
