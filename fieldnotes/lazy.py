"""Heavy third-party imports, done once and only where needed.

spaCy's machine-learning layer (thinc) imports torch whenever torch is installed, only to
offer PyTorch layers. fieldnotes uses spaCy for blank pipelines (sentence splitting,
lookup lemmas, token rules, Sudachi), never those layers, and torch costs about two
seconds and 150 MB per process: a run with nothing to embed would pay it for nothing.
BERTopic imports sentence-transformers and transformers (and with them torch, 5-6 s) only to
offer embedding backends and labelling models fieldnotes never asks it for.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from types import ModuleType


class _HoldBack(importlib.abc.MetaPathFinder):
    """Makes `import name` (or a submodule) fail as if `name` were not installed. A finder, not a
    None entry in `sys.modules`: some libraries (scipy) look modules up there while importing."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (held back while another module loads)", name=fullname
            )
        return None


def _import_without(name: str, *absent: str) -> ModuleType:
    """`import name` while the modules `absent` that are not loaded yet cannot be imported, so an
    optional import of one inside it fails the way it does on a machine without it. They can be
    imported again as soon as `name` is loaded."""
    if name in sys.modules:
        return sys.modules[name]
    held = tuple(module for module in absent if module not in sys.modules)
    finder = _HoldBack(held)
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(name)
    finally:
        sys.meta_path.remove(finder)


def import_spacy() -> ModuleType:
    """`import spacy`, without torch unless torch is loaded already (thinc then offers no
    PyTorch layers, which fieldnotes does not use)."""
    return _import_without("spacy", "torch")


def import_bertopic() -> ModuleType:
    """`import bertopic`, without sentence-transformers, transformers and torch unless they are
    loaded already: BERTopic then offers no backend or text-generation labeller
    built on them; fieldnotes gives it its own embedding backend and labels with KeyBERTInspired
    and MMR."""
    import_spacy()  # BERTopic imports spaCy too (for an optional labeller)
    return _import_without("bertopic", "sentence_transformers", "transformers", "torch")
