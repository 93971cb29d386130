"""What every command shares: the common options, part names checked against their registry,
loading the settings and the codebook, and turning domain errors into messages.

Nothing heavy is imported here (`fieldnotes --help` must stay instant): the settings and the
codebook modules are imported when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fieldnotes.errors import FieldnotesError

if TYPE_CHECKING:
    from fieldnotes.codebook import LoadedCodebook
    from fieldnotes.settings import Settings

DEFAULT_OUT = Path("outputs")


def settings_option(func: Callable) -> Callable:
    return click.option(
        "--settings",
        "settings_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Pipeline settings (TOML). Default: the shipped pipeline/default.toml.",
    )(func)


def out_option(func: Callable) -> Callable:
    return click.option(
        "--out",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_OUT,
        show_default=True,
        help="Results folder (fieldnotes.db and CSV files).",
    )(func)


def codebook_option(func: Callable) -> Callable:
    return click.option(
        "--codebook",
        "codebook",
        default=None,
        help="Codebook YAML file, or the name of a shipped one. Default: [coding] codebook in the settings.",
    )(func)


class RegisteredName(click.ParamType):
    """A part's name, checked against its registry (fieldnotes.registry) only when given, so
    `--help` stays instant; the help shows the built-in names."""

    name = "name"

    def __init__(self, kind: str, builtins: tuple[str, ...]) -> None:
        self.kind = kind
        self.builtins = builtins

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(self.builtins) + "|...]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from fieldnotes import registry

        parts = getattr(registry, self.kind)
        if value not in parts:
            self.fail(f"'{value}' is not a known {parts.kind}; choose one of {', '.join(parts.names())}", param, ctx)
        return str(value)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a FieldnotesError, or a database that fails under a command (corrupt, full, locked,
    read-only), into click's one-line message and a non-zero exit."""
    import sqlite3

    try:
        yield
    except FieldnotesError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise click.ClickException(
            f"the results database cannot be used ({exc}); every step finished before this one is saved, "
            "this one is not; if the file is damaged, restore it from a backup (`fieldnotes backup`) or move "
            "the results folder away and run again"
        ) from None


def load_settings(path: Path | None) -> Settings:
    from fieldnotes.settings import load_settings as load

    return load(path)


def load_inputs(
    settings_path: Path | None, codebook: str | None, *, check_patterns: bool = True
) -> tuple[Settings, LoadedCodebook]:
    """The settings, and the codebook given (by default the settings' `[coding] codebook`)."""
    from fieldnotes.codebook import load_codebook

    settings = load_settings(settings_path)
    return settings, load_codebook(codebook or settings.coding.codebook, check_patterns=check_patterns)


def coder_name(coder: str | None) -> str:
    """The coder given, else the login name."""
    import getpass

    return coder or getpass.getuser()
