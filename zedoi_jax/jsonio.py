"""The project's one JSON convention, for every file it writes.

`jsonable` turns numpy / jax scalars and arrays into Python values and every
value that is not a finite number (a flagged row's pose, an error with
nothing visible, a loss that diverged) into `None`: JSON `null`, never `NaN`
or `Infinity` (not JSON) nor a made-up number. `write_json` writes such a
document atomically (a per-process temporary file, then a rename), so a
reader never sees half a file; `dumps` is the single-line form and
`append_line` appends it to a JSON lines file.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
  """numpy/jax scalars and arrays -> Python; non-finite floats -> None."""
  if isinstance(value, dict):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [jsonable(v) for v in value]
  if hasattr(value, 'tolist') and not isinstance(value, (str, bytes)):
    # numpy arrays and scalars, jax arrays.
    return jsonable(np.asarray(value).tolist())
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def dumps(value: Any, **kwargs) -> str:
  """`json.dumps` of `jsonable(value)`; refuses NaN as a number."""
  return json.dumps(jsonable(value), allow_nan=False, **kwargs)


def append_line(path: str | os.PathLike | None, row: Any) -> str:
  """Appends `row` as one JSON line to `path` (skipped when path is empty
  or None) and returns the line: metrics.jsonl and result files."""
  line = dumps(row)
  if path:
    with open(path, 'a') as f:
      f.write(line + '\n')
  return line


def write_json(path: str | os.PathLike, obj: Any, *, indent: int = 2) -> None:
  """Writes `obj` as indented JSON, atomically (numpy values converted,
  non-finite numbers as null)."""
  path = pathlib.Path(path)
  tmp = path.with_name(f'{path.name}.{os.getpid()}.tmp')
  tmp.write_text(dumps(obj, indent=indent) + '\n')
  tmp.replace(path)
