"""Stage timings: model time is booked by the embedder as it happens, never read from its counters."""

from __future__ import annotations

import time

from fieldnotes.timing import ENCODE, MODEL_LOAD, Stopwatch, book_model_time


def spend(kind: str, seconds: float) -> None:
    """Spend model time for real, then book it, as an embedder does."""
    time.sleep(seconds)
    book_model_time(kind, seconds)


class BookingEmbedder:
    """Reports model time as a real embedder does; its own counters say it worked before."""

    model_id = "booking-test"
    load_seconds = 36.9  # spent in an earlier run: must not be booked in this one
    encode_seconds = 120.0

    def encode(self, texts):
        spend(MODEL_LOAD, 0.02)
        spend(ENCODE, 0.03)
        return texts


def test_model_time_moves_out_of_the_stage_that_spent_it() -> None:
    clock = Stopwatch()
    with clock.stage("code_setup"):
        time.sleep(0.06)
        BookingEmbedder().encode(["a", "b"])
    assert clock.timings[MODEL_LOAD] == 0.02 and clock.timings[ENCODE] == 0.03
    assert 0.06 <= clock.timings["code_setup"] < 0.06 + 0.04


def test_an_embedder_used_before_books_no_negative_seconds() -> None:
    clock = Stopwatch()
    used = BookingEmbedder()  # cumulative counters far larger than anything this run does
    with clock.stage("code_setup"):
        pass
    with clock.stage("code"):
        used.encode(["x"])
    assert all(seconds >= 0 for seconds in clock.timings.values()), clock.timings


def test_own_model_time_stays_in_its_stage_and_nested_stages_count_once() -> None:
    clock = Stopwatch()
    with clock.stage("themes", own_model_time=True):
        spend(ENCODE, 0.05)
    assert ENCODE not in clock.timings and clock.timings["themes"] >= 0.05
    with clock.stage("outer"), clock.stage("inner"):
        spend(ENCODE, 0.05)
    assert clock.timings[ENCODE] == 0.05
    assert clock.timings["outer"] >= 0 and clock.timings["inner"] >= 0
    assert set(clock.peak_rss_mb) == {"themes", "outer", "inner"}


def test_model_time_outside_a_stage_is_not_booked() -> None:
    book_model_time(ENCODE, 1.0)  # no stopwatch running: nothing to book into, and no error
    clock = Stopwatch()
    assert clock.timings == {}


def test_encoder_progress_bar_shows_time_left_and_leaves_vectors_alone(embedder, capsys):
    import numpy as np

    from fieldnotes.timing import encoder_progress_bar

    texts = [f"The volunteers met on day {i} to plan the home visits." for i in range(300)]
    plain = embedder.encode(texts)
    assert "Batches" not in capsys.readouterr().err
    with encoder_progress_bar():
        shown = embedder.encode(texts)
    err = capsys.readouterr().err
    assert "Batches" in err and "<" in err  # tqdm's "[elapsed<left]"
    assert np.array_equal(plain, shown)
