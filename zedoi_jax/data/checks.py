"""Shared validators for the host-side loaders.

Every loader in `zedoi_jax.data` reads user files; these helpers turn the
usual ways such files go wrong (missing, truncated, malformed, wrong shape,
NaN) into errors that name the file and the field, so a user can fix the
input without reading a traceback. numpy only.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import zipfile
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from zedoi_jax.errors import InputError

PathLike = str | os.PathLike


def require_file(path: PathLike, what: str) -> pathlib.Path:
  """Returns `path` as a Path if it is an existing file.

  Args:
    path: the file to check.
    what: what the file should be, e.g. 'CMU ASF skeleton'; goes into the
      error message.

  Returns:
    The path as a `pathlib.Path`.

  Raises:
    FileNotFoundError: naming the path and `what`, if it is not a file.
  """
  p = pathlib.Path(path)
  if not p.is_file():
    kind = 'is a directory, not a file' if p.is_dir() else 'not found'
    raise FileNotFoundError(f'{what} {kind}: {p}')
  return p


def require_dir(path: PathLike, what: str) -> pathlib.Path:
  """Returns `path` as a Path if it is an existing directory.

  Args:
    path: the directory to check.
    what: what the directory should hold; goes into the error message.

  Returns:
    The path as a `pathlib.Path`.

  Raises:
    FileNotFoundError: naming the path and `what`, if it is not a directory.
  """
  p = pathlib.Path(path)
  if not p.is_dir():
    raise FileNotFoundError(f'{what} folder not found: {p}')
  return p


def check_array(x: Any, *, source: PathLike, field: str,
                shape: Sequence[int | None] | None = None,
                dtype_kind: str = 'f', finite: bool = True) -> np.ndarray:
  """Validates an array read from a user file.

  Args:
    x: the value (anything `np.asarray` accepts).
    source: the file it came from (for the error message).
    field: the key or column inside `source`.
    shape: expected shape; `None` entries match any size. `None` skips the
      check.
    dtype_kind: allowed numpy dtype kinds: 'f' (floats; integers and bools
      are accepted and converted), 'i' (integers; 'u' and 'b' accepted),
      'U' (strings), or '' for no check.
    finite: require every value to be finite (numeric kinds only).

  Returns:
    `x` as a numpy array (floats as given: float32/float64 are kept).

  Raises:
    InputError: naming `source` and `field`, for wrong rank/shape, dtype or
      non-finite values.
  """
  source = str(source)
  try:
    arr = np.asarray(x)
  except (ValueError, TypeError) as e:
    # Ragged nested lists end up here.
    raise InputError(f'not a regular array ({e})', source=source,
                     field=field) from None
  if shape is not None:
    shape = tuple(shape)
    if arr.ndim != len(shape) or any(
        s is not None and s != a for s, a in zip(shape, arr.shape)):
      want = '(' + ', '.join('*' if s is None else str(s) for s in shape)
      want += ',)' if len(shape) == 1 else ')'
      raise InputError(f'expected shape {want}, got {arr.shape}',
                       source=source, field=field)
  allowed = {'f': 'fiub', 'i': 'iub', 'U': 'US', '': None}
  if dtype_kind not in allowed:
    raise ValueError(f'unknown dtype_kind {dtype_kind!r}')
  kinds = allowed[dtype_kind]
  if kinds is not None and arr.dtype.kind not in kinds:
    raise InputError(f'expected {"numbers" if dtype_kind != "U" else "text"},'
                     f' got dtype {arr.dtype}', source=source, field=field)
  if dtype_kind == 'f' and arr.dtype.kind != 'f':
    arr = arr.astype(np.float64)
  if finite and arr.dtype.kind in 'fc' and not np.all(np.isfinite(arr)):
    bad = np.argwhere(~np.isfinite(arr))
    first = tuple(int(i) for i in bad[0])
    raise InputError(f'{len(bad)} non-finite value(s) (NaN/inf), first at '
                     f'index {first}', source=source, field=field)
  return arr


def load_json(path: PathLike, what: str) -> Any:
  """Reads a JSON file with clear errors.

  Args:
    path: the JSON file.
    what: what the file should be (for the error message).

  Returns:
    The decoded JSON value.

  Raises:
    FileNotFoundError: if the file does not exist.
    InputError: naming the file and the parse position if it is not valid
      JSON (or not UTF-8 text).
  """
  p = require_file(path, what)
  try:
    with open(p, 'r', encoding='utf-8') as f:
      return json.load(f)
  except json.JSONDecodeError as e:
    raise InputError(f'malformed JSON ({what}) at line {e.lineno} column '
                     f'{e.colno} (char {e.pos}): {e.msg}',
                     source=str(p)) from None
  except UnicodeDecodeError as e:
    raise InputError(f'not UTF-8 text ({what}) at byte {e.start}',
                     source=str(p)) from None


def load_npz(path: PathLike, what: str, *,
             allow_pickle: bool = False) -> dict[str, np.ndarray]:
  """Reads every array of an .npz file, eagerly, with clear errors.

  Reading eagerly means a truncated member fails here, naming the file,
  rather than later at first access.

  Args:
    path: the .npz file.
    what: what the file should be (for the error message).
    allow_pickle: allow object arrays (needed by the VideoPose3D files, which
      store pickled dicts). Only enable for files you trust.

  Returns:
    A dict {key: array}.

  Raises:
    FileNotFoundError: if the file does not exist.
    InputError: naming the file if it is truncated, corrupt, not an npz, or
      needs pickle when `allow_pickle` is False.
  """
  p = require_file(path, what)
  with open(p, 'rb') as f:
    magic = f.read(4)
  # Without this check np.load would try to unpickle a non-zip file and
  # report a misleading pickle error.
  if magic[:2] != b'PK':
    raise InputError(f'not an .npz (zip) archive ({what}); the file is '
                     f'{"empty" if not magic else "of another format"}',
                     source=str(p))
  key = None
  try:
    with np.load(p, allow_pickle=allow_pickle) as z:
      out = {}
      for key in z.files:
        out[key] = z[key]
      return out
  except InputError:
    raise
  except ValueError as e:
    if 'pickle' in str(e).lower():
      raise InputError(f'{what}: array {key!r} holds Python objects (pickle);'
                       ' load with allow_pickle=True only if you trust the '
                       'file', source=str(p), field=key) from None
    raise InputError(f'corrupt or truncated .npz ({what}): {e}',
                     source=str(p), field=key) from None
  except (zipfile.BadZipFile, OSError, EOFError, KeyError, zlib.error,
          pickle.UnpicklingError, UnicodeDecodeError) as e:
    raise InputError(f'corrupt or truncated .npz ({what}): '
                     f'{type(e).__name__}: {e}', source=str(p),
                     field=key) from None


def load_npy(path: PathLike, what: str, *,
             allow_pickle: bool = False) -> np.ndarray:
  """Reads one .npy array with clear errors.

  Args:
    path: the .npy file.
    what: what the file should be (for the error message).
    allow_pickle: allow object arrays. Only enable for files you trust.

  Returns:
    The array.

  Raises:
    FileNotFoundError: if the file does not exist.
    InputError: naming the file if it is truncated, corrupt or not an .npy.
  """
  p = require_file(path, what)
  with open(p, 'rb') as f:
    magic = f.read(6)
  if magic != b'\x93NUMPY':
    raise InputError(f'not an .npy array file ({what})', source=str(p))
  try:
    arr = np.load(p, allow_pickle=allow_pickle)
  except ValueError as e:
    if 'pickle' in str(e).lower():
      raise InputError(f'{what}: holds Python objects (pickle); load with '
                       'allow_pickle=True only if you trust the file',
                       source=str(p)) from None
    raise InputError(f'corrupt or truncated .npy ({what}): {e}',
                     source=str(p)) from None
  except (OSError, EOFError, pickle.UnpicklingError) as e:
    raise InputError(f'corrupt or truncated .npy ({what}): '
                     f'{type(e).__name__}: {e}', source=str(p)) from None
  return arr
