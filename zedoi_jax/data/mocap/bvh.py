"""Biovision BVH: parsing, CMU naming styles, kinematics and H36M-17 joints.

Conventions (checked against `cmu_h36m17_positions.npz` in the CMU data
folder, see tests/test_mocap.py): a joint's rotation composes its rotation
channels left to right as listed (`Zrotation Yrotation Xrotation` gives
`Rz Ry Rx`); position channels add to the joint's OFFSET.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.data.mocap import common
from zedoi_jax.errors import InputError


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
    }, unit=common.CMU_SCALE),
    '3dsmax': BvhStyle({
        'r_hip': 'RightHip', 'r_knee': 'RightKnee', 'r_ankle': 'RightAnkle',
        'l_hip': 'LeftHip', 'l_knee': 'LeftKnee', 'l_ankle': 'LeftAnkle',
        'spine': 'Chest', 'thorax': 'lowerneck', 'neck_nose': 'Neck',
        'head_top': 'Head_end', 'l_shoulder': 'LeftShoulder',
        'l_elbow': 'LeftElbow', 'l_wrist': 'LeftWrist',
        'r_shoulder': 'RightShoulder', 'r_elbow': 'RightElbow',
        'r_wrist': 'RightWrist',
    }, unit=common.CMU_SCALE),
    'daz': BvhStyle({
        'r_hip': 'rThigh', 'r_knee': 'rShin', 'r_ankle': 'rFoot',
        'l_hip': 'lThigh', 'l_knee': 'lShin', 'l_ankle': 'lFoot',
        'spine': 'abdomen', 'thorax': 'neck', 'neck_nose': 'head',
        'head_top': ('leftEye_end', 'rightEye_end'),
        'l_shoulder': 'lShldr', 'l_elbow': 'lForeArm', 'l_wrist': 'lHand',
        'r_shoulder': 'rShldr', 'r_elbow': 'rForeArm', 'r_wrist': 'rHand',
    }, unit=0.01, reference_frame=True),
}


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


# -------------------------------------------------------------- parsing
def parse_bvh(path: common.PathLike) -> BvhMotion:
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
  joints, n_ch = _HierarchyReader(head.split(), src).read()
  frame_time, motion = _parse_motion(body, n_ch, src)
  return BvhMotion(joints=joints, frame_time=frame_time, motion=motion,
                   source=src)


class _HierarchyReader:
  """Reads the tokens of a BVH HIERARCHY section into joints, in file order.

  A joint header (ROOT/JOINT name, or End Site) opens a pending joint that
  its OFFSET and CHANNELS fill; the next header or '}' completes it.
  """

  def __init__(self, tokens: list[str], source: str):
    self.tok = tokens
    self.src = source
    self.i = 0
    self.joints: list[BvhJoint | None] = []
    self.stack: list[int] = []  # Indices of the joints open ('{' ... '}').
    self.n_ch = 0
    self.pending: dict | None = None  # Joint being read, until completed.

  def fail(self, msg: str):
    raise InputError(f'malformed HIERARCHY: {msg}', source=self.src,
                     field='HIERARCHY')

  def read(self) -> tuple[tuple[BvhJoint, ...], int]:
    """(joints, total number of channels)."""
    tok = self.tok
    while self.i < len(tok):
      t = tok[self.i]
      if t in ('ROOT', 'JOINT') or (t == 'End' and self.i + 1 < len(tok)
                                    and tok[self.i + 1] == 'Site'):
        self._open_joint(t)
      elif t == 'OFFSET':
        self._offset()
      elif t == 'CHANNELS':
        self._channels()
      elif t == '}':
        self._flush()
        if not self.stack:
          self.fail('unbalanced "}"')
        self.stack.pop()
        self.i += 1
      else:
        self.fail(f'unexpected token {t!r}')
    self._flush()
    if self.stack:
      self.fail('unbalanced "{" (truncated hierarchy?)')
    if not self.joints:
      self.fail('no ROOT joint')
    return tuple(self.joints), self.n_ch

  def _flush(self):
    """Completes the pending joint, if any."""
    p = self.pending
    if p is not None:
      if 'offset' not in p:
        self.fail(f'joint {p["name"]!r} has no OFFSET')
      self.joints[p['index']] = BvhJoint(
          name=p['name'], parent=p['parent'], offset=p['offset'],
          channels=p['channels'], channel_start=p['channel_start'],
          is_end_site=p['end'])
      self.pending = None

  def _open_joint(self, t: str):
    """'ROOT name {', 'JOINT name {' or 'End Site {'."""
    tok = self.tok
    self._flush()
    is_end = t == 'End'
    if is_end:
      if not self.stack:
        self.fail('End Site outside a joint')
      jname = self.joints[self.stack[-1]].name + '_end'
      self.i += 2
    else:
      if self.i + 1 >= len(tok):
        self.fail(f'{t} without a name')
      jname = tok[self.i + 1]
      self.i += 2
      if t == 'ROOT' and self.joints:
        self.fail('more than one ROOT')
      if t == 'JOINT' and not self.stack:
        self.fail(f'JOINT {jname!r} outside the ROOT')
    if self.i >= len(tok) or tok[self.i] != '{':
      self.fail(f'expected "{{" after {jname!r}')
    self.i += 1
    self.pending = {'name': jname,
                    'parent': self.stack[-1] if self.stack else -1,
                    'channels': (), 'channel_start': self.n_ch,
                    'end': is_end, 'index': len(self.joints)}
    self.joints.append(None)  # Placeholder, filled by _flush().
    self.stack.append(self.pending['index'])

  def _offset(self):
    """'OFFSET x y z' of the pending joint."""
    p, tok, i = self.pending, self.tok, self.i
    if p is None:
      self.fail('OFFSET outside a joint header')
    try:
      p['offset'] = np.array([float(v) for v in tok[i + 1:i + 4]])
    except ValueError:
      self.fail(f'bad OFFSET values {tok[i + 1:i + 4]}')
    if p['offset'].shape != (3,):
      self.fail('OFFSET needs 3 values')
    if not np.all(np.isfinite(p['offset'])):
      self.fail(f'joint {p["name"]!r}: non-finite OFFSET')
    self.i += 4

  def _channels(self):
    """'CHANNELS n name...' of the pending joint."""
    p, tok, i = self.pending, self.tok, self.i
    if p is None:
      self.fail('CHANNELS outside a joint header')
    try:
      n = int(tok[i + 1])
    except (ValueError, IndexError):
      self.fail('CHANNELS without a count')
    chans = tuple(tok[i + 2:i + 2 + n])
    bad = [c for c in chans if c not in _BVH_CHANNELS]
    if len(chans) != n or bad:
      self.fail(f'joint {p["name"]!r}: bad CHANNELS {chans}')
    p['channels'] = chans
    self.n_ch += n
    self.i += 2 + n


def _motion_header(lines: list[str], src: str) -> tuple[int, float, int]:
  """(frame count, frame time, index of the first line after the header).

  The header is 'Frames: N' and 'Frame Time: dt', in either order.
  """
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
  if not math.isfinite(header['Frame Time']) or header['Frame Time'] <= 0:
    raise InputError(f'Frame Time must be a positive number of seconds, got '
                     f'{header["Frame Time"]!r}', source=src, field='MOTION')
  return int(n_frames), header['Frame Time'], k


def _parse_motion(body: str, n_ch: int, src: str) -> tuple[float, np.ndarray]:
  """(frame time, [T, n_ch] float64 values) from the text after 'MOTION'.

  That is 'Frames: N', 'Frame Time: dt', then N lines of n_ch numbers.
  """
  lines = body.splitlines()
  n_frames, frame_time, k = _motion_header(lines, src)
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
  return frame_time, motion


def _all_floats(row: str) -> bool:
  # The same conversion as the whole-motion parse, so the two agree.
  try:
    np.array(row.split(), dtype=np.float64)
  except ValueError:
    return False
  return True


# ----------------------------------------------------------- kinematics
def _joint_local(joint: BvhJoint, vals: np.ndarray) -> tuple[
    np.ndarray, np.ndarray]:
  """A joint's local rotation [T, 3, 3] and translation [T, 3], file units.

  Rotation channels compose left to right as listed (intrinsic, scipy's
  upper-case letters); position channels add to the OFFSET.
  """
  trans = np.broadcast_to(joint.offset, (vals.shape[0], 3)).copy()
  axes, idx = '', []
  for k, ch in enumerate(joint.channels):
    if ch.endswith('position'):
      trans[:, 'XYZ'.index(ch[0])] += vals[:, k]
    else:
      axes += ch[0]
      idx.append(k)
  return common.euler_matrices(np.deg2rad(vals[:, idx]), axes), trans


def bvh_positions(motion: BvhMotion, *,
                  scale: float = common.CMU_SCALE) -> dict[str, np.ndarray]:
  """World positions of every joint and End Site, by kinematics.

  Args:
    motion: from `parse_bvh`.
    scale: metres per file unit (CMU BVH: 0.056444).

  Returns:
    Dict joint name -> [T, 3] float64 metres in the file's world frame;
    End Sites are named '<parent>_end'.
  """
  rot: list[np.ndarray] = []
  pos: list[np.ndarray] = []
  for j in motion.joints:
    vals = motion.motion[:, j.channel_start:j.channel_start + len(j.channels)]
    local, trans = _joint_local(j, vals)
    if j.parent < 0:
      rot.append(local)
      pos.append(trans * scale)
    else:
      rot.append(rot[j.parent] @ local)
      pos.append(pos[j.parent]
                 + scale * np.einsum('tij,tj->ti', rot[j.parent], trans))
  return {j.name: p for j, p in zip(motion.joints, pos)}


# -------------------------------------------------------------- H36M-17
def detect_bvh_style(motion: BvhMotion) -> tuple[str, dict[str, str]]:
  """(style name, wanted name -> the file's name) for a BVH's joint naming.

  Raises:
    InputError: naming the file and the missing joints if no style matches.
  """
  names = motion.joint_names
  best = None
  for style_name, style in BVH_STYLES.items():
    found, missing = common.lookup_names(names, style.names())
    if not missing:
      return style_name, found
    if best is None or len(missing) < len(best[1]):
      best = (style_name, missing)
  raise InputError(
      f'unknown BVH joint naming: closest is the {best[0]} style, which '
      f'lacks joints {best[1]}; the file has {list(names)}',
      source=motion.source, field='HIERARCHY')


def _drop_reference_frame(motion: BvhMotion, style_name: str) -> BvhMotion:
  """The motion without frame 0, a style's rest pose (Daz: a T-pose)."""
  if motion.num_frames < 2:
    raise InputError(f'a {style_name}-style BVH has its rest pose in frame '
                     '0 and needs at least one motion frame after it',
                     source=motion.source, field='MOTION')
  return dataclasses.replace(motion, motion=motion.motion[1:])


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
    motion = _drop_reference_frame(motion, style_name)
  pos = bvh_positions(motion, scale=style.unit if scale is None else scale)
  actual = {}
  for j, n in style.joints.items():
    if isinstance(n, str):
      actual[j] = pos[found[n]]
    else:
      actual[j] = np.mean([pos[found[m]] for m in n], axis=0)
  with np.errstate(over='ignore', invalid='ignore'):
    return common.assemble_h36m17(actual, {j: j for j in actual},
                                  ('l_hip', 'r_hip'), motion.source)
