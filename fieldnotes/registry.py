"""Registries of swappable parts, chosen by name in the settings.

Five kinds of part are registered: embedders (`[embedding] backend`), suggesters (`[coding]
suggesters`), sentence segmenters (`[segment] splitters`), exporters (`fieldnotes export
--format`) and project importers (`fieldnotes import-project`). The built-in parts are listed
below as "module:attribute" references, so that naming a part imports nothing heavy; another
package adds a part by declaring a Python entry point in the group of its kind, e.g.

    [project.entry-points."fieldnotes.suggesters"]
    my-suggester = "my_package.suggest:MySuggester"

and a test adds one for its own duration with `registry.temporarily(name, obj)`. Adding a part
touches no file of fieldnotes. What each kind of part must provide is described by its
protocol: `fieldnotes.embedding.Embedder`, `fieldnotes.coding.suggest.SuggesterFactory`,
`fieldnotes.ingest.segment.SentenceSplitter`, `fieldnotes.exchange.run.Exporter` and
`fieldnotes.exchange.run.ProjectImporter`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fieldnotes.errors import FieldnotesError


class RegistryError(FieldnotesError):
    """A part is named that no registry holds, or it cannot be loaded."""


class Registry:
    """Named parts of one kind: built-ins by reference, plug-ins by entry point."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self._references = dict(builtins)
        self._loaded: dict[str, Any] = {}
        self._scanned = False

    def _scan(self) -> None:
        """Add the parts other packages declare as entry points (once; built-ins win a clash)."""
        if self._scanned:
            return
        from importlib.metadata import entry_points

        for point in entry_points(group=self.group):
            self._references.setdefault(point.name, point.value)
        self._scanned = True

    def names(self) -> list[str]:
        self._scan()
        return sorted({*self._references, *self._loaded})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def get(self, name: str) -> Any:
        """The part registered as `name`, imported on first use."""
        if name in self._loaded:
            return self._loaded[name]
        self._scan()
        reference = self._references.get(name)
        if reference is None:
            raise RegistryError(f"no {self.kind} named '{name}'; choose one of {', '.join(self.names())}")
        module_name, _, attribute = reference.partition(":")
        try:
            part = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"the {self.kind} '{name}' ({reference}) cannot be loaded: {exc}") from None
        self._loaded[name] = part
        return part

    @contextmanager
    def temporarily(self, name: str, part: Any) -> Iterator[None]:
        """Register `part` as `name` inside the block (for tests and notebooks)."""
        previous_reference = self._references.pop(name, None)
        previous_part = self._loaded.get(name)
        self._loaded[name] = part
        try:
            yield
        finally:
            self._loaded.pop(name, None)
            if previous_part is not None:
                self._loaded[name] = previous_part
            if previous_reference is not None:
                self._references[name] = previous_reference


embedders = Registry(
    "embedding backend",
    "fieldnotes.embedders",
    {
        "onnx": "fieldnotes.embedding_onnx:onnx_backend",
        "sentence-transformers": "fieldnotes.embedding:sentence_transformer_backend",
        "use-multilingual": "fieldnotes.embedding:use_multilingual_backend",
    },
)
suggesters = Registry(
    "suggester",
    "fieldnotes.suggesters",
    {
        "rules": "fieldnotes.coding.suggest:RuleSuggester",
        "semantic": "fieldnotes.coding.suggest:SemanticSuggester",
        "learned": "fieldnotes.coding.learned:LearnedSuggester",
    },
)
segmenters = Registry(
    "sentence segmenter",
    "fieldnotes.segmenters",
    {
        "spacy-en": "fieldnotes.ingest.segment:english_splitter",
        "rules-ja": "fieldnotes.ingest.segment:JapaneseSentenceSplitter",
    },
)
exporters = Registry(
    "export format",
    "fieldnotes.exporters",
    {
        "csv": "fieldnotes.exchange.tables:export_csv",
        "xlsx": "fieldnotes.exchange.tables:export_xlsx",
        "md": "fieldnotes.exchange.tables:export_markdown",
        "qdpx": "fieldnotes.exchange.refi:export_qdpx",
        "qdc": "fieldnotes.exchange.refi:export_qdc",
        "taguette-codebook": "fieldnotes.exchange.taguette:export_codebook_csv",
    },
)
importers = Registry(
    "project importer",
    "fieldnotes.importers",
    {
        "qdpx": "fieldnotes.exchange.imports:import_project",
        "csv": "fieldnotes.exchange.taguette:import_highlights",
    },
)
