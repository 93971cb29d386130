"""A process killed (SIGKILL) at any moment while recording decisions loses no committed decision
and leaves a database that passes SQLite's integrity check."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA

from fieldnotes.coding.excerpts import build_excerpts
from fieldnotes.pipeline import ingest_corpus
from fieldnotes.records import Suggestion
from fieldnotes.store import Store

WRITER = """
import sys
from fieldnotes.store import Store
store = Store.open(sys.argv[1])
rows = store.connection.execute("SELECT excerpt_id, code_id FROM suggestions ORDER BY excerpt_id, code_id").fetchall()
for round_ in range(1000):
    for i, row in enumerate(rows):
        status = "accepted" if (i + round_) % 2 else "rejected"
        store.decisions.record(row["excerpt_id"], row["code_id"], status, "kill-test", memo=f"round {round_}")
        print(row["excerpt_id"], row["code_id"], status, round_, flush=True)
"""


@pytest.fixture
def database(tmp_path, settings) -> Path:
    out = tmp_path / "out"
    ingest_corpus(DATA / "mini", out, settings)
    with Store.open(out / "fieldnotes.db") as store:
        run_id = store.runs.begin("code", "", "", "{}", {})
        passages, sentences, texts = store.corpus.passages_with_sentences()
        excerpts = build_excerpts(passages, sentences, texts, 40)
        store.coding.save_excerpts(run_id, excerpts)
        codes = ("volunteering", "privacy-risk", "staff-autonomy")
        store.coding.save_suggestions(
            run_id,
            "coproduction",
            [Suggestion(e.excerpt_id, code, 0.5, "rules", "test", {}) for e in excerpts for code in codes],
        )
    return out / "fieldnotes.db"


@pytest.mark.parametrize("seed", range(12))
def test_sigkill_while_recording_decisions_loses_nothing_committed(database, seed):
    generator = random.Random(seed)
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(database)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # Let it start and write for a random while, then kill it without warning.
    time.sleep(1.5 + generator.random() * 1.5)
    os.kill(process.pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    # A line cut short by the kill is not counted; its decision may still have been committed.
    committed = [line.split() for line in output.split("\n")[:-1]]

    db = sqlite3.connect(database)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for excerpt_id, code_id, status, round_ in committed:
        latest[(excerpt_id, code_id)] = (status, int(round_))
    audit = db.execute("SELECT COUNT(*) FROM decisions WHERE coder = 'kill-test'").fetchone()[0]
    # Every reported decision is in the audit trail; at most one more (committed, not yet printed).
    assert len(committed) <= audit <= len(committed) + 1
    for (excerpt_id, code_id), (status, round_) in latest.items():
        stored = db.execute(
            "SELECT status, memo FROM suggestions WHERE excerpt_id = ? AND code_id = ?", (excerpt_id, code_id)
        ).fetchone()
        # The stored state is the reported one, or the one decision written after it before the kill.
        assert stored[1] in (f"round {round_}", f"round {round_ + 1}")
        if stored[1] == f"round {round_}":
            assert stored[0] == status


# --- SIGKILL during `fieldnotes code`, and two runs on one results folder ----------------------

CLI = [sys.executable, "-c", "from fieldnotes.cli import main; main()"]
KILLS = 6  # kill points spread over one run's duration
KILL_BUDGET = 150  # seconds of killed runs at most (each one loads the embedding model)


@pytest.fixture
def decided(tmp_path, settings, embedder):
    """A coded corpus (in process, with the session's model) with researchers' decisions recorded."""
    import shutil

    from fieldnotes.pipeline import code_corpus

    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "mini", corpus)
    out = tmp_path / "out"
    code_corpus(corpus, out, settings, embedder=embedder)
    with Store.open(out / "fieldnotes.db") as store:
        rows = store.connection.execute(
            "SELECT excerpt_id, code_id FROM suggestions WHERE status = 'suggested' ORDER BY excerpt_id, code_id"
        ).fetchall()
        assert len(rows) >= 4
        for i, row in enumerate(rows[:4]):
            status = "accepted" if i % 2 else "rejected"
            store.decisions.record(row["excerpt_id"], row["code_id"], status, "kill-test", memo=f"decision {i}")
        passage = store.connection.execute("SELECT * FROM passages WHERE active = 1 ORDER BY passage_id").fetchone()
        store.decisions.add_code(
            passage["passage_id"], passage["start"], passage["end"], "mutual-help", "coproduction", "kill-test"
        )
    return corpus, out, snapshot(out / "fieldnotes.db")


def snapshot(database: Path) -> tuple[list[tuple], list[tuple]]:
    """The audit trail and every reviewed suggestion: what a kill must never take away."""
    db = sqlite3.connect(database)
    try:
        decisions = db.execute(
            "SELECT decision_id, excerpt_id, code_id, action, new_status, coder, memo FROM decisions"
            " WHERE coder = 'kill-test' ORDER BY decision_id"
        ).fetchall()
        reviewed = db.execute(
            "SELECT excerpt_id, code_id, status, status_by, memo FROM suggestions"
            " WHERE status IN ('accepted', 'rejected') ORDER BY excerpt_id, code_id"
        ).fetchall()
    finally:
        db.close()
    return decisions, reviewed


def assert_intact(out: Path, before: tuple[list[tuple], list[tuple]]) -> None:
    import csv

    from fieldnotes.records import EXCERPT_COLUMNS
    from fieldnotes.store import SCHEMA_VERSION

    db = sqlite3.connect(out / "fieldnotes.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        db.close()
    decisions, reviewed = snapshot(out / "fieldnotes.db")
    assert decisions[: len(before[0])] == before[0]
    assert set(before[1]) <= set(reviewed)
    # Result files are replaced whole: whatever is there is complete.
    with (out / "excerpts.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == EXCERPT_COLUMNS and all(len(row) == len(EXCERPT_COLUMNS) for row in rows)


def add_paragraph(corpus: Path, n: int) -> None:
    """Give each run new text to read, embed and code (an unchanged corpus is mostly reused)."""
    note = corpus / "osaka" / "clinic-notes.txt"
    extra = f"\n\nOn visit {n} the nurses and members planned the rota together and shared the meals they cooked.\n"
    note.write_text(note.read_text(encoding="utf-8") + extra, encoding="utf-8")


@pytest.mark.slow
def test_sigkill_at_random_points_of_code_loses_no_decision(decided):
    corpus, out, before = decided
    args = [*CLI, "code", str(corpus), "--out", str(out)]
    add_paragraph(corpus, 0)
    started = time.monotonic()
    full = subprocess.run(args, capture_output=True, text=True, timeout=600)
    duration = time.monotonic() - started
    assert full.returncode == 0, full.stderr
    assert_intact(out, before)
    generator = random.Random(8)
    killed_at = []
    budget_start = time.monotonic()
    for i in range(KILLS):
        if time.monotonic() - budget_start > KILL_BUDGET:
            break
        add_paragraph(corpus, i + 1)
        # Spread over the run (model loading, ingestion, coding, themes, report), jittered.
        delay = duration * (0.1 + 0.85 * (i + generator.random()) / KILLS)
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed_at.append(round(delay, 1))
        process.wait(timeout=60)
        assert_intact(out, before)
    assert len(killed_at) >= 3, killed_at
    # The next run completes (no stale lock, nothing half-written in the way) and keeps every decision.
    final = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    assert_intact(out, before)
    print(f"killed `fieldnotes code` {len(killed_at)} times at {killed_at} s of a {duration:.1f} s run")


@pytest.mark.slow
def test_a_second_run_on_the_same_results_folder_is_refused_clearly(decided):
    corpus, out, before = decided
    add_paragraph(corpus, 1)
    first = subprocess.Popen(
        [*CLI, "code", str(corpus), "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = out / ".fieldnotes.lock"
    deadline = time.monotonic() + 60
    while not (lock.is_file() and lock.read_text(encoding="utf-8").strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first run ended before the second could start"
    for command in ("ingest", "code"):
        second = subprocess.run([*CLI, command, str(corpus), "--out", str(out)], capture_output=True, text=True)
        assert second.returncode == 1
        assert "is using this results folder" in second.stderr and "`fieldnotes code` (process" in second.stderr
    # A researcher reviewing meanwhile is not a run: decisions go in, one transaction each.
    with Store.open(out / "fieldnotes.db") as store:
        row = store.connection.execute(
            "SELECT excerpt_id, code_id FROM suggestions WHERE status = 'suggested' ORDER BY excerpt_id LIMIT 1"
        ).fetchone()
        store.decisions.record(row["excerpt_id"], row["code_id"], "accepted", "kill-test", memo="during the run")
    _, errors = first.communicate(timeout=600)
    assert first.returncode == 0, errors
    assert_intact(out, before)
    assert snapshot(out / "fieldnotes.db")[0][-1][-1] == "during the run"
    again = subprocess.run([*CLI, "ingest", str(corpus), "--out", str(out)], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
