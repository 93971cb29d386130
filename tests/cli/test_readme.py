"""The README's set-up commands are the ones CI runs, and its CLI tour matches --help."""

import re

from conftest import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup, re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_second():
    commands = readme_commands()
    assert len(commands) == 2
    install_and_run, install_and_test = commands
    assert "torch==2.13.0" in install_and_run or "torch" not in install_and_run
    assert install_and_run.endswith("corpus/")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert install_and_test in ci.splitlines()


def test_readme_mentions_every_command():
    from fieldnotes.cli import cli

    text = (REPO / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"fieldnotes {name}" in text, name
