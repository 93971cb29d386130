"""The settings group: show, check or copy pipeline settings files."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from fieldnotes.cli.options import load_settings, settings_option, user_errors


@click.group()
def settings() -> None:
    """Show, check or copy pipeline settings files."""


@settings.command("show")
@settings_option
def settings_show(settings_path: Path | None) -> None:
    """Print the settings file in effect (the shipped defaults unless --settings)."""
    from fieldnotes.resources import default_settings_path

    path = settings_path or default_settings_path()
    with user_errors():
        load_settings(path)
        click.echo(path.read_text(encoding="utf-8"), nl=False)


@settings.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def settings_check(file: Path) -> None:
    """Validate a settings FILE; name every wrong key and its line."""
    with user_errors():
        loaded = load_settings(file)
    sites = ", ".join(site.id for site in loaded.site) or "none"
    click.echo(f"{file}: valid (sites: {sites}; digest {loaded.digest()})")


@settings.command("init")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def settings_init(file: Path, force: bool) -> None:
    """Copy the default settings to FILE, to edit and pass with --settings."""
    from fieldnotes.resources import default_settings_path

    if file.exists() and not force:
        raise click.ClickException(f"{file} exists; pass --force to overwrite it")
    shutil.copyfile(default_settings_path(), file)
    click.echo(f"wrote {file}; edit it and run e.g. `fieldnotes ingest corpus/ --settings {file}`")
