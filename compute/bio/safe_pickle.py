"""A restricted unpickler for the published biological files.

The cell-info ``.pkl`` files hold only builtin containers and scalars; the ``*_factors.npy`` files are
numpy object arrays whose payload is a pickle of float arrays. A normal unpickler runs whatever callable a
pickle names, so a tampered file could run code. This one resolves only an allow-list of globals and
raises :class:`RefusedGlobalError` naming anything else. Callers verify the SHA-256 first as well.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
from pathlib import Path

import numpy as np
from numpy._core.multiarray import _reconstruct

_BUILTINS = {name: getattr(builtins, name) for name in
             ("dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
              "complex", "bool")}

# What numpy writes when it pickles a plain ndarray (module names of numpy 1.x and 2.x).
_NUMPY_ARRAY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RefusedGlobalError(pickle.UnpicklingError, ValueError):
    """A pickle asked for a global that is not on the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, *, allow_numpy_arrays: bool) -> None:
        super().__init__(file)
        self._allowed = dict(_NUMPY_ARRAY_GLOBALS) if allow_numpy_arrays else {}
        self._allowed.update({("builtins", name): obj for name, obj in _BUILTINS.items()})

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise RefusedGlobalError(
                f"refused global '{module}.{name}': this pickle may only contain builtin containers and "
                "scalars" + (" and numpy arrays" if ("numpy", "ndarray") in self._allowed else "")
                + "; the file is not one of the published data files") from None

    def persistent_load(self, pid):
        raise RefusedGlobalError(f"refused persistent id {pid!r}: not allowed in data files")


def _source_bytes(path_or_bytes: str | os.PathLike | bytes) -> bytes:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes)
    if isinstance(path_or_bytes, (str, os.PathLike)):
        return Path(path_or_bytes).read_bytes()
    raise TypeError(f"expected a path or bytes; got {type(path_or_bytes).__name__}")


def safe_load_pickle(path_or_bytes: str | os.PathLike | bytes, *, allow_numpy_arrays: bool = False):
    """Unpickle data made only of builtin containers and scalars (optionally plain numpy arrays).

    Parameters
    ----------
    path_or_bytes : path or bytes
        A pickle file, or its bytes.
    allow_numpy_arrays : bool, default=False
        Also accept the globals numpy uses to pickle an ndarray (``_reconstruct``, ``ndarray``, ``dtype``).

    Raises
    ------
    RefusedGlobalError (a ValueError and an UnpicklingError)
        When the pickle names any other global; nothing it names is called.
    """
    data = _source_bytes(path_or_bytes)
    return _RestrictedUnpickler(io.BytesIO(data), allow_numpy_arrays=allow_numpy_arrays).load()


def safe_load_object_npy(path_or_bytes: str | os.PathLike | bytes) -> np.ndarray:
    """Load an ``.npy`` file, running an object array's pickle payload through the restricted unpickler.

    Numeric arrays are read directly; an object array (``descr '|O'``) is unpickled with
    ``allow_numpy_arrays=True`` and checked to have the shape its header declares.
    """
    data = _source_bytes(path_or_bytes)
    fh = io.BytesIO(data)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f".npy format version {version} is not supported; expected (1, 0) or (2, 0)")
    if not dtype.hasobject:
        return np.load(io.BytesIO(data), allow_pickle=False)
    array = _RestrictedUnpickler(fh, allow_numpy_arrays=True).load()
    if not isinstance(array, np.ndarray) or array.shape != tuple(shape):
        got = array.shape if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"object .npy payload must be an array of shape {tuple(shape)}; got {got}")
    return array
