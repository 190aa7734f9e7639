"""Exports of lifted poses for analysis tools: TRC, BVH, CSV and a GIF.

Input everywhere: poses `[T, J, 3]` metres in the camera frame (OpenCV: x
right, y down, z forward; absolute, i.e. root-relative pose + translation),
one row per frame of one person track. Formats:

  TRC  (OpenSim, Pose2Sim): tab-separated; line 1 `PathFileType 4 (X/Y/Z)
       name`, line 2 the header names `DataRate CameraRate NumFrames
       NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames`,
       line 3 their values, line 4 `Frame# Time` and the marker names (each
       followed by two empty cells), line 5 `X1 Y1 Z1 ...`, a blank line,
       then one row per frame: frame number (input frame index + 1), time
       (frame index / rate, s), x y z per marker. Axes: Y up (OpenSim's
       convention): (x, -y, -z) of the camera frame, a proper rotation.
       Units 'm' or 'mm'.
  BVH  (Blender, MotionBuilder, ...): positions become joint rotations on a
       fixed skeleton (`bvh_skeleton`): the Human3.6M-17 tree with
       MotionBuilder joint names, bone lengths = the track's mean bone
       lengths, rest pose a T-pose, Y up, centimetres. The root (Hips) has
       6 channels, every other joint 3 (Zrotation Xrotation Yrotation).
       Each joint's rotation is the smallest one that points its bone at
       the lifted child joint, so joint positions are reproduced up to the
       bone-length changes of the lifted poses (zero-length "connector"
       joints LowerBack, LeftShoulder, RightShoulder and Head let the
       trunk, the two arms and the head aim independently). The project's
       own loader reads it back: `mocap.load_h36m17(path, scale=0.01)`.
  CSV  one row per pose: frame, track, then `<joint>_x, _y, _z` in metres,
       camera frame (OpenCV axes, not Y up).
  GIF  the 3D skeleton animated beside the input 2D keypoints and the
       reprojected 3D (matplotlib + PillowWriter).

Frames without a detection are not invented: TRC and CSV rows carry the
real frame numbers (gaps stay gaps), BVH and GIF play the present frames in
order (their frame time is nominal across a gap).
"""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Sequence

import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

EXPORT_FORMATS = ('trc', 'bvh', 'csv', 'gif')


def parse_formats(spec: str | Sequence[str], source: str = 'config'
                  ) -> tuple[str, ...]:
  """'trc,bvh' (or a sequence) -> ('trc', 'bvh'); InputError if unknown."""
  if isinstance(spec, str):
    items = [s.strip().lower() for s in spec.split(',')]
  else:
    items = [str(s).strip().lower() for s in spec]
  items = [s for s in items if s]
  bad = [s for s in items if s not in EXPORT_FORMATS]
  if bad:
    raise InputError(f'unknown export format(s) {bad}; known: '
                     f'{", ".join(EXPORT_FORMATS)}', source=source,
                     field='lift.export')
  return tuple(dict.fromkeys(items))


def y_up(poses_cam: np.ndarray) -> np.ndarray:
  """Camera frame (y down, z forward) -> Y up: (x, -y, -z)."""
  p = np.asarray(poses_cam, np.float64)
  return p * np.array([1.0, -1.0, -1.0])


# ------------------------------------------------------------------ TRC
def write_trc(path, poses_cam: np.ndarray, joint_names: Sequence[str],
              frames: np.ndarray, frame_rate: float,
              units: str = 'm') -> pathlib.Path:
  """Writes a TRC marker file (see the module doc).

  Args:
    path: output .trc.
    poses_cam: [T, J, 3] metres, camera frame.
    joint_names: J marker names.
    frames: [T] input frame indices (rows sorted by frame).
    frame_rate: frames per second (DataRate = CameraRate).
    units: 'm' or 'mm'.
  """
  if units not in ('m', 'mm'):
    raise InputError(f"units must be 'm' or 'mm', got {units!r}",
                     source='config', field='lift.trc_units')
  if not frame_rate > 0:
    raise InputError(f'frame rate must be > 0, got {frame_rate}',
                     source='config', field='lift.frame_rate')
  p = pathlib.Path(path)
  pos = y_up(poses_cam) * (1000.0 if units == 'mm' else 1.0)
  t, j = pos.shape[:2]
  frames = np.asarray(frames, np.int64)
  rate = f'{frame_rate:g}'
  lines = [
      f'PathFileType\t4\t(X/Y/Z)\t{p.name}',
      'DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t'
      'OrigDataStartFrame\tOrigNumFrames',
      f'{rate}\t{rate}\t{t}\t{j}\t{units}\t{rate}\t'
      f'{int(frames[0]) + 1 if t else 1}\t{t}',
      'Frame#\tTime\t' + '\t\t\t'.join(joint_names) + '\t\t',
      '\t\t' + '\t'.join(f'X{i}\tY{i}\tZ{i}' for i in range(1, j + 1)),
      '',
  ]
  for k in range(t):
    vals = '\t'.join(f'{v:.6f}' for v in pos[k].reshape(-1))
    lines.append(f'{int(frames[k]) + 1}\t{frames[k] / frame_rate:.6f}\t'
                 f'{vals}')
  p.write_text('\n'.join(lines) + '\n')
  return p


def read_trc(path) -> dict[str, object]:
  """Reads a TRC written by `write_trc` (or Pose2Sim): header values,
  marker names, frame numbers, times and [T, M, 3] positions (file units,
  file axes)."""
  p = pathlib.Path(path)
  rows = p.read_text().split('\n')
  keys = rows[1].split('\t')
  values = rows[2].split('\t')
  header = dict(zip(keys, values))
  names = [n for n in rows[3].split('\t')[2:] if n]
  data = [r.split('\t') for r in rows[5:] if r.strip()]
  arr = np.array([[float(v) for v in r] for r in data], np.float64)
  return {'header': header, 'markers': names,
          'frame': arr[:, 0].astype(np.int64), 'time': arr[:, 1],
          'positions': arr[:, 2:].reshape(len(arr), len(names), 3)}


# ------------------------------------------------------------------ BVH
# (name, H36M-17 joint it sits on, parent name, rest direction (Y up, the
# character facing +Z, its left at +X)). Connectors sit on their parent's
# joint (zero offset). End Sites are added for leaves.
_BVH_JOINTS = (
    ('Hips', 0, None, None),
    ('RightUpLeg', 1, 'Hips', (-1, 0, 0)),
    ('RightLeg', 2, 'RightUpLeg', (0, -1, 0)),
    ('RightFoot', 3, 'RightLeg', (0, -1, 0)),
    ('LeftUpLeg', 4, 'Hips', (1, 0, 0)),
    ('LeftLeg', 5, 'LeftUpLeg', (0, -1, 0)),
    ('LeftFoot', 6, 'LeftLeg', (0, -1, 0)),
    ('LowerBack', 0, 'Hips', None),
    ('Spine', 7, 'LowerBack', (0, 1, 0)),
    ('Neck', 8, 'Spine', (0, 1, 0)),
    ('Neck1', 9, 'Neck', (0, 1, 0)),
    ('Head', 9, 'Neck1', None),
    ('LeftShoulder', 8, 'Neck', None),
    ('LeftArm', 11, 'LeftShoulder', (1, 0, 0)),
    ('LeftForeArm', 12, 'LeftArm', (1, 0, 0)),
    ('LeftHand', 13, 'LeftForeArm', (1, 0, 0)),
    ('RightShoulder', 8, 'Neck', None),
    ('RightArm', 14, 'RightShoulder', (-1, 0, 0)),
    ('RightForeArm', 15, 'RightArm', (-1, 0, 0)),
    ('RightHand', 16, 'RightForeArm', (-1, 0, 0)),
)
# End Sites: (parent joint, H36M joint it reaches or None, rest direction,
# length as a fraction of the parent's bone when no joint).
_BVH_ENDS = {
    'Head': (10, (0, 1, 0)),
    'RightFoot': (None, (0, 0, 1)), 'LeftFoot': (None, (0, 0, 1)),
    'LeftHand': (None, (1, 0, 0)), 'RightHand': (None, (-1, 0, 0)),
}


def bvh_skeleton(poses_yup: np.ndarray) -> dict[str, np.ndarray]:
  """Rest offsets (metres, Y up) of the BVH joints and End Sites from the
  mean bone lengths of `poses_yup` [T, 17, 3] (H36M-17)."""
  idx = {n: (j, par) for n, j, par, _ in _BVH_JOINTS}
  offsets = {}
  for name, j, parent, direction in _BVH_JOINTS:
    if parent is None or direction is None:
      offsets[name] = np.zeros(3)
      continue
    pj = idx[parent][0]
    length = np.linalg.norm(poses_yup[:, j] - poses_yup[:, pj], axis=-1)
    offsets[name] = float(np.mean(length)) * np.asarray(direction, float)
  for parent, (target, direction) in _BVH_ENDS.items():
    if target is not None:
      length = float(np.mean(np.linalg.norm(
          poses_yup[:, target] - poses_yup[:, idx[parent][0]], axis=-1)))
    else:
      length = 0.25 * float(np.linalg.norm(offsets[parent]))
    offsets[parent + '_end'] = length * np.asarray(direction, float)
  return offsets


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """[T, 3, 3] smallest rotations taking directions a [T, 3] to b [T, 3]."""
  a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
  b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
  v = np.cross(a, b)
  c = np.sum(a * b, -1)
  s = np.linalg.norm(v, axis=-1)
  # Antiparallel: any axis perpendicular to a.
  anti = (s < 1e-9) & (c < 0)
  if anti.any():
    perp = np.cross(a[anti], np.array([1.0, 0.0, 0.0]))
    small = np.linalg.norm(perp, axis=-1) < 1e-6
    perp[small] = np.cross(a[anti][small], np.array([0.0, 1.0, 0.0]))
    v[anti] = perp / np.linalg.norm(perp, axis=-1, keepdims=True)
    s[anti] = 1.0
  axis = v / np.maximum(s, 1e-12)[..., None]
  angle = np.arctan2(s, c)
  kx = np.zeros(a.shape[:-1] + (3, 3))
  kx[..., 0, 1], kx[..., 0, 2] = -axis[..., 2], axis[..., 1]
  kx[..., 1, 0], kx[..., 1, 2] = axis[..., 2], -axis[..., 0]
  kx[..., 2, 0], kx[..., 2, 1] = -axis[..., 1], axis[..., 0]
  eye = np.broadcast_to(np.eye(3), kx.shape)
  sa, ca = np.sin(angle)[..., None, None], np.cos(angle)[..., None, None]
  return eye + sa * kx + (1 - ca) * (kx @ kx)


def _euler_zxy(r: np.ndarray) -> np.ndarray:
  """[T, 3] degrees (z, x, y) with R = Rz Rx Ry (BVH channel order
  'Zrotation Xrotation Yrotation')."""
  x = np.arcsin(np.clip(r[..., 2, 1], -1.0, 1.0))
  y = np.arctan2(-r[..., 2, 0], r[..., 2, 2])
  z = np.arctan2(-r[..., 0, 1], r[..., 1, 1])
  return np.degrees(np.stack([z, x, y], -1))


def _root_rotation(p: np.ndarray) -> np.ndarray:
  """Hips frame: x along r_hip -> l_hip, y towards the spine, z forward."""
  a = p[:, 4] - p[:, 1]
  a /= np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
  u = p[:, 7] - p[:, 0]
  u = u - np.sum(u * a, -1, keepdims=True) * a
  bad = np.linalg.norm(u, axis=-1) < 1e-9
  u[bad] = np.array([0.0, 1.0, 0.0])
  u /= np.linalg.norm(u, axis=-1, keepdims=True)
  f = np.cross(a, u)
  return np.stack([a, u, f], axis=-1)


def bvh_motion(poses_cam: np.ndarray) -> tuple[dict[str, np.ndarray],
                                                np.ndarray, np.ndarray]:
  """Rotations for `_BVH_JOINTS` reproducing H36M-17 poses.

  Args:
    poses_cam: [T, 17, 3] metres, camera frame.

  Returns:
    (offsets in metres (Y up) per joint / End Site, channel values [T, C]
    (root position in metres then degrees), reconstructed [T, 17, 3] Y-up
    positions of the H36M joints, by forward kinematics).
  """
  p = y_up(poses_cam)
  t = len(p)
  offsets = bvh_skeleton(p)
  children = {}
  for name, _, parent, _ in _BVH_JOINTS:
    children.setdefault(parent, []).append(name)
  joint_of = {n: j for n, j, _, _ in _BVH_JOINTS}
  world = {}
  pos = {}
  local_angles = []
  recon = np.zeros_like(p)
  for name, j, parent, _ in _BVH_JOINTS:
    if parent is None:
      pos[name] = p[:, 0]
      world[name] = _root_rotation(p)
      local = world[name]
    else:
      pos[name] = pos[parent] + np.einsum('tij,j->ti', world[parent],
                                          offsets[name])
      w_par = world[parent]
      # The child (or End Site) this joint aims at: the first with a
      # non-zero rest offset.
      aim = [c for c in children.get(name, [])
             if np.linalg.norm(offsets[c]) > 0]
      target = None
      if aim:
        target, rest = p[:, joint_of[aim[0]]], offsets[aim[0]]
      elif name in _BVH_ENDS and _BVH_ENDS[name][0] is not None:
        target, rest = p[:, _BVH_ENDS[name][0]], offsets[name + '_end']
      if target is None:
        world[name] = w_par
      else:
        current = np.einsum('tij,j->ti', w_par, rest)
        world[name] = _min_rotation(current, target - pos[name]) @ w_par
      local = np.swapaxes(w_par, -1, -2) @ world[name]
    local_angles.append(_euler_zxy(local))
    recon[:, j] = pos[name]
  head_end = pos['Head'] + np.einsum('tij,j->ti', world['Head'],
                                     offsets['Head_end'])
  recon[:, 10] = head_end
  channels = np.concatenate([pos['Hips']] + local_angles, axis=-1)
  assert channels.shape == (t, 3 + 3 * len(_BVH_JOINTS))
  return offsets, channels, recon


def write_bvh(path, poses_cam: np.ndarray, frame_rate: float) -> pathlib.Path:
  """Writes a BVH of H36M-17 poses [T, 17, 3] (metres, camera frame); the
  file is in centimetres, Y up (see the module doc)."""
  if not frame_rate > 0:
    raise InputError(f'frame rate must be > 0, got {frame_rate}',
                     source='config', field='lift.frame_rate')
  poses_cam = np.asarray(poses_cam, np.float64)
  if poses_cam.ndim != 3 or poses_cam.shape[1:] != (17, 3):
    raise ValueError(f'write_bvh needs [T, 17, 3] H36M-17 poses, got '
                     f'{poses_cam.shape}')
  offsets, channels, _ = bvh_motion(poses_cam)
  cm = 100.0
  children = {}
  for name, _, parent, _ in _BVH_JOINTS:
    children.setdefault(parent, []).append(name)
  out = ['HIERARCHY']

  def emit(name, depth):
    pad = '  ' * depth
    kind = 'ROOT' if depth == 0 else 'JOINT'
    out.append(f'{pad}{kind} {name}')
    out.append(f'{pad}{{')
    o = offsets[name] * cm
    out.append(f'{pad}  OFFSET {o[0]:.6f} {o[1]:.6f} {o[2]:.6f}')
    if depth == 0:
      out.append(f'{pad}  CHANNELS 6 Xposition Yposition Zposition '
                 'Zrotation Xrotation Yrotation')
    else:
      out.append(f'{pad}  CHANNELS 3 Zrotation Xrotation Yrotation')
    for child in children.get(name, []):
      emit(child, depth + 1)
    if name in _BVH_ENDS:
      e = offsets[name + '_end'] * cm
      out.append(f'{pad}  End Site')
      out.append(f'{pad}  {{')
      out.append(f'{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}')
      out.append(f'{pad}  }}')
    out.append(f'{pad}}}')

  emit('Hips', 0)
  out.append('MOTION')
  out.append(f'Frames: {len(channels)}')
  out.append(f'Frame Time: {1.0 / frame_rate:.8f}')
  values = channels.copy()
  values[:, :3] *= cm
  for row in values:
    out.append(' '.join(f'{v:.6f}' for v in row))
  p = pathlib.Path(path)
  p.write_text('\n'.join(out) + '\n')
  return p


# ------------------------------------------------------------------ CSV
def write_csv(path, poses_cam: np.ndarray, joint_names: Sequence[str],
              frames: np.ndarray, tracks: np.ndarray,
              spread_mm: np.ndarray | None = None) -> pathlib.Path:
  """One row per pose: frame, track, <joint>_x/_y/_z (metres, camera
  frame), and <joint>_spread_mm when `spread_mm` [N, J] is given."""
  p = pathlib.Path(path)
  head = ['frame', 'track'] + [f'{n}_{c}' for n in joint_names
                               for c in 'xyz']
  if spread_mm is not None:
    head += [f'{n}_spread_mm' for n in joint_names]
  with open(p, 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(head)
    for i in range(len(poses_cam)):
      row = [int(frames[i]), int(tracks[i])]
      row += [f'{v:.6f}' for v in np.asarray(poses_cam[i]).reshape(-1)]
      if spread_mm is not None:
        row += [f'{v:.2f}' for v in spread_mm[i]]
      w.writerow(row)
  return p


# --------------------------------------------------------------- tracks
def track_groups(frames: np.ndarray, tracks: np.ndarray
                 ) -> dict[int, np.ndarray]:
  """Row indices per track, sorted by frame; only tracks with at most one
  row per frame (untracked multi-person rows, track -1, are left out)."""
  out = {}
  for t in sorted(set(np.asarray(tracks).tolist())):
    rows = np.flatnonzero(tracks == t)
    rows = rows[np.argsort(frames[rows], kind='stable')]
    if len(np.unique(frames[rows])) != len(rows):
      continue
    out[int(t)] = rows
  return out


def export_all(workdir, formats: Sequence[str], *, poses_abs: np.ndarray,
               layout: str, frames: np.ndarray, tracks: np.ndarray,
               frame_rate: float, trc_units: str = 'm',
               spread_mm: np.ndarray | None = None,
               keypoints_2d: np.ndarray | None = None,
               confidence: np.ndarray | None = None,
               projected_2d: np.ndarray | None = None,
               image_wh: np.ndarray | None = None,
               max_gif_frames: int = 300) -> list[str]:
  """Writes the requested exports into `workdir`; returns their paths.

  CSV holds every pose; TRC, BVH and GIF one file per person track
  (`lifted.<ext>` for a single track, else `lifted_track<id>.<ext>`).
  """
  workdir = pathlib.Path(workdir)
  lay = skeleton.get_layout(layout)
  names = list(lay.joint_names)
  written = []
  if 'csv' in formats:
    written.append(write_csv(workdir / 'lifted.csv', poses_abs, names,
                             frames, tracks, spread_mm))
  groups = track_groups(frames, tracks)
  seq_formats = [f for f in formats if f in ('trc', 'bvh', 'gif')]
  if seq_formats and not groups:
    from absl import logging  # pylint: disable=g-import-not-at-top
    logging.warning('no person tracks (several untracked people per frame): '
                    'TRC / BVH / GIF not written; track the people in the '
                    'detector (OpenPose --tracking, AlphaPose --pose_track)')
  for t, rows in groups.items():
    stem = 'lifted' if len(groups) == 1 else f'lifted_track{t}'
    if 'trc' in formats:
      written.append(write_trc(workdir / f'{stem}.trc', poses_abs[rows],
                               names, frames[rows], frame_rate, trc_units))
    if 'bvh' in formats:
      if lay.name != 'h36m17':
        raise InputError(f'BVH export needs the h36m17 model layout, not '
                         f'{lay.name!r}', source='config',
                         field='lift.export')
      written.append(write_bvh(workdir / f'{stem}.bvh', poses_abs[rows],
                               frame_rate))
    if 'gif' in formats:
      from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
      sel = rows[:max_gif_frames]
      wh = None
      if image_wh is not None and (np.asarray(image_wh)[sel] > 0).all():
        wh = np.asarray(image_wh)[sel[0]]
      written.append(viz.animate_sequence(
          workdir / f'{stem}.gif', poses_abs[sel], lay.name,
          keypoints_2d=None if keypoints_2d is None else keypoints_2d[sel],
          confidence=None if confidence is None else confidence[sel],
          projected_2d=None if projected_2d is None else projected_2d[sel],
          frames=frames[sel], frame_rate=frame_rate, image_wh=wh))
  return [str(w) for w in written]
