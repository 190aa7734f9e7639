"""What the mocap formats share: units, Euler rotations, the H36M-17 layout.

`euler_matrices` turns a chain of per-axis angles into rotation matrices with
scipy's `Rotation`, in scipy's own letter convention; `assemble_h36m17` makes
the [T, 17, 3] float32 output from named joint positions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.spatial.transform import Rotation

from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

# CMU units to metres: CMU lengths are inches divided by the ASF `length 0.45`
# unit, so 2.54 / 100 / 0.45 (both the ASF/AMC and the BVH releases).
CMU_SCALE = 0.056444

# CMU's optical capture rate: AMC files carry no frame rate of their own.
CMU_AMC_HZ = 120.0

# Human3.6M-17 joint order of `load_h36m17`: the model layout's names.
H36M17_JOINTS = skeleton.H36M17.joint_names

PathLike = str | os.PathLike

# A sequence scipy's `from_euler` takes in one call: 1-3 axes, all upper
# (intrinsic) or all lower (extrinsic) case (and no axis twice in a row).
_SCIPY_SEQ = re.compile(r'^(?:[XYZ]{1,3}|[xyz]{1,3})$')


def euler_matrices(angles: np.ndarray, axes: str) -> np.ndarray:
  """Rotation matrices of a chain of rotations about coordinate axes.

  The letters follow scipy's `Rotation.from_euler`, angle i about letter i:
  upper case is intrinsic, 'ZYX' with angles (a, b, c) gives
  R_z(a) @ R_y(b) @ R_x(c) (the leftmost outermost); lower case is
  extrinsic, 'xyz' with (a, b, c) gives R_z(c) @ R_y(b) @ R_x(a) (the first
  listed applied first). Unlike `from_euler`, any length (0 gives the
  identity) and repeated axes are accepted, as files may list them.

  Args:
    angles: [..., len(axes)] radians.
    axes: letters of one case, e.g. 'ZYX' or 'xyz'.

  Returns:
    [..., 3, 3] float64 rotation matrices.
  """
  angles = np.asarray(angles, dtype=np.float64)
  if angles.shape[-1:] != (len(axes),):
    raise ValueError(f'angles {angles.shape} do not end in len({axes!r})')
  batch = angles.shape[:-1]
  if not axes or 0 in batch:  # Older scipy has no empty Rotation.
    return np.broadcast_to(np.eye(3), batch + (3, 3))
  flat = angles.reshape(-1, len(axes))
  if _SCIPY_SEQ.match(axes) and all(a != b for a, b in zip(axes, axes[1:])):
    rot = Rotation.from_euler(axes, flat)
  else:
    if not (axes.isupper() or axes.islower()) or set(axes.lower()) - set('xyz'):
      raise ValueError(f'axes {axes!r}: letters x, y, z of one case')
    # One rotation per letter, composed as the case says.
    rot = Rotation.identity(len(flat))
    for k, a in enumerate(axes):
      r = Rotation.from_euler(a, flat[:, k:k + 1])
      rot = rot * r if axes.isupper() else r * rot
  return rot.as_matrix().reshape(batch + (3, 3))


def assemble_h36m17(named: Mapping[str, np.ndarray],
                    mapping: Mapping[str, str], pelvis: tuple[str, str],
                    source: str) -> np.ndarray:
  """[T, 17, 3] float32 from joint positions and a name mapping.

  Raises:
    InputError: naming `source` if a position is not finite or too large
      for float32 (huge offsets or translations in the file).
  """
  cols = []
  for j in H36M17_JOINTS:
    if j == 'pelvis':
      cols.append(0.5 * (named[pelvis[0]] + named[pelvis[1]]))
    else:
      cols.append(named[mapping[j]])
  out = np.stack(cols, axis=1)
  if not np.all(np.isfinite(out)):
    raise InputError('joint positions overflow (offsets or translations far '
                     'too large?)', source=source, field='positions')
  return checks.to_float32(out, source=source, field='positions')


def lookup_names(names: Sequence[str], wanted: Sequence[str]) -> tuple[
    dict[str, str], list[str]]:
  """Case-insensitive name match: (wanted -> actual, missing)."""
  lower = {}
  for n in names:
    lower.setdefault(n.lower(), n)
  found = {}
  missing = []
  for w in wanted:
    if w in names:
      found[w] = w
    elif w.lower() in lower:
      found[w] = lower[w.lower()]
    else:
      missing.append(w)
  return found, missing
