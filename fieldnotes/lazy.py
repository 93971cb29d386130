"""Heavy third-party imports, done once and only where needed.

spaCy's machine-learning layer (thinc) imports torch whenever torch is installed, only to
offer PyTorch layers. fieldnotes uses spaCy for blank pipelines (sentence splitting,
lookup lemmas, token rules, Sudachi), never those layers, and torch costs about two
seconds and 150 MB per process: a run with nothing to embed would pay it for nothing.
"""

from __future__ import annotations

import sys
from types import ModuleType


def import_spacy() -> ModuleType:
    """`import spacy`, without torch unless torch is loaded already.

    While spaCy loads, `torch` is marked absent in `sys.modules`, so thinc's optional
    `import torch` fails the way it does on a machine without torch (thinc then offers
    no PyTorch layers). The mark is removed at once: a later `import torch`, for the
    embedding model, works as usual.
    """
    if "spacy" in sys.modules:
        return sys.modules["spacy"]
    if "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # None makes `import torch` raise ImportError
    try:
        import spacy
    finally:
        if sys.modules.get("torch", ...) is None:
            del sys.modules["torch"]
    return spacy
