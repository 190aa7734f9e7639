"""Human3.6M in the VideoPose3D npz layout, and its custom-video 2D files.

Users who hold a Human3.6M licence usually have it as VideoPose3D's
`data_3d_h36m.npz` / `data_2d_h36m_<detector>.npz`, which store pickled
nested dicts. This module reads them into plain dicts of float32 arrays and
checks shapes, joint counts and finiteness, with errors that name the file
and the key.

Layouts (VideoPose3D `data/prepare_data_h36m.py`):
- `data_3d_h36m.npz`: `positions_3d` = {subject: {action: [T, 32, 3]}},
  metres, world frame. Reduced here to Human3.6M-17 by dropping
  `H36M32_REMOVED` (the order that remains is the Human3.6M-17 order).
- `data_2d_h36m_<det>.npz`: `positions_2d` = {subject: {action: [cam0..cam3
  arrays [T, J, 2]]}} pixels; `metadata` = {'layout_name', 'num_joints',
  'keypoints_symmetry': [left, right]}.
- `data_2d_custom_<name>.npz`: `positions_2d` = {video: {'custom':
  [[T, J, 2]]}}, `metadata['video_metadata'][video] = {'w': .., 'h': ..}`.

These files hold pickled objects, and unpickling a file executes code from
it: every loader here refuses to read one unless called with
`allow_pickle=True` (config: `--config.data.allow_pickle=True`), which a
user should set only for files from a source they trust.

NaN policy: NaN/inf anywhere in a pose array is an `InputError` (naming
the subject, action and camera). VideoPose3D's preparation fills missing
detections by interpolation, so these files hold none; a 2D confidence of
0 (C = 3) is the way to mark a missing keypoint. Values too large for
float32 are errors too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

PathLike = str | os.PathLike

# Joints VideoPose3D removes from the 32-joint skeleton to get 17.
H36M32_REMOVED = (4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31)
# The 17 kept, in Human3.6M-17 order (0 pelvis, 1 r_hip, 2 r_knee,
# 3 r_ankle, 4 l_hip, 5 l_knee, 6 l_ankle, 7 spine, 8 thorax, 9 neck/nose,
# 10 head_top, 11 l_shoulder, 12 l_elbow, 13 l_wrist, 14 r_shoulder,
# 15 r_elbow, 16 r_wrist).
H36M32_KEPT = tuple(j for j in range(32) if j not in H36M32_REMOVED)

# Positions beyond this many metres from the origin are not metres (the
# Human3.6M capture volume is a few metres wide); usually millimetres.
_MAX_ABS_METRES = 100.0


def _trusted_npz(path: PathLike, what: str, allow_pickle: bool
                 ) -> dict[str, np.ndarray]:
  """The npz's arrays, read only when the caller allowed unpickling."""
  p = checks.require_file(path, what)
  if not allow_pickle:
    raise InputError(
        f'{what} stores pickled Python objects, and reading it executes code '
        'from the file; refused. Set --config.data.allow_pickle=True (or '
        'allow_pickle=True) only if you trust where the file came from',
        source=str(p), field='data.allow_pickle')
  return checks.load_npz(p, what, allow_pickle=True)


def _unpickle_dict(data: dict[str, np.ndarray], key: str, src: str) -> dict:
  """The dict stored (pickled) under `key`, or InputError."""
  if key not in data:
    raise InputError(f'missing key {key!r}; the file has {sorted(data)}',
                     source=src, field=key)
  value = data[key]
  if value.dtype != object or value.shape != ():
    raise InputError(f'expected a pickled dict, got an array of shape '
                     f'{value.shape} and dtype {value.dtype}', source=src,
                     field=key)
  value = value.item()
  if not isinstance(value, dict):
    raise InputError(f'expected a dict, got {type(value).__name__}',
                     source=src, field=key)
  return value


def _pose_array(x: Any, src: str, field: str, channels: Iterable[int],
                joints: Iterable[int] | None = None) -> np.ndarray:
  """[T, J, C] float32, finite, T, J > 0, C in `channels`, J in `joints`."""
  arr = checks.check_array(x, source=src, field=field,
                           shape=(None, None, None))
  if arr.shape[0] == 0:
    raise InputError('no frames', source=src, field=field)
  if arr.shape[1] == 0:
    raise InputError('no joints', source=src, field=field)
  channels = tuple(channels)
  if arr.shape[2] not in channels:
    raise InputError(f'expected {" or ".join(map(str, channels))} values per '
                     f'joint, got {arr.shape[2]} (shape {arr.shape})',
                     source=src, field=field)
  if joints is not None and arr.shape[1] not in tuple(joints):
    raise InputError(f'expected {" or ".join(map(str, joints))} joints, got '
                     f'{arr.shape[1]} (shape {arr.shape})', source=src,
                     field=field)
  return checks.to_float32(arr, source=src, field=field)


def _num_joints(metadata: dict, src: str) -> int | None:
  """metadata['num_joints'] checked to be a positive integer (or None)."""
  num_joints = metadata.get('num_joints')
  if num_joints is None:
    return None
  # No skeleton has thousands of joints: a larger count is garbage.
  return checks.finite_number(num_joints, source=src,
                              field='metadata.num_joints', integer=True,
                              minimum=1, maximum=10_000)


def _check_symmetry(metadata: dict, num_joints: int | None,
                    src: str) -> None:
  """metadata['keypoints_symmetry'] is [left, right] lists of joint ids."""
  symmetry = metadata.get('keypoints_symmetry')
  if symmetry is None:
    return
  field = 'metadata.keypoints_symmetry'
  if (not isinstance(symmetry, (list, tuple, np.ndarray))
      or getattr(symmetry, 'ndim', 1) == 0  # A 0-d array has no len().
      or len(symmetry) != 2):
    raise InputError('keypoints_symmetry must be [left, right]',
                     source=src, field=field)
  for side, name in zip(symmetry, ('left', 'right')):
    if isinstance(side, (list, tuple)) and not side:
      continue  # A layout without left/right pairs.
    ids = checks.check_array(side, source=src, field=f'{field}.{name}',
                             shape=(None,), dtype_kind='i')
    if num_joints is not None and np.any((ids < 0) | (ids >= num_joints)):
      raise InputError(f'keypoints_symmetry has joints outside 0..'
                       f'{num_joints - 1}', source=src, field=field)


def load_h36m_3d(path: PathLike, subjects: Iterable[str] | None = None, *,
                 allow_pickle: bool = False
                 ) -> dict[str, dict[str, np.ndarray]]:
  """Reads VideoPose3D's `data_3d_h36m.npz`.

  Args:
    path: the .npz file (key `positions_3d`).
    subjects: subjects to keep, e.g. ('S1', 'S5'); None keeps all.
    allow_pickle: must be True to read the file at all: unpickling executes
      code from it (only for files you trust).

  Returns:
    {subject: {action: [T, 17, 3] float32}}, metres, world frame (as in the
    file; not root-centred), Human3.6M-17 order (`H36M32_KEPT`). 32-joint
    arrays are reduced; 17-joint arrays are kept as they are.

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file and the subject/action for a missing key,
      a subject not in the file, a wrong joint count or shape, non-finite
      values, or values too large to be metres.
  """
  data = _trusted_npz(path, 'Human3.6M 3D poses (data_3d_h36m.npz)',
                      allow_pickle)
  src = str(path)
  positions = _unpickle_dict(data, 'positions_3d', src)
  if subjects is not None:
    subjects = [str(s) for s in subjects]
    unknown = [s for s in subjects if s not in positions]
    if unknown:
      raise InputError(f'subjects {unknown} not in the file; it has '
                       f'{sorted(positions, key=str)}', source=src,
                       field='positions_3d')
  else:
    # Keys may be of mixed types in a damaged file: sort by their text.
    subjects = sorted(positions, key=str)
  out = {}
  for subject in subjects:
    actions = positions[subject]
    if not isinstance(actions, dict) or not actions:
      raise InputError('expected a non-empty dict {action: [T, 32, 3]}',
                       source=src, field=f'positions_3d[{subject!r}]')
    out[subject] = {}
    for action, pose in actions.items():
      field = f'positions_3d[{subject!r}][{action!r}]'
      arr = _pose_array(pose, src, field, channels=(3,), joints=(32, 17))
      if arr.shape[1] == 32:
        arr = arr[:, H36M32_KEPT]
      biggest = float(np.abs(arr).max())
      if biggest > _MAX_ABS_METRES:
        raise InputError(f'values up to {biggest:.1f}: not metres (mm?); '
                         'divide by 1000', source=src, field=field)
      out[subject][str(action)] = np.ascontiguousarray(arr)
  return out


def load_h36m_2d(path: PathLike, *, allow_pickle: bool = False
                 ) -> tuple[dict[str, dict[str, list]], dict[str, Any]]:
  """Reads VideoPose3D's `data_2d_h36m_<detector>.npz`.

  Args:
    path: the .npz file (keys `positions_2d` and `metadata`).

  Returns:
    (positions, metadata): positions = {subject: {action: [one [T, J, C]
    float32 array per camera]}}, pixels, C = 2 (x, y) or 3 (x, y,
    confidence) as stored; metadata as stored (`layout_name`, `num_joints`,
    `keypoints_symmetry`).

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file and the subject/action/camera for missing
      keys, joint counts that disagree with `metadata['num_joints']`, bad
      shapes or non-finite values.
  """
  data = _trusted_npz(path, 'Human3.6M 2D keypoints (data_2d_h36m_*.npz)',
                      allow_pickle)
  src = str(path)
  positions = _unpickle_dict(data, 'positions_2d', src)
  metadata = _unpickle_dict(data, 'metadata', src)
  num_joints = _num_joints(metadata, src)
  _check_symmetry(metadata, num_joints, src)
  joints = None if num_joints is None else (int(num_joints),)
  out = {}
  for subject, actions in positions.items():
    if not isinstance(actions, dict):
      raise InputError('expected a dict {action: [cameras]}', source=src,
                       field=f'positions_2d[{subject!r}]')
    out[subject] = {}
    for action, cams in actions.items():
      field = f'positions_2d[{subject!r}][{action!r}]'
      if not isinstance(cams, (list, tuple)) or not cams:
        raise InputError('expected a non-empty list of per-camera arrays',
                         source=src, field=field)
      out[subject][action] = [
          _pose_array(c, src, f'{field}[{i}]', channels=(2, 3),
                      joints=joints) for i, c in enumerate(cams)]
      if num_joints is None:
        counts = {c.shape[1] for c in out[subject][action]}
        if len(counts) > 1:
          raise InputError(f'cameras disagree on the joint count {counts}',
                           source=src, field=field)
  return out, metadata


def load_custom_2d(path: PathLike, *, allow_pickle: bool = False
                   ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
  """Reads VideoPose3D's `data_2d_custom_<name>.npz` (detections on videos).

  Args:
    path: the .npz file (keys `positions_2d` and `metadata`).

  Returns:
    (videos, metadata): videos = {video: {'keypoints': [T, J, C] float32
    pixels (C = 2, or 3 with confidence), 'image_wh': [2] int32 (w, h)}};
    metadata as stored. Missing detections must already be filled (as
    VideoPose3D's preparation does, by interpolation): NaN is an error.

  Raises:
    FileNotFoundError: if the file is missing.
    InputError: naming the file and the video for a missing 'custom' entry
      or video size, bad shapes or non-finite values.
  """
  data = _trusted_npz(path, 'custom 2D keypoints (data_2d_custom_*.npz)',
                      allow_pickle)
  src = str(path)
  positions = _unpickle_dict(data, 'positions_2d', src)
  metadata = _unpickle_dict(data, 'metadata', src)
  video_meta = metadata.get('video_metadata')
  if not isinstance(video_meta, dict):
    raise InputError("missing metadata['video_metadata'] ({video: {'w', "
                     "'h'}})", source=src, field='metadata.video_metadata')
  num_joints = _num_joints(metadata, src)
  joints = None if num_joints is None else (num_joints,)
  out = {}
  for video, entry in positions.items():
    field = f'positions_2d[{video!r}]'
    if not isinstance(entry, dict) or 'custom' not in entry:
      raise InputError("expected {'custom': [[T, J, 2]]}", source=src,
                       field=field)
    cams = entry['custom']
    if not isinstance(cams, (list, tuple)) or len(cams) != 1:
      raise InputError("expected 'custom' to be a list of one array",
                       source=src, field=f"{field}['custom']")
    kp = _pose_array(cams[0], src, f"{field}['custom'][0]", channels=(2, 3),
                     joints=joints)
    size = video_meta.get(video)
    if not isinstance(size, dict) or not {'w', 'h'} <= set(size):
      raise InputError(f"no {{'w', 'h'}} for video {video!r}", source=src,
                       field=f'metadata.video_metadata[{video!r}]')
    where = f'metadata.video_metadata[{video!r}]'
    wh = np.array([
        checks.finite_number(size[key], source=src, field=f'{where}.{key}',
                             integer=True, minimum=1,
                             maximum=np.iinfo(np.int32).max)
        for key in ('w', 'h')], dtype=np.int32)
    out[video] = {'keypoints': kp, 'image_wh': wh}
  return out, metadata
