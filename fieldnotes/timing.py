"""Seconds and peak memory per stage of a run, with model time booked apart.

An embedder reports the time it spends loading its model and encoding through
`book_model_time`; the stage running at that moment books it under 'model_load' and 'embed'
instead of its own name, so every second of a run counts once and a stage's figure is the work
beyond the model. Nothing is read from the embedder's own counters, so an embedder used before
the run (a test's session model) books nothing it did not do in this run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

MODEL_LOAD = "model_load"
ENCODE = "embed"


@dataclass
class _Stage:
    name: str
    own_model_time: bool
    model_seconds: float = 0.0


_running: ContextVar[Stopwatch | None] = ContextVar("fieldnotes_stopwatch", default=None)


_encoder_bar: ContextVar[bool] = ContextVar("fieldnotes_encoder_bar", default=False)


@contextmanager
def encoder_progress_bar(enabled: bool = True) -> Iterator[None]:
    """Within this block an embedder that can draws a bar with the time left while it encodes
    (sentence-transformers' tqdm bar, on stderr). The CLI turns it on at a terminal; the bar
    only watches the batches, so the vectors are the same with or without it."""
    token = _encoder_bar.set(enabled)
    try:
        yield
    finally:
        _encoder_bar.reset(token)


def encoder_progress_wanted() -> bool:
    return _encoder_bar.get()


def book_model_time(kind: str, seconds: float) -> None:
    """Called by embedders: `kind` is MODEL_LOAD or ENCODE."""
    clock = _running.get()
    if clock is not None:
        clock.book_model(kind, seconds)


def book_texts_encoded(texts: int) -> None:
    """Called where texts missing from the embedding cache are encoded, whatever the embedder."""
    clock = _running.get()
    if clock is not None:
        clock.book_encoded(texts)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (0 where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def add_seconds(timings: dict[str, float], stage: str, seconds: float) -> None:
    timings[stage] = timings.get(stage, 0.0) + seconds


@dataclass
class Stopwatch:
    """Seconds per stage; model time inside a stage goes to 'model_load' and 'embed'."""

    timings: dict[str, float] = field(default_factory=dict)
    # The process's peak resident memory (MB) when each stage last ended: it only grows, so
    # the stage where it jumps is the one that needed the memory.
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    # Texts the run encoded (not found in the embedding cache), by the stage that needed them.
    encoded_by_stage: dict[str, int] = field(default_factory=dict)
    _stages: list[_Stage] = field(default_factory=list)

    @property
    def texts_encoded(self) -> int:
        return sum(self.encoded_by_stage.values())

    def book_encoded(self, texts: int) -> None:
        stage = self._stages[-1].name if self._stages else "other"
        self.encoded_by_stage[stage] = self.encoded_by_stage.get(stage, 0) + texts

    def note_peak(self, name: str) -> None:
        self.peak_rss_mb[name] = peak_rss_mb()

    def book_model(self, kind: str, seconds: float) -> None:
        stage = self._stages[-1] if self._stages else None
        if stage is not None and stage.own_model_time:
            return  # stays in the stage's own time
        if stage is not None:
            stage.model_seconds += seconds
        add_seconds(self.timings, kind, seconds)

    @contextmanager
    def stage(self, name: str, own_model_time: bool = False) -> Iterator[None]:
        """Time a stage; with `own_model_time` its model time stays in it (themes embedding words)."""
        token = _running.set(self)
        current = _Stage(name, own_model_time)
        self._stages.append(current)
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self._stages.pop()
            _running.reset(token)
            add_seconds(self.timings, name, spent - current.model_seconds)
            if self._stages:  # a nested stage's model time is not the outer stage's either
                self._stages[-1].model_seconds += current.model_seconds
            self.note_peak(name)

    def rounded(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.timings.items()}
