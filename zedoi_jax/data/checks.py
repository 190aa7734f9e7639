"""Shared validators for the host-side loaders.

Every loader in `zedoi_jax.data` reads user files; these helpers turn the
usual ways such files go wrong (missing, truncated, malformed, wrong shape,
NaN) into errors that name the file and the field, so a user can fix the
input without reading a traceback. numpy only.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import zipfile
from collections.abc import Sequence
from typing import IO, Any

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


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def to_float32(x: np.ndarray, *, source: PathLike, field: str) -> np.ndarray:
  """Casts a checked float array to float32, refusing values it cannot hold.

  numpy turns finite values beyond float32's range (about 3.4e38) into inf
  without a word; a user file holding such values is corrupt (or in the
  wrong unit), so say so instead of handing inf to the fit.

  Args:
    x: a numeric array (NaN/inf are passed through: check them first).
    source: the file it came from (for the error message).
    field: the key or column inside `source`.

  Returns:
    `x` as float32.

  Raises:
    InputError: naming `source` and `field` if a finite value is too large
      for float32.
  """
  x = np.asarray(x)
  with np.errstate(invalid='ignore'):
    big = np.isfinite(x) & (np.abs(x) > _FLOAT32_MAX)
  if np.any(big):
    first = tuple(int(i) for i in np.argwhere(big)[0])
    raise InputError(f'value {x[first]!r} at index {first} is too large for '
                     'float32 (corrupt file or wrong unit?)',
                     source=str(source), field=field)
  return x.astype(np.float32)


def finite_number(value: Any, *, source: PathLike, field: str,
                  minimum: float | None = None,
                  maximum: float | None = None,
                  integer: bool = False) -> float | int:
  """Validates one scalar read from a user file (JSON, pickled metadata).

  Args:
    value: the value; bools are refused (JSON `true` is not a number).
    source: the file it came from (for the error message).
    field: the key inside `source`.
    minimum: smallest allowed value (inclusive), or None.
    maximum: largest allowed value (inclusive), or None.
    integer: require an integer (Python or numpy int).

  Returns:
    The value as a Python int (`integer=True`) or float.

  Raises:
    InputError: naming `source` and `field` for a non-number, a non-finite
      number, a float where an integer is needed, or a value out of range.
  """
  kinds = (int, np.integer) if integer else (int, float, np.integer,
                                             np.floating)
  if isinstance(value, (bool, np.bool_)) or not isinstance(value, kinds):
    raise InputError(f'expected {"an integer" if integer else "a number"}, '
                     f'got {value!r}', source=str(source), field=field)
  if integer:
    number = int(value)
  else:
    try:
      number = float(value)
    except OverflowError:  # A Python int beyond float range.
      raise InputError(f'{value!r} is too large', source=str(source),
                       field=field) from None
    if not math.isfinite(number):
      raise InputError(f'non-finite value {value!r}', source=str(source),
                       field=field)
  if ((minimum is not None and number < minimum)
      or (maximum is not None and number > maximum)):
    raise InputError(f'{value!r} is outside [{minimum}, {maximum}]',
                     source=str(source), field=field)
  return number


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
  except ValueError as e:
    # Python refuses integers of more than 4300 digits.
    raise InputError(f'malformed JSON ({what}): {e}', source=str(p)) from None
  except RecursionError:
    raise InputError(f'malformed JSON ({what}): nested too deeply',
                     source=str(p)) from None


def _check_npy_header(fp: IO[bytes], nbytes: int, what: str, source: str,
                      field: str | None) -> None:
  """Checks an .npy header against the bytes that follow it.

  Reading the header first means a garbled header fails with a clear error,
  and a header that claims more data than the file holds fails here,
  before numpy allocates the claimed size (a corrupt shape can ask for
  terabytes).

  Args:
    fp: a binary stream at the start of the .npy data (file or zip member).
    nbytes: the stream's total size in bytes.
    what: what the file should be (for the error message).
    source: the file (for the error message).
    field: the npz member, or None for an .npy file.

  Raises:
    InputError: naming `source` and `field` for a bad magic string, an
      unreadable header or too few data bytes.
  """
  try:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
      shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
    elif version == (2, 0):
      shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    else:
      # Version 3 (UTF-8 field names) has no public reader: np.load checks
      # it alone.
      return
  # numpy parses the header text with ast.literal_eval, which raises
  # SyntaxError, tokenize errors, ValueError, TypeError, MemoryError, ...
  # on garbage; any of them means a corrupt header.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise InputError(f'corrupt .npy header ({what}): {type(e).__name__}: '
                     f'{e}', source=source, field=field) from None
  if dtype.hasobject:
    return  # Pickled data: its size is not known from the header.
  needed = math.prod(shape) * dtype.itemsize
  available = nbytes - fp.tell()
  if needed > available:
    raise InputError(f'truncated or corrupt ({what}): the header says shape '
                     f'{shape} of {dtype} ({needed} bytes), but only '
                     f'{available} bytes follow', source=source, field=field)


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
    InputError: naming the file if it is truncated, corrupt, not an npz, has
      a member that is not an .npy array, or needs pickle when
      `allow_pickle` is False.
  """
  p = require_file(path, what)
  src = str(p)
  with open(p, 'rb') as f:
    magic = f.read(4)
  # Without this check np.load would try to unpickle a non-zip file and
  # report a misleading pickle error.
  if magic[:2] != b'PK':
    raise InputError(f'not an .npz (zip) archive ({what}); the file is '
                     f'{"empty" if not magic else "of another format"}',
                     source=src)
  key = None
  try:
    # Headers first: a member claiming a huge shape must not be allocated.
    with zipfile.ZipFile(p) as z:
      for info in z.infolist():
        key = info.filename.removesuffix('.npy')
        if not info.filename.endswith('.npy'):
          raise InputError(f'member {info.filename!r} is not an .npy array '
                           f'({what})', source=src, field=key)
        with z.open(info) as fp:
          _check_npy_header(fp, info.file_size, what, src, key)
    key = None
    with np.load(p, allow_pickle=allow_pickle) as z:
      out = {}
      for key in z.files:
        out[key] = z[key]
      return out
  except InputError:
    raise
  except ValueError as e:
    if 'pickle' in str(e).lower() and not allow_pickle:
      raise InputError(f'{what}: array {key!r} holds Python objects (pickle);'
                       ' load with allow_pickle=True only if you trust the '
                       'file', source=src, field=key) from None
    raise InputError(f'corrupt or truncated .npz ({what}): {e}',
                     source=src, field=key) from None
  # A corrupt archive makes zipfile, zlib, struct and (for pickled members)
  # pickle raise a wide range of types: BadZipFile, zlib.error,
  # struct.error, EOFError, NotImplementedError (unknown compression),
  # RuntimeError (an "encrypted" flag), UnicodeDecodeError (member names),
  # UnpicklingError, AttributeError, ImportError... All mean the same to the
  # user: the file is damaged.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise InputError(f'corrupt or truncated .npz ({what}): '
                     f'{type(e).__name__}: {e}', source=src,
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
  src = str(p)
  with open(p, 'rb') as f:
    if f.read(6) != b'\x93NUMPY':
      raise InputError(f'not an .npy array file ({what})', source=src)
    f.seek(0)
    _check_npy_header(f, os.fstat(f.fileno()).st_size, what, src, None)
  try:
    arr = np.load(p, allow_pickle=allow_pickle)
  except ValueError as e:
    if 'pickle' in str(e).lower() and not allow_pickle:
      raise InputError(f'{what}: holds Python objects (pickle); load with '
                       'allow_pickle=True only if you trust the file',
                       source=src) from None
    raise InputError(f'corrupt or truncated .npy ({what}): {e}',
                     source=src) from None
  # As in load_npz: unpickling a damaged object array raises many types.
  except Exception as e:  # pylint: disable=broad-exception-caught
    raise InputError(f'corrupt or truncated .npy ({what}): '
                     f'{type(e).__name__}: {e}', source=src) from None
  return arr
