"""Figures for docs/reliability.md that no unit test prints: decisions kept through renames and
partial runs, emptied and foreign databases refused, threads held by idle connections.

    python benchmarks/reliability/decision_figures.py [--idle 1000]

Works on a copy of the shipped sample corpus (corpus/) in a temporary folder, through the real
`fieldnotes` command; prints one line per figure. Takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIELDNOTES = str(Path(sys.executable).with_name("fieldnotes"))
CODEBOOK = "coproduction"


def fieldnotes(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([FIELDNOTES, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)


def code(corpus: Path, out: Path) -> None:
    result = fieldnotes("code", corpus, "--out", out, "-q")
    if result.returncode != 0:
        raise SystemExit(f"fieldnotes code failed:\n{result.stderr}")


def live_codings(out: Path) -> set[tuple[str, str, str, str]]:
    """(document, excerpt text, code, status) of every live reviewed suggestion."""
    db = sqlite3.connect(out / "fieldnotes.db")
    rows = db.execute(
        """SELECT d.path, e.text, s.code_id, s.status FROM suggestions s JOIN excerpts e USING (excerpt_id)
           JOIN documents d ON d.document_id = e.document_id
           WHERE s.codebook_id = ? AND e.active = 1 AND s.status IN ('accepted', 'rejected')""",
        (CODEBOOK,),
    ).fetchall()
    db.close()
    return set(rows)


def decide(out: Path, document: str, count: int, coder: str) -> list[tuple[str, str, str]]:
    """Accept or reject (alternately) the first `count` open suggestions on `document`."""
    sys.path.insert(0, str(ROOT))
    from fieldnotes.store import ReviewFilter, Store

    made = []
    with Store.open(out / "fieldnotes.db") as store:
        items = store.reads.review_items(CODEBOOK, ReviewFilter(document=document, status="suggested"))
        for index, item in enumerate(items[:count]):
            status = "accepted" if index % 2 == 0 else "rejected"
            store.decisions.record(item["excerpt_id"], item["code_id"], status, coder, codebook_id=CODEBOOK)
            made.append((item["text"], item["code_id"], status))
        store.checkpoint()
    return made


def kept(out: Path, document: str, made: list[tuple[str, str, str]]) -> int:
    live = live_codings(out)
    return sum((document, text, code_id, status) in live for text, code_id, status in made)


def renames_and_partial_runs(work: Path) -> None:
    corpus, out = work / "corpus", work / "out"
    shutil.copytree(ROOT / "corpus", corpus)
    code(corpus, out)
    document = "nagoya/2024-06-14_minami-han-meeting.md"
    if not (corpus / document).is_file():  # the sample corpus changed: take its first Nagoya file
        document = sorted(p.relative_to(corpus).as_posix() for p in (corpus / "nagoya").glob("*.md"))[0]
    made = decide(out, document, 6, "alice")
    renamed = document.replace(".md", "-renamed.md")
    (corpus / document).rename(corpus / renamed)
    code(corpus, out)
    after_rename = kept(out, renamed, made)
    made_on_renamed = decide(out, renamed, 4, "bob")
    (corpus / renamed).rename(corpus / document)
    code(corpus, out)
    back = kept(out, document, made + made_on_renamed)
    print(
        f"rename, code, rename back, code: {after_rename}/{len(made)} decisions kept after the rename, "
        f"{back}/{len(made) + len(made_on_renamed)} after renaming back"
    )

    before = live_codings(out)
    db = sqlite3.connect(out / "fieldnotes.db")
    live_before = db.execute("SELECT COUNT(*) FROM suggestions WHERE status != 'withdrawn'").fetchone()[0]
    missing_before = db.execute("SELECT COUNT(*) FROM documents WHERE status = 'missing'").fetchone()[0]
    db.close()
    one = sorted((corpus / "osaka").iterdir())[0]
    result = fieldnotes("code", one, "--out", out, "-q")
    db = sqlite3.connect(out / "fieldnotes.db")
    missing = db.execute("SELECT COUNT(*) FROM documents WHERE status = 'missing'").fetchone()[0]
    live_after = db.execute("SELECT COUNT(*) FROM suggestions WHERE status != 'withdrawn'").fetchone()[0]
    db.close()
    code(corpus, out)
    after_full = live_codings(out)
    print(
        f"code ONE-FILE on the folder (exit {result.returncode}): {missing - missing_before} documents marked missing, "
        f"{live_before - live_after} suggestions withdrawn, {len(before & after_full)}/{len(before)} decisions "
        "kept after the next full run"
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def damaged_databases(work: Path) -> None:
    source = work / "out"
    foreign = work / "foreign.db"
    db = sqlite3.connect(foreign)
    db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()
    commands = {
        "code": lambda out: fieldnotes("code", work / "corpus", "--out", out, "-q"),
        "export": lambda out: fieldnotes("export", "--out", out, "--format", "csv", "-o", out / "x.csv"),
        "history": lambda out: fieldnotes("history", "e0", "--out", out),
        "agreement": lambda out: fieldnotes("agreement", "--out", out),
        "backup": lambda out: fieldnotes("backup", out / "copy.db", "--out", out),
        "compare": lambda out: fieldnotes("compare", "--out", out),
    }
    for kind in ("empty", "foreign"):
        refused, unchanged, lines = 0, 0, []
        for name, run in commands.items():
            out = work / f"{kind}-{name}"
            shutil.copytree(source, out, ignore=shutil.ignore_patterns("fieldnotes.db*"))
            database = out / "fieldnotes.db"
            if kind == "empty":
                database.write_bytes(b"")
            else:
                shutil.copy(foreign, database)
            before = (digest(database), digest(out / "excerpts.csv"))
            result = run(out)
            message = (result.stderr.strip().splitlines() or [""])[-1]
            refused += result.returncode != 0 and "Traceback" not in result.stderr
            unchanged += (digest(database), digest(out / "excerpts.csv")) == before
            lines.append(f"    {name}: exit {result.returncode}: {message[:150]}")
        print(
            f"{kind} database: {refused}/{len(commands)} commands refused with a message, "
            f"{unchanged}/{len(commands)} left the database and excerpts.csv unchanged"
        )
        print("\n".join(lines))


def idle_connections(work: Path, count: int) -> None:
    server = subprocess.Popen(
        [FIELDNOTES, "review", "--out", str(work / "out"), "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    try:
        assert server.stdout is not None
        address = None
        while address is None:
            line = server.stdout.readline()
            if not line:
                raise SystemExit("the review server stopped")
            found = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            address = int(found.group(1)) if found else None
        time.sleep(1)

        def threads() -> int:
            status = Path(f"/proc/{server.pid}/status").read_text()
            return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]

        at_rest = threads()
        idle = []
        for _ in range(count):
            idle.append(socket.create_connection(("127.0.0.1", address), timeout=5))
        time.sleep(2)
        held = threads()

        def ask() -> bytes:
            probe = socket.create_connection(("127.0.0.1", address), timeout=60)
            probe.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n" % address)
            answer = probe.recv(64)
            probe.close()
            return answer[:12] or b"closed unanswered"

        meanwhile = ask()
        time.sleep(32)  # past the handler's 30 s idle timeout
        later, after = ask(), threads()
        for connection in idle:
            connection.close()
        print(
            f"{count} idle connections: server threads {at_rest} at rest, {held} while they were open, "
            f"{after} after 32 s; a request from another client meanwhile: {meanwhile!r}, after 32 s: {later!r}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to open (default 1000)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fieldnotes-reliability-") as folder:
        work = Path(folder)
        started = time.perf_counter()
        renames_and_partial_runs(work)
        damaged_databases(work)
        idle_connections(work, options.idle)
        print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
