"""One freshness mechanism: a stage's stored results stand while the digest of its inputs is unchanged.

A stage computes `inputs_digest(...)` of everything its results depend on, asks `current()` for
the state it recorded with the same digest, and reuses its results when there is one (and its
files still exist); otherwise it does its work and `record()`s the digest with its new state.
The state is a small typed record (a frozen dataclass of JSON values), written and read here
only. Stages that use it: the coder (suggestions, `coder`), the excerpts (`segment`, which keeps
the change clock it built them at), the comparison report (`report`); documents compare their
own digests (raw bytes and ingest settings, kept with each document), and themes keep theirs
with the fitted themes, because a small change places new passages in the themes instead of
refitting them (fieldnotes.themes.run).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from fieldnotes.store import Store
    from fieldnotes.store.freshness import FreshnessRecord

State = TypeVar("State")


def inputs_digest(*parts: object) -> str:
    """A sha256 of JSON-serialisable parts, independent of key order."""
    payload = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CoderState:
    """What a run reusing the suggestions reports without building the coder."""

    calibration: str
    threshold: float
    notes: list[str]
    reviewed_kept: int
    # A digest per input (fieldnotes.coding.run.coder_inputs), so the next run can say what changed.
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SegmentState:
    """Where the stored excerpts stand: the change clock (fieldnotes.store.changes) when they
    were last built, and the reference-list passages then, as [passage id, document id] pairs,
    so the next run builds the excerpts of the documents changed since and no others."""

    clock: int
    listed: list[list[str]]


@dataclass(frozen=True)
class ReportState:
    """The comparison a run reusing the report shows without drawing it again."""

    status_used: str
    distinctive: list[list[object]]  # [site, [codes]] pairs
    warnings: list[str]
    files: list[str]


def current(store: Store, stage: str, subject: str, digest: str, kind: type[State]) -> tuple[int, State] | None:
    """(run id, state) recorded for these inputs, or None when the stage must run."""
    found = store.freshness.get(stage, subject)
    if found is None or found.digest != digest:
        return None
    return _state(found, kind)


def recorded(store: Store, stage: str, subject: str, kind: type[State]) -> tuple[int, State] | None:
    """(run id, state) the stage last recorded, whatever its inputs were; None when there is none
    or it was written by another version."""
    found = store.freshness.get(stage, subject)
    return None if found is None else _state(found, kind)


def _state(found: FreshnessRecord, kind: type[State]) -> tuple[int, State] | None:
    try:
        data = json.loads(found.state_json)
        # A field added later with a default is optional, so adding one costs no re-run.
        values = {
            f.name: data[f.name]
            for f in fields(kind)  # type: ignore[arg-type]
            if f.name in data or (f.default is MISSING and f.default_factory is MISSING)
        }
        state = kind(**values)
    except (ValueError, KeyError, TypeError):
        return None  # written by another version: run the stage again
    return found.run_id, state


def record(store: Store, stage: str, subject: str, digest: str, run_id: int, state: object) -> None:
    store.freshness.put(stage, subject, digest, run_id, json.dumps(asdict(state), sort_keys=True))  # type: ignore[call-overload]
