"""Synthetic field-note corpora of a given size, for the performance benchmark.

The words come from the shipped sample corpus (corpus/) and the default codebook's
examples, counter-examples and reference excerpts, so the rules, the similarity to
examples and the learned classifiers all have real work to do. Sentences are
recombined at clause boundaries (the head of one sentence with the tail of another),
so nearly every sentence is new text that the embedding cache has never seen, and
their lengths vary the way the sample corpus's do.

A corpus has documents of the three sites (Nagoya, Osaka, Niihama) and general ones
(multi-site articles with site headings), in Markdown with front matter, plain text
(some hard-wrapped the way copied PDF text is), Word (python-docx) and HTML, plus a
few Japanese documents. Everything is seeded: the same size and seed give the same
text (Word files differ only in their zip timestamps).
"""

from __future__ import annotations

import csv
import html
import json
import random
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = ROOT / "corpus"
CODEBOOK = ROOT / "codebooks" / "coproduction.yaml"
REFERENCE = ROOT / "codebooks" / "coproduction-reference.csv"
SITES = ("nagoya", "osaka", "niihama")
SITE_LABELS = {"nagoya": "Nagoya", "osaka": "Osaka", "niihama": "Niihama"}
FORMATS = ("md", "txt", "docx", "html")
FORMAT_WEIGHTS = (0.45, 0.33, 0.11, 0.11)
# Sentences per paragraph (1..8), as in the sample corpus's field notes.
SENTENCE_WEIGHTS = (8, 18, 22, 20, 14, 9, 5, 4)
MAX_PASSAGE_CHARS = 1300  # below the segmenter's max_passage_chars, so one paragraph is one passage
JAPANESE_TXT_SHARE = 0.06  # of plain-text site documents: about 2% of all documents
CODEBOOK_SHARE = 0.15  # share of sentences drawn from the codebook's labelled sentences
OWN_SITE_SHARE = 0.7  # share drawn from the document's own site (gives themes something to find)
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[A-Z\"“(])")
_CLAUSE = re.compile(r",\s|;\s|\s(?:and|but|which|because|when|while|so|although|as)\s")
_GENERIC_HEADINGS = (
    "Observations",
    "Background",
    "Conversation with staff",
    "Members' views",
    "Afterwards",
    "Notes for the next visit",
    "Questions raised",
    "Reflection",
    "The meeting",
    "Services and facilities",
)


@dataclass
class Vocabulary:
    """Sentences by pool (a site, 'general', 'codebook', 'ja'), headings, and clause pieces."""

    sentences: dict[str, list[str]]
    headings: list[str]
    heads: dict[str, list[str]] = field(default_factory=dict)
    tails: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pool, sentences in self.sentences.items():
            heads, tails = [], []
            for sentence in sentences:
                for match in _CLAUSE.finditer(sentence):
                    if match.start() >= 15 and len(sentence) - match.start() >= 15:
                        heads.append(sentence[: match.start()])
                        tails.append(sentence[match.start() :])
            self.heads[pool] = heads or sentences
            self.tails[pool] = tails or [""]


@dataclass
class SyntheticCorpus:
    root: Path
    documents: list[Path]
    paragraphs: int  # what was written; the segmenter decides the final passage count
    by_format: dict[str, int]
    by_site: dict[str, int]
    seed: int
    _rng: random.Random | None = None
    _vocabulary: Vocabulary | None = None

    def edit_one(self) -> Path:
        """Edit one mid-sized Markdown document: change one paragraph and append one."""
        assert self._rng is not None and self._vocabulary is not None
        candidates = sorted(p for p in self.documents if p.suffix == ".md" and p.parent.name in SITES)
        target = candidates[len(candidates) // 2] if candidates else sorted(self.documents)[0]
        site = target.parent.name if target.parent.name in SITES else "general"
        if target.suffix != ".md":
            raise RuntimeError(f"no Markdown document to edit in {self.root}")
        text = target.read_text(encoding="utf-8")
        blocks = text.split("\n\n")
        body = [i for i, block in enumerate(blocks) if len(block) > 80 and not block.startswith(("#", "---"))]
        if body:
            blocks[body[len(body) // 2]] = _paragraph(self._rng, self._vocabulary, site, set())
        blocks.append(_paragraph(self._rng, self._vocabulary, site, set()))
        target.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        return target

    def add_one(self, paragraphs: int = 10) -> Path:
        """Add one new Markdown field note of `paragraphs` paragraphs."""
        assert self._rng is not None and self._vocabulary is not None
        site = "nagoya"
        path = self.root / site / f"2026-01-15_added-visit-{self._rng.randrange(10**6):06d}.md"
        doc = _document(self._rng, self._vocabulary, site, paragraphs, set(), japanese=False)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_markdown(doc, site, "2026-01-15"), encoding="utf-8")
        self.documents.append(path)
        return path


# --- vocabulary ------------------------------------------------------------------


def _read_text(path: Path) -> str | None:
    for encoding in ("utf-8", "cp932", "utf-16"):
        try:
            return path.read_text(encoding=encoding)
        except (UnicodeDecodeError, UnicodeError):
            continue
    return None


def _strip_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        if end != -1:
            return text[end + 4 :]
    return text


def _manifest_sites() -> dict[str, str]:
    path = SAMPLE_CORPUS / "manifest.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["path"]: row["site"] for row in csv.DictReader(handle)}


def split_sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(paragraph.split())) if len(s.strip()) >= 20]


def load_vocabulary(corpus: Path = SAMPLE_CORPUS) -> Vocabulary:
    """Sentences and headings of the sample corpus, by site, and the codebook's labelled sentences."""
    import yaml

    manifest = _manifest_sites()
    pools: dict[str, list[str]] = {pool: [] for pool in (*SITES, "general", "codebook", "ja")}
    headings: list[str] = list(_GENERIC_HEADINGS)
    for path in sorted(corpus.rglob("*")):
        if path.suffix not in (".md", ".txt") or path.name.startswith("."):
            continue
        text = _read_text(path)
        if text is None:
            continue
        relpath = path.relative_to(corpus).as_posix()
        folder = relpath.split("/", 1)[0]
        site = manifest.get(relpath) or (folder if folder in SITES else "general")
        if folder == "japanese":
            for sentence in re.split(r"(?<=。)", text):
                sentence = sentence.strip()
                if len(sentence) >= 12:
                    pools["ja"].append(sentence)
            continue
        for block in re.split(r"\n\s*\n", _strip_front_matter(text)):
            block = block.strip()
            if block.startswith("#"):
                heading = block.lstrip("#").strip()
                if 3 <= len(heading) <= 60 and "\n" not in heading:
                    headings.append(heading)
                continue
            pools[site if site in SITES else "general"].extend(split_sentences(block))
    book = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    for code in book.get("codes", []):
        pools["codebook"].extend(code.get("examples", []) + code.get("counter_examples", []))
    with REFERENCE.open(encoding="utf-8", newline="") as handle:
        pools["codebook"].extend(row["text"] for row in csv.DictReader(handle))
    for pool, sentences in pools.items():
        pools[pool] = list(dict.fromkeys(sentences))  # drop repeats, keep the order (seeded draws)
        if not pools[pool] and pool != "ja":
            raise RuntimeError(f"no sentences for '{pool}' in {corpus}")
    return Vocabulary(pools, list(dict.fromkeys(headings)))


# --- text ------------------------------------------------------------------------


def _pool(rng: random.Random, site: str) -> str:
    roll = rng.random()
    if roll < CODEBOOK_SHARE:
        return "codebook"
    if roll < CODEBOOK_SHARE + OWN_SITE_SHARE * (1 - CODEBOOK_SHARE):
        return site if site in SITES else "general"
    return rng.choice([*SITES, "general"])


def _sentence(rng: random.Random, vocabulary: Vocabulary, site: str, used: set[str]) -> str:
    """A new sentence: the head of one source sentence and the tail of another (or, rarely, a source
    sentence as it is). Retries keep it distinct from every sentence already in the corpus."""
    for attempt in range(30):
        pool = _pool(rng, site)
        if attempt < 2 and rng.random() < 0.1:
            sentence = rng.choice(vocabulary.sentences[pool])
        else:
            head = rng.choice(vocabulary.heads[pool])
            tail = rng.choice(vocabulary.tails[_pool(rng, site)])
            sentence = head + tail if tail else head
        if sentence not in used:
            used.add(sentence)
            return sentence
    # Thirty collisions in a row: add a third piece, which is practically always new.
    sentence = rng.choice(vocabulary.heads["general"]) + rng.choice(vocabulary.tails["general"])
    sentence = sentence.rstrip(".") + rng.choice(vocabulary.tails[site if site in SITES else "general"])
    used.add(sentence)
    return sentence


def _paragraph(rng: random.Random, vocabulary: Vocabulary, site: str, used: set[str], japanese: bool = False) -> str:
    count = rng.choices(range(1, len(SENTENCE_WEIGHTS) + 1), SENTENCE_WEIGHTS)[0]
    if japanese and vocabulary.sentences["ja"]:
        return "".join(rng.choice(vocabulary.sentences["ja"]) for _ in range(count))
    sentences: list[str] = []
    length = 0
    for _ in range(count):
        sentence = _sentence(rng, vocabulary, site, used)
        if sentences and length + len(sentence) > MAX_PASSAGE_CHARS:
            break
        sentences.append(sentence)
        length += len(sentence) + 1
    return " ".join(sentences)


@dataclass
class _Document:
    title: str
    sections: list[tuple[str | None, list[str]]]  # (heading, paragraphs)


def _document(
    rng: random.Random, vocabulary: Vocabulary, site: str, paragraphs: int, used: set[str], japanese: bool
) -> _Document:
    """Paragraphs under headings; a general document is a multi-site article with a section per site."""
    title = rng.choice(vocabulary.headings)
    sections: list[tuple[str | None, list[str]]] = []
    if site == "general":
        parts = ["Introduction", *[SITE_LABELS[s] for s in SITES], "Concluding remarks"]
        share = max(1, paragraphs // len(parts))
        left = paragraphs
        for index, heading in enumerate(parts):
            n = left if index == len(parts) - 1 else min(share, left)
            if n <= 0:
                break
            section_site = next((s for s in SITES if SITE_LABELS[s] == heading), "general")
            sections.append((heading, [_paragraph(rng, vocabulary, section_site, used) for _ in range(n)]))
            left -= n
        return _Document(title, sections)
    left = paragraphs
    heading: str | None = None
    while left > 0:
        n = min(left, rng.randint(2, 6))
        sections.append((heading, [_paragraph(rng, vocabulary, site, used, japanese) for _ in range(n)]))
        left -= n
        heading = rng.choice(vocabulary.headings)
    return _Document(title, sections)


def _markdown(doc: _Document, site: str, date: str) -> str:
    # json.dumps quotes the title: a colon in it would otherwise break the YAML front matter.
    front = f"---\ntitle: {json.dumps(doc.title)}\ndate: {date}\nsite: {'multiple' if site == 'general' else site}\n"
    lines = [front + "type: field-note\n---", f"# {doc.title}"]
    for heading, paragraphs in doc.sections:
        if heading:
            lines.append(f"## {heading}")
        lines.extend(paragraphs)
    return "\n\n".join(lines) + "\n"


def _plain(doc: _Document, wrap: bool) -> str:
    lines = [doc.title]
    for heading, paragraphs in doc.sections:
        if heading:
            lines.append(heading)
        for paragraph in paragraphs:
            # Hard-wrapped like text copied out of a PDF; the repair stage rejoins the lines.
            lines.append(textwrap.fill(paragraph, 78) if wrap and " " in paragraph else paragraph)
    return "\n\n".join(lines) + "\n"


def _html(doc: _Document) -> str:
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title></head><body>"]
    parts.append(f"<h1>{html.escape(doc.title)}</h1>")
    for heading, paragraphs in doc.sections:
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.extend(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _docx(doc: _Document, path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading(doc.title, level=1)
    for heading, paragraphs in doc.sections:
        if heading:
            document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    document.save(str(path))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "note"


def generate(root: Path, passages: int, seed: int = 7, vocabulary: Vocabulary | None = None) -> SyntheticCorpus:
    """Write a corpus of about `passages` paragraphs into `root` (which must not exist or be empty)."""
    rng = random.Random(seed)
    vocabulary = vocabulary or load_vocabulary()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    used: set[str] = set()
    documents: list[Path] = []
    by_format = dict.fromkeys(FORMATS, 0)
    by_site = dict.fromkeys((*SITES, "general"), 0)
    written = 0
    index = 0
    while written < passages:
        # Document sizes vary like real notes: mostly 4-15 paragraphs, a few long reports.
        size = min(passages - written, max(2, int(rng.lognormvariate(2.2, 0.6))))
        # The first documents cycle through the formats so even a tiny corpus has each.
        fmt = FORMATS[index] if index < len(FORMATS) else rng.choices(FORMATS, FORMAT_WEIGHTS)[0]
        site = rng.choices([*SITES, "general"], (0.3, 0.3, 0.3, 0.1))[0]
        if site == "general":
            fmt = "md"  # multi-site articles: front matter says `multiple`, headings decide
            size = max(size, 5)
        japanese = site != "general" and fmt == "txt" and rng.random() < JAPANESE_TXT_SHARE
        doc = _document(rng, vocabulary, site, size, used, japanese)
        date = f"20{rng.randint(22, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        folder = root / ("articles" if site == "general" else site)
        folder.mkdir(exist_ok=True)
        path = folder / f"{date}_{_slug(doc.title)}-{index:05d}.{fmt}"
        if fmt == "md":
            path.write_text(_markdown(doc, site, date), encoding="utf-8")
        elif fmt == "txt":
            path.write_text(_plain(doc, wrap=rng.random() < 0.3), encoding="utf-8")
        elif fmt == "html":
            path.write_text(_html(doc), encoding="utf-8")
        else:
            _docx(doc, path)
        documents.append(path)
        by_format[fmt] += 1
        by_site[site] += 1
        written += sum(len(paragraphs) for _, paragraphs in doc.sections)
        index += 1
    return SyntheticCorpus(root, documents, written, by_format, by_site, seed, rng, vocabulary)


def describe(corpus: SyntheticCorpus) -> str:
    formats = ", ".join(f"{name} {count}" for name, count in corpus.by_format.items() if count)
    sites = ", ".join(f"{name} {count}" for name, count in corpus.by_site.items() if count)
    return f"{len(corpus.documents)} documents ({formats}; {sites}), {corpus.paragraphs} paragraphs, seed {corpus.seed}"


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write a synthetic field-note corpus.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--passages", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print(describe(generate(args.folder, args.passages, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
