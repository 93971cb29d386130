"""Codebooks: human-edited YAML files, validated on load.

Every error names the file, the line, the code and the field, and says how to fix it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fieldnotes.errors import FieldnotesError
from fieldnotes.resources import data_dir

# What a group or code id looks like: lower-case words joined by "-".
CODE_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_TOKEN_KEYS = {
    "ORTH", "TEXT", "NORM", "LOWER", "LEMMA", "POS", "TAG", "DEP", "MORPH", "ENT_TYPE", "SHAPE", "LENGTH",
    "IS_ALPHA", "IS_ASCII", "IS_DIGIT", "IS_LOWER", "IS_UPPER", "IS_TITLE", "IS_PUNCT", "IS_SPACE", "IS_STOP",
    "IS_SENT_START", "LIKE_NUM", "LIKE_URL", "LIKE_EMAIL", "SPACY", "OP",
}  # fmt: skip


class CodebookError(FieldnotesError):
    """A codebook file is missing, unreadable or invalid."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenPattern(_Strict):
    """A spaCy Matcher pattern: a list of token descriptions."""

    tokens: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("tokens")
    @classmethod
    def _known_keys(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, token in enumerate(value):
            unknown = set(token) - _TOKEN_KEYS
            if unknown:
                raise ValueError(
                    f"token {index + 1} has unknown key(s) {sorted(unknown)}; use keys such as LEMMA, LOWER, TEXT, OP"
                )
        return value


class RegexPattern(_Strict):
    """A regular expression on the text, case-insensitive."""

    regex: str = Field(min_length=1)

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, re.I)
        except re.error as exc:
            raise ValueError(f"invalid regular expression ({exc})") from None
        return value


Pattern = Annotated[str, Field(min_length=1)] | TokenPattern | RegexPattern


class Group(_Strict):
    id: str
    name: str
    # Groups may nest (a code tree imported from NVivo or ATLAS.ti is often three levels deep).
    parent: str | None = None
    description: str = ""

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not CODE_ID.match(value):
            raise ValueError("an id is lower-case words joined by '-', e.g. 'coproduction-forms'")
        return value


class Code(_Strict):
    id: str
    name: str
    parent: str | None = None
    definition: str = Field(min_length=10)
    include: list[str] = []
    exclude: list[str] = []
    examples: list[str] = Field(default=[], description="sentences that get this code")
    counter_examples: list[str] = []
    patterns: list[Pattern] = []
    threshold: Annotated[float, Field(gt=0, lt=1)] | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not CODE_ID.match(value):
            raise ValueError("a code id is lower-case words joined by '-', e.g. 'mutual-help'")
        return value

    @field_validator("patterns")
    @classmethod
    def _phrases(cls, value: list[Any]) -> list[Any]:
        for pattern in value:
            if isinstance(pattern, str) and pattern != pattern.strip():
                raise ValueError(f"pattern '{pattern}' has leading or trailing spaces")
        return value


class Codebook(_Strict):
    id: str
    name: str
    version: str
    description: str = ""
    # A CSV of labelled excerpts (id,text,codes) beside the codebook, used to train the
    # learned suggester and to calibrate scores.
    reference: str | None = None
    groups: list[Group] = []
    codes: list[Code] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _consistent(self) -> Codebook:
        seen: set[str] = set()
        group_ids = {group.id for group in self.groups}
        for group in self.groups:
            if group.id in seen:
                raise ValueError(f"group id '{group.id}' is defined twice")
            seen.add(group.id)
        parents = {group.id: group.parent for group in self.groups}
        for group in self.groups:
            if group.parent is not None and group.parent not in parents:
                raise ValueError(f"group '{group.id}': parent '{group.parent}' is not a group")
            chain, node = {group.id}, group.parent
            while node is not None:
                if node in chain:
                    raise ValueError(f"group '{group.id}': its parents form a cycle through '{node}'")
                chain.add(node)
                node = parents[node]
        for code in self.codes:
            if code.id in seen:
                raise ValueError(f"code id '{code.id}' is defined twice (or is also a group id)")
            seen.add(code.id)
        for code in self.codes:
            if code.parent is not None and code.parent not in group_ids:
                known = ", ".join(sorted(group_ids)) or "none defined"
                raise ValueError(f"code '{code.id}': parent '{code.parent}' is not a group (groups: {known})")
        return self

    def code(self, code_id: str) -> Code:
        for code in self.codes:
            if code.id == code_id:
                return code
        raise KeyError(code_id)

    @property
    def code_ids(self) -> list[str]:
        return [code.id for code in self.codes]


class LoadedCodebook(BaseModel):
    """A validated codebook with where it came from and its content hash."""

    model_config = ConfigDict(frozen=True)
    codebook: Codebook
    path: Path
    sha256: str

    @property
    def reference_path(self) -> Path | None:
        return self.path.parent / self.codebook.reference if self.codebook.reference else None

    @property
    def calibration_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.calibration.json")

    def describe(self) -> str:
        return f"{self.codebook.id} {self.codebook.version} ({self.path.name}, sha256 {self.sha256[:12]})"


def default_codebook_path() -> Path:
    return data_dir("codebooks") / "coproduction.yaml"


def resolve_codebook_path(name: str | Path | None) -> Path:
    """A path as given, or the name of a shipped codebook ('coproduction')."""
    if name is None:
        return default_codebook_path()
    path = Path(name)
    if path.exists() or path.suffix or "/" in str(name):
        return path
    return data_dir("codebooks") / f"{name}.yaml"


def _node_line(root: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a pydantic error location."""
    import yaml

    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif isinstance(part, str) and part in ("str", "TokenPattern", "RegexPattern"):
            continue  # pydantic's name for a branch of a union
        else:
            break
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _describe(data: dict[str, Any], loc: tuple[Any, ...]) -> str:
    """'code "mutual-help", field examples[2]' rather than 'codes.6.examples.2'."""
    parts = [p for p in loc if p not in ("str", "TokenPattern", "RegexPattern")]
    if len(parts) >= 2 and parts[0] in ("codes", "groups") and isinstance(parts[1], int):
        items = data.get(parts[0]) or []
        item = items[parts[1]] if parts[1] < len(items) and isinstance(items[parts[1]], dict) else {}
        label = f'{parts[0][:-1]} "{item.get("id", f"#{parts[1] + 1}")}"'
        rest = parts[2:]
    else:
        label, rest = "codebook", parts
    field = ""
    for part in rest:
        field += f"[{part}]" if isinstance(part, int) else (f".{part}" if field else part)
    return f"{label}, field {field}" if field else label


CHECKED_PATTERNS_DIR = "checked-patterns"  # in the user cache: one empty file per token-pattern set spaCy accepted


def _checked_patterns_marker(token_codes: list[tuple[Code, TokenPattern]]) -> Path:
    """Where the user cache records that spaCy accepted exactly these token patterns: named by a
    digest of the patterns (with their code ids) and spaCy's version, so any change checks again."""
    import json

    from fieldnotes.resources import installed_version, user_cache_dir

    payload = json.dumps(
        [installed_version("spacy"), [[code.id, pattern.tokens] for code, pattern in token_codes]],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return user_cache_dir() / CHECKED_PATTERNS_DIR / hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _validate_token_patterns(codebook: Codebook, path: Path) -> None:
    """spaCy checks the Matcher patterns (operators, value types) before any work starts. A set of
    patterns spaCy accepted once is not checked again (importing spaCy takes most of a second):
    the user cache keeps a marker per accepted set; a refused set is never marked."""
    token_codes = [(code, p) for code in codebook.codes for p in code.patterns if isinstance(p, TokenPattern)]
    if not token_codes:
        return
    marker = _checked_patterns_marker(token_codes)
    if marker.is_file():
        return
    _spacy_check_token_patterns(token_codes, path)
    with contextlib.suppress(OSError):  # an unwritable cache costs the next check a spaCy import, nothing else
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()


def _spacy_check_token_patterns(token_codes: list[tuple[Code, TokenPattern]], path: Path) -> None:
    from fieldnotes.lazy import import_spacy

    spacy = import_spacy()
    from spacy.matcher import Matcher

    matcher = Matcher(spacy.blank("en").vocab, validate=True)
    for code, pattern in token_codes:
        try:
            matcher.add(code.id, [pattern.tokens])
        except Exception as exc:  # spaCy raises MatchPatternError, ValueError, KeyError
            message = " ".join(str(exc).split())
            where = f'{path}: code "{code.id}", field patterns'
            raise CodebookError(f"{where}: invalid token pattern ({message})") from None


def _compose(text: str) -> Any:
    """The YAML node tree (for line numbers), or None: libyaml accepts a few texts that PyYAML's
    composer refuses (tabs after a sequence entry), and a line number is not worth a crash."""
    import yaml

    try:
        return yaml.compose(text)
    except (yaml.YAMLError, RecursionError):
        return None


def load_codebook(name: str | Path | None = None, check_patterns: bool = True) -> LoadedCodebook:
    """Load and validate a codebook file; without a name, the shipped default.

    `check_patterns=False` skips spaCy's check of token patterns (importing spaCy costs
    seconds), for commands that read a codebook's tree and texts but match nothing.
    """
    path = resolve_codebook_path(name)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise CodebookError(f"{path}: codebook not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CodebookError(f"{path}: cannot read the codebook ({exc}); save it as UTF-8") from None
    data = _parse_yaml(text, path)
    if not isinstance(data, dict):
        raise CodebookError(f"{path}: a codebook is a YAML mapping with keys id, name, version and codes")
    if not data.get("codes"):
        raise CodebookError(f"{path}: the codebook has no codes; add at least one under 'codes:'")
    try:
        codebook = Codebook.model_validate(data)
    except ValidationError as exc:
        raise _invalid_codebook(exc, text, data, path) from None
    if check_patterns:
        _validate_token_patterns(codebook, path)
    loaded = LoadedCodebook(codebook=codebook, path=path, sha256=hashlib.sha256(raw).hexdigest())
    if loaded.reference_path is not None and not loaded.reference_path.is_file():
        line = _node_line(_compose(text), ("reference",))
        raise CodebookError(
            f"{path}:{line}: reference file '{codebook.reference}' not found beside the codebook; "
            "fix the name or remove the 'reference' key"
        )
    return loaded


def _key_column(line: str) -> int:
    """Where a line's key starts: after its indentation and a list dash ("  - id: x" -> 4)."""
    stripped = line.lstrip(" ")
    column = len(line) - len(stripped)
    while stripped.startswith("- "):
        stripped = stripped[2:].lstrip(" ")
        column = len(line) - len(stripped)
    return column


def _yaml_hint(text: str, line: int | None, problem: str) -> str:
    """A fix in plain words for the YAML errors people make by hand: a line indented more or less
    than the keys beside it, a tab, a colon inside a value."""
    lines = text.split("\n")
    if line is None or not 0 <= line < len(lines):
        return ""
    here = lines[line]
    if "\t" in here[: len(here) - len(here.lstrip())]:
        return "; the line is indented with a tab: YAML needs spaces"
    if "mapping values are not allowed" in problem or "expected <block end>" in problem:
        above = next((lines[i] for i in range(line - 1, -1, -1) if lines[i].strip()), "")
        if above and _key_column(here) != _key_column(above):
            return (
                "; this line is indented differently from the line above it: keys of one code must start "
                "in the same column"
            )
        return "; a value holding ': ' needs quotes (definition: \"Members: ...\")"
    return ""


def _parse_yaml(text: str, path: Path) -> Any:
    """The codebook's YAML as Python values; CodebookError naming the line if it is not YAML."""
    import yaml

    try:
        # libyaml's loader when present (10x faster); the same text through the Python one on
        # errors, so messages do not depend on it. The node tree is only needed for error lines.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError):
        data = None
    try:
        if data is None:
            data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        hint = _yaml_hint(text, mark.line if mark else None, problem)
        raise CodebookError(f"{where}: not valid YAML ({problem}){hint}") from None
    except RecursionError:  # PyYAML recurses per nesting level
        raise CodebookError(f"{path}: lists or mappings nested too deeply to be a codebook") from None
    except (ValueError, OverflowError) as exc:  # a date that does not exist: "version: 2024-13-01"
        raise CodebookError(f"{path}: a value YAML cannot read ({exc}); put it in quotes") from None
    return data


def _invalid_codebook(exc: ValidationError, text: str, data: dict[str, Any], path: Path) -> CodebookError:
    """One error listing every problem pydantic found, each with its file and line, once."""
    root = _compose(text)
    problems: list[str] = []
    for item in exc.errors():
        loc = tuple(item["loc"])
        line = _node_line(root, loc)
        where = f"{path}:{line}" if line else str(path)
        if item["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}' ({_describe(data, loc[:-1])}); check its spelling"
        elif item["type"] == "missing":
            # The line is the first of the mapping that lacks the field; say where it goes.
            owner = "the codebook's top level" if len(loc) == 1 else "this code" if loc[0] == "codes" else "it"
            message = f"{_describe(data, loc)} is missing; add a line '{loc[-1]}: ...' to {owner}"
        else:
            message = f"{_describe(data, loc)}: {item['msg'].removeprefix('Value error, ')}"
        if message not in [p.split(": ", 1)[-1] for p in problems]:
            problems.append(f"{where}: {message}")
    return CodebookError("invalid codebook:\n  " + "\n  ".join(problems))
