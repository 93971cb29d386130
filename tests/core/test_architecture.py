"""The architecture in the README is the one in the code: layers (import-linter) and types (mypy)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'", pytrace=False)
    return found


def test_layers_and_forbidden_imports_hold() -> None:
    result = subprocess.run([tool("lint-imports")], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


@pytest.mark.slow
def test_the_package_type_checks() -> None:
    from mypy import api

    stdout, stderr, status = api.run(["--config-file", str(REPO / "pyproject.toml"), str(REPO / "fieldnotes")])
    assert status == 0, stdout[-4000:] + stderr[-1000:]
