"""Every command that writes to a results folder takes its lock; a second writer is refused clearly."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from fieldnotes.cli import cli
from fieldnotes.store import Store

HOLD = textwrap.dedent(
    """
    import sys, time
    from fieldnotes.store import results_lock
    with results_lock(sys.argv[1], "code"):
        print("held", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def held_folder(tmp_path):
    out = tmp_path / "out"
    with Store.open(out / "fieldnotes.db"):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    yield out
    holder.kill()
    holder.wait()


@pytest.mark.parametrize(
    "arguments",
    [
        ["themes"],
        ["calibrate"],
        ["evaluate", "GOLD"],
        ["import-decisions", "SHEET"],
    ],
)
def test_writing_commands_are_refused_while_another_run_holds_the_folder(held_folder, tmp_path, arguments):
    gold = tmp_path / "gold.csv"
    gold.write_text("id,text,codes\ng1,The han meets monthly.,\n", encoding="utf-8")
    sheet = tmp_path / "sheet.xlsx"
    sheet.write_bytes(b"")
    arguments = [{"GOLD": str(gold), "SHEET": str(sheet)}.get(a, a) for a in arguments]
    result = CliRunner().invoke(cli, [*arguments, "--out", str(held_folder)])
    assert result.exit_code == 1, result.output
    assert "is using this results folder" in result.output and "`fieldnotes code` (process" in result.output
