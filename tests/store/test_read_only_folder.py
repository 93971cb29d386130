"""An archived, read-only results folder can still be read: history and export work, nothing is
written to it. Root ignores file permissions, so under root the folder is bind-mounted read-only
in a mount namespace of its own (`unshare -m`), as a read-only share would be."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.store import Store

# Under root: run the command with `folder` mounted read-only over itself.
_READ_ONLY_MOUNT = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"']


def _read_only_command(folder: Path, command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return [*_READ_ONLY_MOUNT, str(folder), *command]


def _freeze(folder: Path) -> None:
    """Take write permission away (what stops a user other than root)."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_history_and_export_read_a_read_only_results_folder(mini_corpus, tmp_path):
    base = tmp_path
    out = base / "out"
    result = CliRunner().invoke(cli, ["ingest", str(mini_corpus), "--out", str(out)])
    assert result.exit_code == 0, result.output
    with Store.open(out / "fieldnotes.db") as store:
        document = store.reads.current_documents()[0]["path"]
        passage = store.reads.document_passages(document)[0]
        excerpt = store.decisions.add_code(
            passage["passage_id"], passage["start"], passage["end"], "mutual-help", "coproduction", "alice", "kept"
        )
        store.checkpoint()
    _freeze(out)
    before = _digest(out)
    exported = base / "exported"
    exported.mkdir()
    fieldnotes = Path(sys.executable).with_name("fieldnotes")
    env = {**os.environ, "FIELDNOTES_CACHE_DIR": str(exported / "cache"), "HF_HUB_OFFLINE": "1"}
    probe = subprocess.run(_read_only_command(out, ["touch", str(out / "probe")]), capture_output=True, text=True)
    if probe.returncode == 0 or (out / "probe").exists():
        pytest.skip("cannot make a read-only folder on this machine (root without unshare -m)")

    def read(*args: str) -> subprocess.CompletedProcess[str]:
        command = _read_only_command(out, [str(fieldnotes), *args])
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    history = read("history", excerpt, "--out", str(out))
    assert history.returncode == 0, history.stderr
    assert "alice" in history.stdout
    export = read("export", "--out", str(out), "--format", "csv", "--status", "accepted", "-o", str(exported / "a.csv"))
    assert export.returncode == 0, export.stderr
    assert "mutual-help" in (exported / "a.csv").read_text(encoding="utf-8")
    # Into the read-only folder itself: one clear line that says where else to write.
    refused = read("export", "--out", str(out), "--format", "csv")
    assert refused.returncode == 1 and "give -o FILE to write it elsewhere" in refused.stderr, refused.stderr
    # A command that writes says why it cannot.
    coding = read("ingest", str(mini_corpus), "--out", str(out))
    assert coding.returncode == 1 and "the results folder cannot be written" in coding.stderr, coding.stderr
    assert _digest(out) == before
