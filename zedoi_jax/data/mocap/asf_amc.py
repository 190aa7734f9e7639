"""Acclaim ASF skeletons and AMC motion, their kinematics and H36M-17 joints.

Conventions (checked against `cmu_h36m17_positions.npz` in the CMU data
folder, see tests/test_mocap.py): a bone's local rotation is `C M C^-1`,
with `C` the rotation from the bone's `axis` line and `M` the AMC degrees of
freedom. Both compose in the listed order, the first listed applied first:
`axis ... XYZ` and `dof rx ry rz` give `Rz Ry Rx`. The root has its own
`order`/`axis` lines and its translation comes from the AMC (plus the ASF
`position`). A bone starts where its parent ends; its end at rest is
`direction * length`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.data.mocap import common
from zedoi_jax.errors import InputError

# ASF bones whose END points give the Human3.6M-17 joints, as documented for
# cmu_h36m17_positions.npz. Pelvis is the midpoint of the two hip joints.
_ASF_H36M = {
    'r_hip': 'rhipjoint', 'r_knee': 'rfemur', 'r_ankle': 'rtibia',
    'l_hip': 'lhipjoint', 'l_knee': 'lfemur', 'l_ankle': 'ltibia',
    'spine': 'lowerback', 'thorax': 'thorax', 'neck_nose': 'upperneck',
    'head_top': 'head', 'l_shoulder': 'lclavicle', 'l_elbow': 'lhumerus',
    'l_wrist': 'lradius', 'r_shoulder': 'rclavicle', 'r_elbow': 'rhumerus',
    'r_wrist': 'rradius',
}


@dataclasses.dataclass(frozen=True)
class AsfBone:
  """One ASF bone.

  Attributes:
    name: bone name.
    direction: [3] unit direction of the bone at rest, world frame.
    length: length in file units.
    axis: [3] angles (ASF angle unit) of the bone's local frame `C`, about
      the axes named by `axis_order`, in that order.
    axis_order: e.g. 'XYZ': the first listed rotation is applied first.
    dof: rotation/translation channels in AMC order, e.g. ('rx', 'ry', 'rz').
  """
  name: str
  direction: np.ndarray
  length: float
  axis: np.ndarray
  axis_order: str
  dof: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class AsfSkeleton:
  """An Acclaim skeleton.

  Attributes:
    name: skeleton name (':name').
    angle_unit: 'deg' or 'rad' (AMC angles use the same unit).
    root_order: the root's AMC channels, e.g. ('tx', 'ty', 'tz', 'rx', ...).
    root_axis: order of the root orientation, e.g. 'XYZ'.
    root_position: [3] file units.
    root_orientation: [3] in `angle_unit`.
    bones: name -> AsfBone, in file order.
    children: parent name -> child names ('root' included).
    source: the file it came from.
  """
  name: str
  angle_unit: str
  root_order: tuple[str, ...]
  root_axis: str
  root_position: np.ndarray
  root_orientation: np.ndarray
  bones: dict[str, AsfBone]
  children: dict[str, list[str]]
  source: str


# ------------------------------------------------------------------ ASF
def _floats(tokens: Sequence[str], n: int, source: str, field: str,
            line_no: int) -> np.ndarray:
  """Parses exactly `n` floats, or raises InputError naming the line."""
  if len(tokens) < n:
    raise InputError(f'line {line_no}: expected {n} numbers, got '
                     f'{len(tokens)}', source=source, field=field)
  try:
    vals = np.array([float(t) for t in tokens[:n]])
  except ValueError:
    raise InputError(f'line {line_no}: not numbers: {" ".join(tokens)!r}',
                     source=source, field=field) from None
  if not np.all(np.isfinite(vals)):
    raise InputError(f'line {line_no}: non-finite value',
                     source=source, field=field)
  return vals


def _axis_order(order: str, source: str, field: str, line_no: int) -> str:
  if sorted(order.upper()) != ['X', 'Y', 'Z']:
    raise InputError(f'line {line_no}: axis order {order!r} is not a '
                     'permutation of XYZ', source=source, field=field)
  return order.upper()


def _units_line(tok: list[str], angle_unit: str, src: str, i: int) -> str:
  """The angle unit after one ':units' line."""
  if tok[0] == 'angle' and len(tok) > 1:
    angle_unit = tok[1].lower()
    if angle_unit not in ('deg', 'rad'):
      raise InputError(f'line {i}: unknown angle unit {tok[1]!r}',
                       source=src, field='units')
  return angle_unit


def _root_line(tok: list[str], root: dict, src: str, i: int) -> None:
  """Reads one ':root' line into `root` (order, axis, position, ...)."""
  key = tok[0].lower()
  if key == 'order':
    root['order'] = tuple(t.lower() for t in tok[1:])
  elif key == 'axis':
    if len(tok) < 2:
      raise InputError(f'line {i}: axis order missing', source=src,
                       field='root')
    root['axis'] = _axis_order(tok[1], src, 'root', i)
  elif key in ('position', 'orientation'):
    root[key] = _floats(tok[1:], 3, src, 'root', i)


def _bonedata_line(tok: list[str], cur: dict | None,
                   bones: dict[str, AsfBone], src: str,
                   i: int) -> dict | None:
  """Reads one ':bonedata' line; returns the bone block being read, if any.

  A finished block ('end') is added to `bones`.
  """
  key = tok[0].lower()
  if key == 'begin':
    return {'dof': ()}
  if key == 'end':
    if cur is None:
      raise InputError(f'line {i}: "end" without "begin"', source=src,
                       field='bonedata')
    missing = [k for k in ('name', 'direction', 'length', 'axis')
               if k not in cur]
    if missing:
      raise InputError(f'line {i}: bone {cur.get("name", "?")!r} lacks '
                       f'{missing}', source=src, field='bonedata')
    bones[cur['name']] = AsfBone(
        name=cur['name'], direction=cur['direction'],
        length=cur['length'], axis=cur['axis'],
        axis_order=cur['axis_order'], dof=cur['dof'])
    return None
  if cur is None:
    raise InputError(f'line {i}: {tok[0]!r} outside a bone block',
                     source=src, field='bonedata')
  if key == 'name':
    if len(tok) < 2:
      raise InputError(f'line {i}: bone name missing', source=src,
                       field='bonedata')
    cur['name'] = tok[1]
  elif key == 'direction':
    cur['direction'] = _floats(tok[1:], 3, src, 'direction', i)
  elif key == 'length':
    cur['length'] = float(_floats(tok[1:], 1, src, 'length', i)[0])
  elif key == 'axis':
    cur['axis'] = _floats(tok[1:], 3, src, 'axis', i)
    cur['axis_order'] = _axis_order(tok[4] if len(tok) > 4 else 'XYZ',
                                    src, 'axis', i)
  elif key == 'dof':
    cur['dof'] = tuple(t.lower() for t in tok[1:])
  # Other lines (id, limits and their continuation lines, bodymass,
  # cofmass) do not affect kinematics.
  return cur


def _check_tree(bones: Mapping[str, AsfBone],
                children: Mapping[str, list[str]], src: str) -> None:
  """Raises InputError unless the ':hierarchy' names known bones as a tree."""
  if 'root' not in children:
    raise InputError('no "root" line in the ":hierarchy" section',
                     source=src, field='hierarchy')
  parent_of = {}
  for parent, kids in children.items():
    for b in [parent] + kids:
      if b != 'root' and b not in bones:
        raise InputError(f'hierarchy names unknown bone {b!r}', source=src,
                         field='hierarchy')
    for b in kids:
      # One parent per bone and never the root as a child: with these, the
      # bones reachable from the root form a tree, so kinematics ends.
      if b == 'root' or b in parent_of:
        raise InputError(f'bone {b!r} has more than one parent (or the root '
                         'is a child): the hierarchy is not a tree',
                         source=src, field='hierarchy')
      parent_of[b] = parent


def parse_asf(path: common.PathLike) -> AsfSkeleton:
  """Reads an Acclaim ASF skeleton.

  Args:
    path: the .asf file.

  Returns:
    The skeleton (lengths in file units; see `CMU_SCALE`).

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file and the section/line for malformed content.
  """
  p = checks.require_file(path, 'ASF skeleton (.asf)')
  src = str(p)
  lines = p.read_text(encoding='utf-8', errors='replace').splitlines()
  section = None
  name, angle_unit = '', 'deg'
  root = {'order': ('tx', 'ty', 'tz', 'rx', 'ry', 'rz'), 'axis': 'XYZ',
          'position': np.zeros(3), 'orientation': np.zeros(3)}
  bones: dict[str, AsfBone] = {}
  children: dict[str, list[str]] = {}
  cur: dict | None = None
  for i, raw in enumerate(lines, start=1):
    line = raw.split('#', 1)[0].strip()
    if not line:
      continue
    tok = line.split()
    if tok[0].startswith(':'):
      section = tok[0][1:].lower()
      if section == 'name' and len(tok) > 1:
        name = tok[1]
      continue
    if section == 'units':
      angle_unit = _units_line(tok, angle_unit, src, i)
    elif section == 'root':
      _root_line(tok, root, src, i)
    elif section == 'bonedata':
      cur = _bonedata_line(tok, cur, bones, src, i)
    elif section == 'hierarchy':
      if tok[0].lower() in ('begin', 'end'):
        continue
      children.setdefault(tok[0], []).extend(tok[1:])
  if not bones:
    raise InputError('no bones found (":bonedata" section missing or empty)',
                     source=src, field='bonedata')
  _check_tree(bones, children, src)
  return AsfSkeleton(
      name=name, angle_unit=angle_unit, root_order=root['order'],
      root_axis=root['axis'], root_position=root['position'],
      root_orientation=root['orientation'], bones=bones, children=children,
      source=src)


# ------------------------------------------------------------------ AMC
def parse_amc(path: common.PathLike) -> list[dict[str, np.ndarray]]:
  """Reads Acclaim AMC motion.

  Args:
    path: the .amc file.

  Returns:
    One dict per frame, bone name -> [n_dof] float64 finite values in the
    order of the bone's ASF `dof` line (root: the ASF root `order`), angles
    in the ASF angle unit, translations in file units.

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file and line for malformed content.
  """
  p = checks.require_file(path, 'AMC motion (.amc)')
  src = str(p)
  frames: list[dict[str, np.ndarray]] = []
  cur: dict[str, np.ndarray] | None = None
  with open(p, 'r', encoding='utf-8', errors='replace') as f:
    for i, raw in enumerate(f, start=1):
      line = raw.strip()
      if not line or line[0] in '#:':
        continue
      tok = line.split()
      if len(tok) == 1:
        if not tok[0].isdigit():
          raise InputError(f'line {i}: expected a frame number or '
                           f'"bone values...", got {line!r}', source=src,
                           field='frame')
        cur = {}
        frames.append(cur)
        continue
      if cur is None:
        raise InputError(f'line {i}: bone values before the first frame '
                         'number', source=src, field=tok[0])
      cur[tok[0]] = _amc_values(tok, line, src, i)
  if not frames:
    raise InputError('no frames found', source=src, field='frame')
  return frames


def _amc_values(tok: list[str], line: str, src: str, i: int) -> np.ndarray:
  """The finite numbers of one 'bone v1 v2 ...' AMC line."""
  try:
    values = np.array([float(t) for t in tok[1:]])
  except ValueError:
    raise InputError(f'line {i}: not numbers: {line!r}', source=src,
                     field=tok[0]) from None
  if not np.all(np.isfinite(values)):
    raise InputError(f'line {i}: non-finite value: {line!r}', source=src,
                     field=tok[0])
  return values


def _stack_amc(asf: AsfSkeleton, frames: Sequence[Mapping[str, np.ndarray]],
               source: str) -> dict[str, np.ndarray]:
  """bone -> [T, n_dof] from per-frame dicts, checking counts."""
  out = {}
  for bone, dof in [('root', asf.root_order)] + [
      (b.name, b.dof) for b in asf.bones.values()]:
    if not dof:
      continue
    try:
      vals = [fr[bone] for fr in frames]
    except KeyError:
      missing = next(t for t, fr in enumerate(frames) if bone not in fr)
      raise InputError(f'frame {missing}: no values for bone {bone!r}',
                       source=source, field=bone) from None
    lens = {len(v) for v in vals}
    if lens != {len(dof)}:
      raise InputError(f'bone {bone!r} has {sorted(lens)} values in some '
                       f'frames; the ASF lists {len(dof)} dof {dof}',
                       source=source, field=bone)
    arr = np.asarray(vals, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
      raise InputError(f'non-finite values for bone {bone!r}', source=source,
                       field=bone)
    out[bone] = arr
  return out


# ------------------------------------------------------------ kinematics
def _dof_motion(dof: Sequence[str], values: np.ndarray, to_rad: float,
                source: str, bone: str) -> tuple[np.ndarray, np.ndarray]:
  """Rotation [T,3,3] and translation [T,3] from one bone's AMC channels."""
  t = values.shape[0]
  trans = np.zeros((t, 3))
  rot_axes, rot_idx = '', []
  for k, ch in enumerate(dof):
    if ch in ('rx', 'ry', 'rz'):
      rot_axes += ch[1]
      rot_idx.append(k)
    elif ch in ('tx', 'ty', 'tz'):
      trans[:, 'xyz'.index(ch[1])] = values[:, k]
    elif ch == 'l':
      raise InputError('length-changing dof "l" is not supported',
                       source=source, field=bone)
    else:
      raise InputError(f'unknown dof {ch!r}', source=source, field=bone)
  # Listed order, first listed applied first: extrinsic (lower-case) axes.
  rot = common.euler_matrices(values[:, rot_idx] * to_rad, rot_axes)
  return rot, trans


def _axis_matrix(angles: np.ndarray, order: str, to_rad: float) -> np.ndarray:
  """[3, 3] `C` of an ASF `axis`/`orientation` line.

  The i-th angle turns about the i-th letter of `order`; the first listed is
  applied first (extrinsic, scipy's lower-case letters).
  """
  return common.euler_matrices(np.asarray(angles) * to_rad, order.lower())


def _root_motion(asf: AsfSkeleton, vals: Mapping[str, np.ndarray], t: int,
                 to_rad: float, source: str) -> tuple[np.ndarray, np.ndarray]:
  """The root's world rotation [T, 3, 3] and translation [T, 3], file units.

  Its orientation frame `C`, then the AMC rotation and translation.
  """
  c_root = _axis_matrix(asf.root_orientation, asf.root_axis, to_rad)
  if 'root' in vals:
    m_root, t_root = _dof_motion(asf.root_order, vals['root'], to_rad,
                                 source, 'root')
  else:
    m_root, t_root = np.broadcast_to(np.eye(3), (t, 3, 3)), np.zeros((t, 3))
  return c_root @ m_root @ c_root.T, asf.root_position + t_root


def asf_amc_positions(asf: AsfSkeleton,
                      amc_frames: Sequence[Mapping[str, np.ndarray]], *,
                      scale: float = common.CMU_SCALE,
                      source: str | None = None) -> dict[str, np.ndarray]:
  """World positions of every bone's end (and the root), by kinematics.

  Args:
    asf: the skeleton from `parse_asf`.
    amc_frames: frames from `parse_amc` (T of them).
    scale: metres per file unit (CMU: 0.056444).
    source: the AMC file, for error messages.

  Returns:
    Dict name -> [T, 3] float64 metres, world frame (CMU: Y up): 'root' is
    the root position and each bone name is the position of its END.

  Raises:
    InputError: if a frame lacks a bone or has the wrong number of values.
  """
  source = source or asf.source
  vals = _stack_amc(asf, amc_frames, source)
  t = len(amc_frames)
  to_rad = np.pi / 180.0 if asf.angle_unit == 'deg' else 1.0

  root_rot, root_trans = _root_motion(asf, vals, t, to_rad, source)
  world_rot = {'root': root_rot}
  pos = {'root': root_trans * scale}

  stack = ['root']
  while stack:
    parent = stack.pop()
    for child in asf.children.get(parent, []):
      bone = asf.bones[child]
      c = _axis_matrix(bone.axis, bone.axis_order, to_rad)
      if bone.dof:
        m, tr = _dof_motion(bone.dof, vals[child], to_rad, source, child)
        local = c @ m @ c.T
      else:
        local, tr = np.eye(3), np.zeros((t, 3))
      rot = world_rot[parent] @ local
      offset = bone.direction * bone.length + tr  # [T, 3]
      pos[child] = pos[parent] + scale * np.einsum('tij,tj->ti', rot, offset)
      world_rot[child] = rot
      stack.append(child)
  return pos


# -------------------------------------------------------------- H36M-17
def _require_cmu_bones(asf: AsfSkeleton) -> None:
  """Raises InputError naming the ASF if it lacks CMU's H36M-17 bones."""
  missing = [b for b in _ASF_H36M.values() if b not in asf.bones]
  if missing:
    raise InputError(f'unknown ASF bone naming: lacks bones {missing}; the '
                     f'file has {list(asf.bones)}', source=asf.source,
                     field='bonedata')


def asf_amc_to_h36m17(asf: AsfSkeleton,
                      amc_frames: Sequence[Mapping[str, np.ndarray]], *,
                      scale: float = common.CMU_SCALE,
                      source: str | None = None) -> np.ndarray:
  """Human3.6M-17 joint positions from a CMU-style ASF/AMC pair.

  Mapping (bone END points): pelvis = midpoint of lhipjoint/rhipjoint;
  hips = r/lhipjoint; knees = r/lfemur; ankles = r/ltibia; spine =
  lowerback; thorax = thorax; neck/nose = upperneck; head_top = head;
  shoulders = r/lclavicle; elbows = r/lhumerus; wrists = r/lradius.

  Args:
    asf: from `parse_asf`.
    amc_frames: from `parse_amc`.
    scale: metres per file unit.
    source: the AMC file, for error messages.

  Returns:
    [T, 17, 3] float32 metres, world frame, not root-centred, in
    `H36M17_JOINTS` order.

  Raises:
    InputError: naming the ASF file and the missing bones if the skeleton
      does not use CMU's bone names.
  """
  _require_cmu_bones(asf)
  with np.errstate(over='ignore', invalid='ignore'):
    pos = asf_amc_positions(asf, amc_frames, scale=scale, source=source)
    unreachable = [b for b in _ASF_H36M.values() if b not in pos]
    if unreachable:
      raise InputError(f'bones {unreachable} are not connected to the root '
                       'in the ":hierarchy" section', source=asf.source,
                       field='hierarchy')
    return common.assemble_h36m17(pos, _ASF_H36M, ('lhipjoint', 'rhipjoint'),
                                  source or asf.source)
