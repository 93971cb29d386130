"""Registries: parts chosen by name, built-ins lazily, plug-ins from entry points of other packages."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldnotes import registry
from fieldnotes.cli import cli
from fieldnotes.errors import SettingsError
from fieldnotes.registry import Registry, RegistryError
from fieldnotes.settings import Settings, load_settings


@pytest.fixture
def plugin_package(tmp_path: Path, monkeypatch):
    """An installed-looking package (a dist-info with entry points) that adds an exporter and a suggester."""
    site = tmp_path / "site"
    (site / "fieldnotes_plugin_demo").mkdir(parents=True)
    (site / "fieldnotes_plugin_demo" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from fieldnotes.exchange.data import ExportFormat

            def _write(request):
                lines = [f"{row.excerpt_id}\\t{row.code}" for row in request.data.rows]
                request.path.write_text("\\n".join(lines), encoding="utf-8")
                return len(lines)

            tsv = ExportFormat(_write)

            class EchoSuggester:
                features = ("echo",)
                credited_by_terms = False
                name = "echo"

                @classmethod
                def build(cls, context):
                    return cls()
            """
        ),
        encoding="utf-8",
    )
    info = site / "fieldnotes_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fieldnotes-plugin-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[fieldnotes.exporters]\ntsv = fieldnotes_plugin_demo:tsv\n\n"
        "[fieldnotes.suggesters]\necho = fieldnotes_plugin_demo:EchoSuggester\n"
    )
    monkeypatch.syspath_prepend(str(site))
    # Fresh registries, so the plug-in's entry points are scanned in this test only.
    for name in ("exporters", "suggesters"):
        old = getattr(registry, name)
        monkeypatch.setattr(registry, name, Registry(old.kind, old.group, dict(old._references)))
    yield
    sys.modules.pop("fieldnotes_plugin_demo", None)


def test_builtins_are_listed_without_importing_them() -> None:
    fresh = Registry("suggester", "fieldnotes.no-such-group", {"heavy": "no_such_module_anywhere:Thing"})
    assert fresh.names() == ["heavy"] and "heavy" in fresh
    with pytest.raises(RegistryError, match=r"'heavy' .* cannot be loaded"):
        fresh.get("heavy")


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(
        RegistryError, match="no export format named 'pdf'; choose one of csv, md, qdc, qdpx, taguette-codebook, xlsx"
    ):
        registry.exporters.get("pdf")


def test_temporarily_restores_the_builtin() -> None:
    builtin = registry.embedders.get("sentence-transformers")
    with registry.embedders.temporarily("sentence-transformers", "stand-in"):
        assert registry.embedders.get("sentence-transformers") == "stand-in"
    assert registry.embedders.get("sentence-transformers") is builtin


def test_plugin_suggester_is_a_valid_setting(plugin_package) -> None:
    settings = Settings.model_validate({"coding": {"suggesters": ["rules", "echo"]}})
    assert settings.coding.suggesters == ["rules", "echo"]
    assert registry.suggesters.get("echo").features == ("echo",)


def test_settings_name_the_unknown_part_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[embedding]\nbackend = "onnx-magic"\n[segment]\nsplitters = { en = "nope" }\n')
    with pytest.raises(SettingsError) as error:
        load_settings(path)
    message = str(error.value)
    assert "s.toml" in message and "onnx-magic" in message and "sentence-transformers" in message
    assert "nope" in message


def test_plugin_exporter_writes_through_export(
    plugin_package, tmp_path: Path, mini_corpus, settings, shared_embedder
) -> None:
    from fieldnotes.codebook import load_codebook
    from fieldnotes.exchange.run import export
    from fieldnotes.pipeline import code_corpus

    out = tmp_path / "out"
    quick = settings.model_copy(update={"themes": settings.themes.model_copy(update={"enabled": False})})
    coded = code_corpus(mini_corpus, out, quick)
    loaded = load_codebook("coproduction", check_patterns=False)
    report = export(out, loaded, quick, "tsv", status="all", output=tmp_path / "x.tsv")
    lines = report.path.read_text(encoding="utf-8").splitlines()
    assert report.excerpts == len(lines) == sum(coded.suggestions_by_code.values()) > 0
    assert {line.split("\t")[1] for line in lines} <= set(loaded.codebook.code_ids)


def test_cli_format_is_checked_against_the_registry(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "--format", "pdf", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        "'pdf' is not a known export format; choose one of csv, md, qdc, qdpx, taguette-codebook, xlsx" in result.output
    )


def test_import_project_names_the_importers_for_a_wrong_file(tmp_path: Path) -> None:
    book = tmp_path / "book.qdc"
    book.write_text("<CodeBook/>")
    result = CliRunner().invoke(cli, ["import-project", str(book), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "no project importer reads .qdc files; known: .csv, .qdpx" in result.output
    assert "fieldnotes import-codebook" in result.output
