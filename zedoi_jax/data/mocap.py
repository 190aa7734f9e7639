"""Motion-capture parsers (Acclaim ASF/AMC, Biovision BVH) and kinematics.

Users train the pose prior on their own mocap, so the project reads the two
formats CMU publishes itself, numpy only, and turns them into Human3.6M-17
joint positions (`load_h36m17`).

Forward kinematics is vectorised over frames: every joint costs a few batched
[T, 3, 3] matrix products, so a 2,700-frame take takes well under a second.

Conventions (checked against `cmu_h36m17_positions.npz` in the CMU data
folder, see tests/test_mocap.py):
- ASF/AMC: a bone's local rotation is `C M C^-1`, with `C` the rotation from
  the bone's `axis` line and `M` the AMC degrees of freedom. Both compose in
  the listed order, the first listed applied first: `axis ... XYZ` and
  `dof rx ry rz` give `Rz Ry Rx`. The root has its own `order`/`axis` lines
  and its translation comes from the AMC (plus the ASF `position`). A bone
  starts where its parent ends; its end at rest is `direction * length`.
- BVH: a joint's rotation composes its rotation channels left to right as
  listed (`Zrotation Yrotation Xrotation` gives `Rz Ry Rx`); position channels
  add to the joint's OFFSET.
- Lengths are multiplied by `scale`; the default 0.056444 (= 2.54 / 100 /
  0.45: CMU lengths are inches divided by the ASF `length 0.45` unit) turns
  CMU units into metres, for both the ASF/AMC and the BVH releases.
- Output is the file's world frame (CMU: Y up), not root-centred.

NaN policy: mocap has no notion of a missing joint, so NaN/inf in an
OFFSET, a length, a direction or a motion value is an `InputError` naming
the file and line, as are positions that overflow float32.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

# CMU units to metres (see the module docstring).
CMU_SCALE = 0.056444

# Human3.6M-17 joint order of `load_h36m17`: the model layout's names.
H36M17_JOINTS = skeleton.H36M17.joint_names

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

# How a BVH naming style maps to Human3.6M-17: each joint is one BVH joint
# (its position; `<joint>_end` is an End Site) or the midpoint of several.
# Pelvis is always the midpoint of the two hips. `unit` is metres per file
# unit, and `reference_frame` marks styles whose frame 0 is the converter's
# rest pose rather than motion (dropped on loading).
@dataclasses.dataclass(frozen=True)
class BvhStyle:
  joints: Mapping[str, str | tuple[str, ...]]
  unit: float
  reference_frame: bool = False

  def names(self) -> list[str]:
    out = []
    for v in self.joints.values():
      out.extend([v] if isinstance(v, str) else v)
    return out


# The naming styles CMU's BVH conversions use. The first two drop CMU's
# thorax bone, so their thorax is the upper spine joint. 'daz' is cgspeed's
# "Daz-friendly" release: centimetres, retargeted to the Daz figure, frame 0
# a T-pose, and no head End Site (head_top = midpoint of the eye End Sites).
BVH_STYLES = {
    'motionbuilder': BvhStyle({
        'r_hip': 'RightUpLeg', 'r_knee': 'RightLeg', 'r_ankle': 'RightFoot',
        'l_hip': 'LeftUpLeg', 'l_knee': 'LeftLeg', 'l_ankle': 'LeftFoot',
        'spine': 'Spine', 'thorax': 'Neck', 'neck_nose': 'Neck1',
        'head_top': 'Head_end', 'l_shoulder': 'LeftArm',
        'l_elbow': 'LeftForeArm', 'l_wrist': 'LeftHand',
        'r_shoulder': 'RightArm', 'r_elbow': 'RightForeArm',
        'r_wrist': 'RightHand',
    }, unit=CMU_SCALE),
    '3dsmax': BvhStyle({
        'r_hip': 'RightHip', 'r_knee': 'RightKnee', 'r_ankle': 'RightAnkle',
        'l_hip': 'LeftHip', 'l_knee': 'LeftKnee', 'l_ankle': 'LeftAnkle',
        'spine': 'Chest', 'thorax': 'lowerneck', 'neck_nose': 'Neck',
        'head_top': 'Head_end', 'l_shoulder': 'LeftShoulder',
        'l_elbow': 'LeftElbow', 'l_wrist': 'LeftWrist',
        'r_shoulder': 'RightShoulder', 'r_elbow': 'RightElbow',
        'r_wrist': 'RightWrist',
    }, unit=CMU_SCALE),
    'daz': BvhStyle({
        'r_hip': 'rThigh', 'r_knee': 'rShin', 'r_ankle': 'rFoot',
        'l_hip': 'lThigh', 'l_knee': 'lShin', 'l_ankle': 'lFoot',
        'spine': 'abdomen', 'thorax': 'neck', 'neck_nose': 'head',
        'head_top': ('leftEye_end', 'rightEye_end'),
        'l_shoulder': 'lShldr', 'l_elbow': 'lForeArm', 'l_wrist': 'lHand',
        'r_shoulder': 'rShldr', 'r_elbow': 'rForeArm', 'r_wrist': 'rHand',
    }, unit=0.01, reference_frame=True),
}

# CMU's optical capture rate: AMC files carry no frame rate of their own.
CMU_AMC_HZ = 120.0


PathLike = str | os.PathLike


# --------------------------------------------------------------- rotations
def _axis_rotation(axis: str, angle: np.ndarray) -> np.ndarray:
  """[..., 3, 3] rotation about 'x', 'y' or 'z' by `angle` radians [...]."""
  c, s = np.cos(angle), np.sin(angle)
  o, z = np.ones_like(angle), np.zeros_like(angle)
  rows = {
      'x': ((o, z, z), (z, c, -s), (z, s, c)),
      'y': ((c, z, s), (z, o, z), (-s, z, c)),
      'z': ((c, -s, z), (s, c, z), (z, z, o)),
  }[axis]
  return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _compose(angles: np.ndarray, axes: str) -> np.ndarray:
  """Rotation R_axes[0] @ R_axes[1] @ ... (leftmost outermost).

  Args:
    angles: [..., len(axes)] radians.
    axes: e.g. 'zyx'.

  Returns:
    [..., 3, 3] rotation matrices.
  """
  out = np.broadcast_to(np.eye(3), angles.shape[:-1] + (3, 3))
  for i, a in enumerate(axes):
    out = out @ _axis_rotation(a, angles[..., i])
  return out


# ----------------------------------------------------------------- ASF/AMC
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


def parse_asf(path: PathLike) -> AsfSkeleton:
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
      if tok[0] == 'angle' and len(tok) > 1:
        angle_unit = tok[1].lower()
        if angle_unit not in ('deg', 'rad'):
          raise InputError(f'line {i}: unknown angle unit {tok[1]!r}',
                           source=src, field='units')
    elif section == 'root':
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
    elif section == 'bonedata':
      key = tok[0].lower()
      if key == 'begin':
        cur = {'dof': ()}
      elif key == 'end':
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
        cur = None
      elif cur is None:
        raise InputError(f'line {i}: {tok[0]!r} outside a bone block',
                         source=src, field='bonedata')
      elif key == 'name':
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
    elif section == 'hierarchy':
      if tok[0].lower() in ('begin', 'end'):
        continue
      children.setdefault(tok[0], []).extend(tok[1:])
  if not bones:
    raise InputError('no bones found (":bonedata" section missing or empty)',
                     source=src, field='bonedata')
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
  return AsfSkeleton(
      name=name, angle_unit=angle_unit, root_order=root['order'],
      root_axis=root['axis'], root_position=root['position'],
      root_orientation=root['orientation'], bones=bones, children=children,
      source=src)


def parse_amc(path: PathLike) -> list[dict[str, np.ndarray]]:
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
      try:
        values = np.array([float(t) for t in tok[1:]])
      except ValueError:
        raise InputError(f'line {i}: not numbers: {line!r}', source=src,
                         field=tok[0]) from None
      if not np.all(np.isfinite(values)):
        raise InputError(f'line {i}: non-finite value: {line!r}', source=src,
                         field=tok[0])
      cur[tok[0]] = values
  if not frames:
    raise InputError('no frames found', source=src, field='frame')
  return frames


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
  # Listed order, first listed applied first: reverse for _compose.
  rot = _compose(values[:, rot_idx[::-1]] * to_rad, rot_axes[::-1])
  return rot, trans


def asf_amc_positions(asf: AsfSkeleton,
                      amc_frames: Sequence[Mapping[str, np.ndarray]], *,
                      scale: float = CMU_SCALE,
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

  def c_matrix(angles, order):
    # The i-th angle turns about the i-th letter of `order`; the first
    # listed is applied first.
    return _compose(np.asarray(angles)[::-1] * to_rad, order.lower()[::-1])

  # Root: its orientation frame, then the AMC rotation and translation.
  c_root = c_matrix(asf.root_orientation, asf.root_axis)
  if 'root' in vals:
    m_root, t_root = _dof_motion(asf.root_order, vals['root'], to_rad,
                                 source, 'root')
  else:
    m_root, t_root = np.broadcast_to(np.eye(3), (t, 3, 3)), np.zeros((t, 3))
  world_rot = {'root': c_root @ m_root @ c_root.T}
  pos = {'root': (asf.root_position + t_root) * scale}

  stack = ['root']
  while stack:
    parent = stack.pop()
    for child in asf.children.get(parent, []):
      bone = asf.bones[child]
      c = c_matrix(bone.axis, bone.axis_order)
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


# --------------------------------------------------------------------- BVH
@dataclasses.dataclass(frozen=True)
class BvhJoint:
  """One BVH joint or End Site.

  Attributes:
    name: joint name; End Sites are named '<parent>_end'.
    parent: parent index into `BvhMotion.joints` (-1 for the root).
    offset: [3] offset from the parent, file units.
    channels: channel names as in the file, e.g. ('Zrotation', ...).
    channel_start: column of the first channel in `BvhMotion.motion`.
    is_end_site: True for End Sites (no channels).
  """
  name: str
  parent: int
  offset: np.ndarray
  channels: tuple[str, ...]
  channel_start: int
  is_end_site: bool


@dataclasses.dataclass(frozen=True)
class BvhMotion:
  """A parsed BVH file.

  Attributes:
    joints: joints in file order (parents before children).
    frame_time: seconds per frame.
    motion: [T, n_channels] float64 channel values (angles in degrees).
    source: the file it came from.
  """
  joints: tuple[BvhJoint, ...]
  frame_time: float
  motion: np.ndarray
  source: str

  @property
  def num_frames(self) -> int:
    return self.motion.shape[0]

  @property
  def joint_names(self) -> tuple[str, ...]:
    return tuple(j.name for j in self.joints)


_BVH_CHANNELS = ('Xposition', 'Yposition', 'Zposition', 'Xrotation',
                 'Yrotation', 'Zrotation')


def parse_bvh(path: PathLike) -> BvhMotion:
  """Reads a Biovision BVH file (hierarchy and motion).

  Args:
    path: the .bvh file.

  Returns:
    The motion; see `BvhMotion`.

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file (and line) if it is truncated or malformed.
  """
  p = checks.require_file(path, 'BVH motion (.bvh)')
  src = str(p)
  text = p.read_text(encoding='utf-8', errors='replace')
  head, sep, body = text.partition('MOTION')
  if not sep:
    raise InputError('no MOTION section (truncated or not a BVH file)',
                     source=src, field='MOTION')
  if 'HIERARCHY' not in head:
    raise InputError('no HIERARCHY section (not a BVH file?)', source=src,
                     field='HIERARCHY')
  head = head[head.index('HIERARCHY') + len('HIERARCHY'):]
  tok = head.split()
  joints: list[BvhJoint] = []
  stack: list[int] = []
  n_ch = 0
  i = 0
  pending: dict | None = None  # Joint being read, until its '{' ... body.

  def fail(msg):
    raise InputError(f'malformed HIERARCHY: {msg}', source=src,
                     field='HIERARCHY')

  def flush():
    nonlocal pending
    if pending is not None:
      if 'offset' not in pending:
        fail(f'joint {pending["name"]!r} has no OFFSET')
      joints[pending['index']] = BvhJoint(
          name=pending['name'], parent=pending['parent'],
          offset=pending['offset'], channels=pending['channels'],
          channel_start=pending['channel_start'],
          is_end_site=pending['end'])
      pending = None

  while i < len(tok):
    t = tok[i]
    if t in ('ROOT', 'JOINT') or (t == 'End' and i + 1 < len(tok)
                                  and tok[i + 1] == 'Site'):
      flush()
      is_end = t == 'End'
      if is_end:
        if not stack:
          fail('End Site outside a joint')
        jname = joints[stack[-1]].name + '_end'
        i += 2
      else:
        if i + 1 >= len(tok):
          fail(f'{t} without a name')
        jname = tok[i + 1]
        i += 2
        if t == 'ROOT' and joints:
          fail('more than one ROOT')
        if t == 'JOINT' and not stack:
          fail(f'JOINT {jname!r} outside the ROOT')
      if i >= len(tok) or tok[i] != '{':
        fail(f'expected "{{" after {jname!r}')
      i += 1
      pending = {'name': jname, 'parent': stack[-1] if stack else -1,
                 'channels': (), 'channel_start': n_ch, 'end': is_end,
                 'index': len(joints)}
      joints.append(None)  # Placeholder, filled by flush().
      stack.append(pending['index'])
    elif t == 'OFFSET':
      if pending is None:
        fail('OFFSET outside a joint header')
      try:
        pending['offset'] = np.array([float(v) for v in tok[i + 1:i + 4]])
      except ValueError:
        fail(f'bad OFFSET values {tok[i + 1:i + 4]}')
      if pending['offset'].shape != (3,):
        fail('OFFSET needs 3 values')
      if not np.all(np.isfinite(pending['offset'])):
        fail(f'joint {pending["name"]!r}: non-finite OFFSET')
      i += 4
    elif t == 'CHANNELS':
      if pending is None:
        fail('CHANNELS outside a joint header')
      try:
        n = int(tok[i + 1])
      except (ValueError, IndexError):
        fail('CHANNELS without a count')
      chans = tuple(tok[i + 2:i + 2 + n])
      bad = [c for c in chans if c not in _BVH_CHANNELS]
      if len(chans) != n or bad:
        fail(f'joint {pending["name"]!r}: bad CHANNELS {chans}')
      pending['channels'] = chans
      n_ch += n
      i += 2 + n
    elif t == '}':
      flush()
      if not stack:
        fail('unbalanced "}"')
      stack.pop()
      i += 1
    else:
      fail(f'unexpected token {t!r}')
  flush()
  if stack:
    fail('unbalanced "{" (truncated hierarchy?)')
  if not joints:
    fail('no ROOT joint')

  # MOTION: 'Frames: N', 'Frame Time: dt', then N lines of n_ch numbers.
  lines = body.splitlines()
  k = 0
  header = {}
  while k < len(lines) and len(header) < 2:
    line = lines[k].strip()
    k += 1
    if not line:
      continue
    key, colon, val = line.partition(':')
    if not colon or key.strip() not in ('Frames', 'Frame Time'):
      raise InputError(f'expected "Frames:" and "Frame Time:", got '
                       f'{line!r}', source=src, field='MOTION')
    try:
      header[key.strip()] = float(val)
    except ValueError:
      raise InputError(f'bad value in {line!r}', source=src,
                       field='MOTION') from None
  if len(header) < 2:
    raise InputError('truncated MOTION header', source=src, field='MOTION')
  n_frames = header['Frames']
  # float() accepted 'nan', 'inf' and '2.5': none is a frame count.
  if not n_frames.is_integer() or n_frames < 1:
    raise InputError(f'Frames must be a positive integer, got '
                     f'{header["Frames"]!r}', source=src, field='MOTION')
  n_frames = int(n_frames)
  if not math.isfinite(header['Frame Time']) or header['Frame Time'] <= 0:
    raise InputError(f'Frame Time must be a positive number of seconds, got '
                     f'{header["Frame Time"]!r}', source=src, field='MOTION')
  rows = [ln for ln in lines[k:] if ln.strip()]
  if len(rows) != n_frames:
    raise InputError(f'header says {n_frames} frames, found {len(rows)} '
                     'lines of motion (truncated file?)', source=src,
                     field='MOTION')
  flat = ' '.join(rows).split()
  if len(flat) != n_frames * n_ch:
    counts = [len(r.split()) for r in rows]
    bad = next(f for f, c in enumerate(counts) if c != n_ch)
    raise InputError(f'frame {bad} has {counts[bad]} values, the hierarchy '
                     f'has {n_ch} channels', source=src, field='MOTION')
  try:
    motion = np.array(flat, dtype=np.float64).reshape(n_frames, n_ch)
  except ValueError:
    bad = next((f for f, r in enumerate(rows) if not _all_floats(r)), '?')
    raise InputError(f'frame {bad}: values are not numbers', source=src,
                     field='MOTION') from None
  if not np.all(np.isfinite(motion)):
    bad = int(np.argwhere(~np.isfinite(motion))[0, 0])
    raise InputError(f'frame {bad}: non-finite value', source=src,
                     field='MOTION')
  return BvhMotion(joints=tuple(joints), frame_time=header['Frame Time'],
                   motion=motion, source=src)


def _all_floats(row: str) -> bool:
  # The same conversion as the whole-motion parse, so the two agree.
  try:
    np.array(row.split(), dtype=np.float64)
  except ValueError:
    return False
  return True


def bvh_positions(motion: BvhMotion, *,
                  scale: float = CMU_SCALE) -> dict[str, np.ndarray]:
  """World positions of every joint and End Site, by kinematics.

  Args:
    motion: from `parse_bvh`.
    scale: metres per file unit (CMU BVH: 0.056444).

  Returns:
    Dict joint name -> [T, 3] float64 metres in the file's world frame;
    End Sites are named '<parent>_end'.
  """
  t = motion.num_frames
  rot: list[np.ndarray] = []
  pos: list[np.ndarray] = []
  for j in motion.joints:
    vals = motion.motion[:, j.channel_start:j.channel_start + len(j.channels)]
    trans = np.broadcast_to(j.offset, (t, 3)).copy()
    axes, idx = '', []
    for k, ch in enumerate(j.channels):
      if ch.endswith('position'):
        trans[:, 'XYZ'.index(ch[0])] += vals[:, k]
      else:
        axes += ch[0].lower()
        idx.append(k)
    local = _compose(np.deg2rad(vals[:, idx]), axes)
    if j.parent < 0:
      rot.append(local)
      pos.append(trans * scale)
    else:
      rot.append(rot[j.parent] @ local)
      pos.append(pos[j.parent]
                 + scale * np.einsum('tij,tj->ti', rot[j.parent], trans))
  return {j.name: p for j, p in zip(motion.joints, pos)}


# --------------------------------------------------------------- H36M-17
def _assemble(named: Mapping[str, np.ndarray], mapping: Mapping[str, str],
              pelvis: tuple[str, str], source: str) -> np.ndarray:
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


def _lookup(names: Sequence[str], wanted: Sequence[str]) -> tuple[
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


def detect_bvh_style(motion: BvhMotion) -> tuple[str, dict[str, str]]:
  """(style name, wanted name -> the file's name) for a BVH's joint naming.

  Raises:
    InputError: naming the file and the missing joints if no style matches.
  """
  names = motion.joint_names
  best = None
  for style_name, style in BVH_STYLES.items():
    found, missing = _lookup(names, style.names())
    if not missing:
      return style_name, found
    if best is None or len(missing) < len(best[1]):
      best = (style_name, missing)
  raise InputError(
      f'unknown BVH joint naming: closest is the {best[0]} style, which '
      f'lacks joints {best[1]}; the file has {list(names)}',
      source=motion.source, field='HIERARCHY')


def bvh_to_h36m17(motion: BvhMotion, *,
                  scale: float | None = None) -> np.ndarray:
  """Human3.6M-17 joint positions from a CMU-style BVH.

  Accepts three naming styles, matched case-insensitively (`BVH_STYLES`):
  MotionBuilder (Hips, LeftUpLeg, LeftLeg, LeftFoot, Spine, Neck, Neck1,
  Head, LeftArm, LeftForeArm, LeftHand, ...), 3dsMax (LeftHip, LeftKnee,
  LeftAnkle, Chest, lowerneck, Neck, Head, LeftShoulder, LeftElbow,
  LeftWrist, ...) and Daz (hip, abdomen, neck, head, lThigh, lShin, lFoot,
  lShldr, lForeArm, lHand, leftEye/rightEye, ...). Mapping: pelvis = midpoint
  of the two hip joints; spine = Spine/Chest/abdomen; thorax =
  Neck/lowerneck/neck; neck/nose = Neck1/Neck/head; head_top = the Head End
  Site (Daz: midpoint of the two eye End Sites); shoulders, elbows, wrists =
  Arm, ForeArm, Hand (or Shoulder, Elbow, Wrist; Daz: Shldr, ForeArm, Hand).
  A style's reference frame (Daz: frame 0, a T-pose) is dropped.

  Args:
    motion: from `parse_bvh`.
    scale: metres per file unit; None = the style's (CMU: 0.056444, Daz:
      0.01).

  Returns:
    [T, 17, 3] float32 metres, world frame, not root-centred, in
    `H36M17_JOINTS` order (the Human3.6M-17 order).

  Raises:
    InputError: naming the file and the missing joint names if no naming
      style matches, or if a reference-frame style has no motion frame.
  """
  style_name, found = detect_bvh_style(motion)
  style = BVH_STYLES[style_name]
  if style.reference_frame:
    if motion.num_frames < 2:
      raise InputError(f'a {style_name}-style BVH has its rest pose in frame '
                       '0 and needs at least one motion frame after it',
                       source=motion.source, field='MOTION')
    motion = dataclasses.replace(motion, motion=motion.motion[1:])
  pos = bvh_positions(motion, scale=style.unit if scale is None else scale)
  actual = {}
  for j, n in style.joints.items():
    if isinstance(n, str):
      actual[j] = pos[found[n]]
    else:
      actual[j] = np.mean([pos[found[m]] for m in n], axis=0)
  with np.errstate(over='ignore', invalid='ignore'):
    return _assemble(actual, {j: j for j in actual}, ('l_hip', 'r_hip'),
                     motion.source)


def asf_amc_to_h36m17(asf: AsfSkeleton,
                      amc_frames: Sequence[Mapping[str, np.ndarray]], *,
                      scale: float = CMU_SCALE,
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
  missing = [b for b in _ASF_H36M.values() if b not in asf.bones]
  if missing:
    raise InputError(f'unknown ASF bone naming: lacks bones {missing}; the '
                     f'file has {list(asf.bones)}', source=asf.source,
                     field='bonedata')
  with np.errstate(over='ignore', invalid='ignore'):
    pos = asf_amc_positions(asf, amc_frames, scale=scale, source=source)
    unreachable = [b for b in _ASF_H36M.values() if b not in pos]
    if unreachable:
      raise InputError(f'bones {unreachable} are not connected to the root '
                       'in the ":hierarchy" section', source=asf.source,
                       field='hierarchy')
    return _assemble(pos, _ASF_H36M, ('lhipjoint', 'rhipjoint'),
                     source or asf.source)


@dataclasses.dataclass(frozen=True)
class MocapTake:
  """One take as Human3.6M-17 positions, with its frame rate.

  Attributes:
    positions: [T, 17, 3] float32 metres, the file's world frame (Y up for
      CMU), not root-centred, `H36M17_JOINTS` order.
    frame_rate: frames per second (BVH: 1 / Frame Time; AMC: CMU's 120).
    source: the motion file.
  """
  positions: np.ndarray
  frame_rate: float
  source: str


def load_h36m17(path: PathLike, *, amc_path: PathLike | None = None,
                scale: float | None = None) -> np.ndarray:
  """Human3.6M-17 joint positions from a mocap file (see `load_take`)."""
  return load_take(path, amc_path=amc_path, scale=scale).positions


def load_take(path: PathLike, *, amc_path: PathLike | None = None,
              scale: float | None = None) -> MocapTake:
  """Human3.6M-17 joint positions and frame rate from a mocap file.

  Args:
    path: a .bvh file; or an .asf skeleton (then `amc_path` is required); or
      an .amc motion, whose skeleton is found beside it by subject number
      (`01_01.amc` -> `01.asf`) unless the .asf is passed as `amc_path`.
    amc_path: the .amc motion when `path` is an .asf; when `path` is an
      .amc, an explicit .asf may be passed here instead.
    scale: metres per file unit; None = by format (ASF/AMC: CMU's 0.056444;
      BVH: its naming style's, see `BVH_STYLES`).

  Returns:
    A `MocapTake`: positions [T, 17, 3] float32 metres, the file's world
    frame (CMU: Y up), not root-centred, Human3.6M-17 order (`H36M17_JOINTS`: 0 pelvis, 1 r_hip,
    2 r_knee, 3 r_ankle, 4 l_hip, 5 l_knee, 6 l_ankle, 7 spine, 8 thorax,
    9 neck/nose, 10 head_top, 11 l_shoulder, 12 l_elbow, 13 l_wrist,
    14 r_shoulder, 15 r_elbow, 16 r_wrist).

  Raises:
    FileNotFoundError: naming a missing file.
    InputError: for malformed files or unknown joint naming (naming the file
      and the missing joints).
  """
  p = pathlib.Path(path)
  suffix = p.suffix.lower()
  if suffix == '.bvh':
    motion = parse_bvh(p)
    return MocapTake(bvh_to_h36m17(motion, scale=scale),
                     1.0 / motion.frame_time, str(p))
  if suffix == '.asf':
    if amc_path is None:
      raise ValueError(f'{p}: an .asf skeleton needs its motion: pass '
                       'amc_path=<take>.amc')
    asf_file, amc_file = p, pathlib.Path(amc_path)
  elif suffix == '.amc':
    amc_file = p
    if amc_path is not None:
      asf_file = pathlib.Path(amc_path)
    else:
      subject = p.stem.split('_')[0]
      asf_file = p.with_name(subject + '.asf')
      if not asf_file.is_file():
        raise FileNotFoundError(
            f'ASF skeleton for {p} not found: expected {asf_file} (subject '
            f'{subject!r}); pass the skeleton as path and the motion as '
            'amc_path')
  else:
    raise InputError(f'unknown mocap file type {p.suffix!r} (expected .bvh, '
                     '.asf or .amc)', source=str(p), field='suffix')
  asf = parse_asf(asf_file)
  frames = parse_amc(amc_file)
  positions = asf_amc_to_h36m17(
      asf, frames, scale=CMU_SCALE if scale is None else scale,
      source=str(amc_file))
  return MocapTake(positions, CMU_AMC_HZ, str(amc_file))
