"""MINI-RGBD (synthetic infant RGB-D sequences): joint text files.

ZeDO-i reports results on MINI-RGBD, whose per-frame joints come as text
files. This module reads one sequence folder, or several, into numpy arrays
in the dataset's own 25-joint SMIL order (`SMIL25_JOINTS`); conversion to
Human3.6M-17 is `zedoi_jax.skeleton`'s job (the 'smil25' layout).

Layout (`MINI-RGBD_web/<01..12>/`):
- `joints_2Ddep/syn_joints_2Ddep_XXXXX.txt`: 25 lines `x y depth jointID`,
  x, y in pixels of the 640 x 480 image, depth as the dataset stores it.
- `joints_3D/syn_joints_3D_XXXXX.txt`: 25 lines `x y z jointID`, metres,
  camera frame.
Sequences 01-10 are the training sequences and 11-12 the test ones
(`SEQUENCES_TRAIN`, `SEQUENCES_TEST`), as in ZeDO-i.

`to_arrays` turns a set of sequences into the flat arrays the fit reads
(what `python -m zedoi_jax.prepare mini_rgbd` writes to one npz), with the
Human3.6M-17 versions made by `skeleton.convert`.

The joint-map issue. The SMIL joint at index i is the *start* of the bone
named i (SMPL convention): 'leftFoot' (7) is the ankle, 'leftToes' (10) the
ball of the foot, 'leftShoulder' (13) the collar (sternoclavicular end) and
'leftUpperArm' (16) the shoulder joint. ZeDO-i's published 25 -> 17 table
[0,2,5,11,1,4,10,3,9,12,15,13,18,20,14,19,21] takes the toes for the ankles
and the collars for the shoulders. Both readings are selectable:
'anatomical' (default: ankle = foot 7/8, shoulder = upper arm 16/17) and
'zedo' (the published table, to reproduce published MINI-RGBD numbers).
They differ exactly at the two ankles and the two shoulders, and they give
different errors, so say which one a number used.

NaN policy: MINI-RGBD is synthetic and complete (every joint in every
frame), so a non-finite value is a corrupt file and an `InputError`.
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Iterable

import numpy as np

from zedoi_jax import camera
from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

PathLike = str | os.PathLike

NUM_JOINTS = 25
# The joint at index i is the start of the SMIL bone named i.
SMIL25_JOINTS = (
    'pelvis', 'leftThigh', 'rightThigh', 'spine', 'leftCalf', 'rightCalf',
    'spine1', 'leftFoot', 'rightFoot', 'spine2', 'leftToes', 'rightToes',
    'neck', 'leftShoulder', 'rightShoulder', 'head', 'leftUpperArm',
    'rightUpperArm', 'leftForeArm', 'rightForeArm', 'leftHand', 'rightHand',
    'leftFingers', 'rightFingers', 'noseVertex')
SEQUENCES_TRAIN = tuple(range(1, 11))
SEQUENCES_TEST = (11, 12)

# ASCII digits only: `\d` would also match other scripts' digits (e.g.
# Arabic-Indic), which int() reads, so two names could be one frame.
_FILE_2D = re.compile(r'^syn_joints_2Ddep_([0-9]+)\.txt$')
_FILE_3D = re.compile(r'^syn_joints_3D_([0-9]+)\.txt$')
_MAX_FRAME = int(np.iinfo(np.int64).max)


def _read_joint_file(path: pathlib.Path) -> np.ndarray:
  """[25, 3] float64 values of one joint file, rows ordered by joint id."""
  src = str(path)
  out = np.full((NUM_JOINTS, 3), np.nan)
  seen = np.zeros(NUM_JOINTS, bool)
  with open(path, 'r', encoding='utf-8', errors='replace') as f:
    lines = [ln for ln in f.read().splitlines() if ln.strip()]
  if len(lines) != NUM_JOINTS:
    raise InputError(f'expected {NUM_JOINTS} lines "x y z jointID", got '
                     f'{len(lines)}', source=src, field='lines')
  for k, line in enumerate(lines, start=1):
    tok = line.split()
    if len(tok) != 4:
      raise InputError(f'line {k}: expected 4 values "x y z jointID", got '
                       f'{line!r}', source=src, field=f'line {k}')
    try:
      vals = [float(t) for t in tok[:3]]
      joint = float(tok[3])
    except ValueError:
      raise InputError(f'line {k}: not numbers: {line!r}', source=src,
                       field=f'line {k}') from None
    if not np.all(np.isfinite(vals)):
      raise InputError(f'line {k}: non-finite value', source=src,
                       field=f'line {k}')
    # Test finiteness before int(): int(nan) and int(inf) raise.
    if (not np.isfinite(joint) or joint != int(joint)
        or not 0 <= joint < NUM_JOINTS or seen[int(joint)]):
      raise InputError(f'line {k}: joint id {tok[3]!r} is not a new id in '
                       f'0..{NUM_JOINTS - 1}', source=src, field=f'line {k}')
    seen[int(joint)] = True
    out[int(joint)] = vals
  checks.to_float32(out, source=src, field='values')
  return out


def _frames(folder: pathlib.Path, pattern: re.Pattern) -> dict[int, str]:
  """frame number -> file name of the joint files in `folder`."""
  found = {}
  for name in sorted(os.listdir(folder)):
    m = pattern.match(name)
    # A folder of that name is not a frame: the frame is then missing.
    if not m or not (folder / name).is_file():
      continue
    frame = int(m.group(1))
    if frame > _MAX_FRAME:
      raise InputError(f'frame number {m.group(1)} is too large',
                       source=str(folder / name), field='file name')
    if frame in found:
      raise InputError(f'frame {frame} appears twice: {found[frame]} and '
                       f'{name}', source=str(folder / name),
                       field='file name')
    found[frame] = name
  return found


def load_mini_rgbd_sequence(seq_dir: PathLike, *,
                            max_frames: int | None = None
                            ) -> dict[str, np.ndarray]:
  """Reads one MINI-RGBD sequence's joints.

  Args:
    seq_dir: the sequence folder (e.g. `MINI-RGBD_web/11`), holding
      `joints_2Ddep/` and `joints_3D/`.
    max_frames: read only the first this many frames (None: all).

  Returns:
    Dict, frames in ascending frame-number order, joints in `SMIL25_JOINTS`
    order:
      joints_2d: [T, 25, 2] float32 pixels.
      depth_2d: [T, 25] float32, the depth column of the 2Ddep files.
      joints_3d: [T, 25, 3] float32 metres, camera frame.
      frame_id: [T] int64, the number in the file names.

  Raises:
    FileNotFoundError: a missing folder.
    InputError: naming the file and line for malformed lines, and the folder
      when frames are missing from one of the two folders or none exist.
  """
  seq = checks.require_dir(seq_dir, 'MINI-RGBD sequence')
  dir_2d = checks.require_dir(seq / 'joints_2Ddep', 'MINI-RGBD 2D joints')
  dir_3d = checks.require_dir(seq / 'joints_3D', 'MINI-RGBD 3D joints')
  files_2d = _frames(dir_2d, _FILE_2D)
  files_3d = _frames(dir_3d, _FILE_3D)
  if not files_2d:
    raise InputError('no syn_joints_2Ddep_XXXXX.txt files', source=str(dir_2d),
                     field='files')
  only_2d = sorted(set(files_2d) - set(files_3d))
  only_3d = sorted(set(files_3d) - set(files_2d))
  if only_2d or only_3d:
    raise InputError(f'frames without 3D joints: {only_2d[:5]}; frames '
                     f'without 2D joints: {only_3d[:5]}', source=str(seq),
                     field='frames')
  ids = sorted(files_2d)
  if max_frames is not None:
    if max_frames <= 0:
      raise ValueError(f'max_frames must be positive, got {max_frames}')
    ids = ids[:max_frames]
  two = np.stack([_read_joint_file(dir_2d / files_2d[i]) for i in ids])
  three = np.stack([_read_joint_file(dir_3d / files_3d[i]) for i in ids])
  return {
      'joints_2d': two[..., :2].astype(np.float32),
      'depth_2d': two[..., 2].astype(np.float32),
      'joints_3d': three.astype(np.float32),
      'frame_id': np.asarray(ids, dtype=np.int64),
  }


def sequence_dir(root: PathLike, sequence: int | str) -> pathlib.Path:
  """The folder of one sequence: `root/01` for 1 (or `root/1` if so named).

  Raises:
    FileNotFoundError: naming the folders looked for.
  """
  root = pathlib.Path(root)
  try:
    number = int(sequence)
  except ValueError:
    raise ValueError(f'sequence must be a number, got {sequence!r}') from None
  names = [f'{number:02d}', str(number)]
  for n in names:
    if (root / n).is_dir():
      return root / n
  raise FileNotFoundError(f'MINI-RGBD sequence {sequence} not found: looked '
                          f'for {[str(root / n) for n in names]}')


def load_mini_rgbd(root: PathLike, sequences: Iterable[int | str], *,
                   max_frames: int | None = None) -> dict[str, np.ndarray]:
  """Reads and stacks several MINI-RGBD sequences.

  Args:
    root: the dataset folder (e.g. `MINI-RGBD_web`) holding `01`..`12`.
    sequences: sequence numbers, e.g. `SEQUENCES_TEST`.
    max_frames: per sequence, read only the first this many frames.

  Returns:
    The fields of `load_mini_rgbd_sequence` concatenated over sequences
    (N = total frames), plus `sequence` [N] int64, the sequence number.

  Raises:
    FileNotFoundError / InputError: as `load_mini_rgbd_sequence`.
  """
  sequences = list(sequences)
  if not sequences:
    raise ValueError('sequences is empty')
  parts, seq_ids = [], []
  for s in sequences:
    part = load_mini_rgbd_sequence(sequence_dir(root, s),
                                   max_frames=max_frames)
    parts.append(part)
    seq_ids.append(np.full(len(part['frame_id']), int(s), np.int64))
  out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  out['sequence'] = np.concatenate(seq_ids)
  return out


def joint_map_variants() -> tuple[str, ...]:
  """The smil25 -> h36m17 map variants, the default ('anatomical') first."""
  for src, dst, variants in skeleton.available_maps():
    if (src, dst) == ('smil25', 'h36m17'):
      return variants
  raise RuntimeError('zedoi_jax.skeleton has no smil25 -> h36m17 map')


def to_arrays(root: PathLike, sequences: Iterable[int | str], *,
              joint_map: str = 'anatomical',
              max_frames: int | None = None) -> dict[str, np.ndarray]:
  """Reads MINI-RGBD sequences into the flat arrays the fit reads.

  Args:
    root: the dataset folder (`MINI-RGBD_web`) holding `01`..`12`.
    sequences: sequence numbers, e.g. `range(1, 13)`.
    joint_map: the smil25 -> h36m17 map: 'anatomical' (default) or 'zedo'
      (the published table; see the module docstring).
    max_frames: per sequence, read only the first this many frames.

  Returns:
    Dict of numpy arrays, N = total frames, sequences in the order given,
    frames ascending:
      keypoints_2d_smil25: [N, 25, 2] float32 pixels (640 x 480 image).
      depth_2d_smil25: [N, 25] float32, the depth column of the 2D files.
      joints_3d_smil25: [N, 25, 3] float32 metres, camera frame.
      keypoints_2d_h36m17: [N, 17, 2] float32 pixels, via `joint_map`.
      joints_3d_h36m17: [N, 17, 3] float32 metres, camera frame, via
        `joint_map` (not root-centred).
      sequence: [N] int64 sequence number; frame: [N] int64 frame number.
      K: [3, 3] float32, `camera.MINI_RGBD_K` (the Kinect intrinsics).
      joint_map: 0-d str array, the map used.
      joint_names_smil25: [25] str; joint_names_h36m17: [17] str.
    Both maps select joints (one-hot rows), so converting the 2D keypoints
    by the same map is exact.

  Raises:
    FileNotFoundError: a missing dataset or sequence folder.
    InputError: as `load_mini_rgbd_sequence`.
    ValueError: an unknown `joint_map` or an empty `sequences`.
  """
  variants = joint_map_variants()
  if joint_map not in variants:
    raise ValueError(f'joint_map must be one of {variants}, got '
                     f'{joint_map!r}')
  checks.require_dir(root, 'MINI-RGBD dataset (MINI-RGBD_web)')
  data = load_mini_rgbd(root, sequences, max_frames=max_frames)
  kp2d = data['joints_2d']
  xyz = data['joints_3d']
  return {
      'keypoints_2d_smil25': kp2d,
      'depth_2d_smil25': data['depth_2d'],
      'joints_3d_smil25': xyz,
      'keypoints_2d_h36m17': skeleton.convert(
          kp2d, 'smil25', 'h36m17', joint_map).astype(np.float32),
      'joints_3d_h36m17': skeleton.convert(
          xyz, 'smil25', 'h36m17', joint_map).astype(np.float32),
      'sequence': data['sequence'],
      'frame': data['frame_id'],
      'K': np.array(camera.MINI_RGBD_K, np.float32),
      'joint_map': np.array(joint_map),
      'joint_names_smil25': np.array(skeleton.SMIL25.joint_names),
      'joint_names_h36m17': np.array(skeleton.H36M17.joint_names),
  }


# Arrays `load_converted` needs from a `prepare mini_rgbd` npz.
CONVERTED_KEYS = ('keypoints_2d_smil25', 'joints_3d_smil25', 'sequence',
                  'frame', 'K', 'joint_map')


def load_converted(path: PathLike, *, split: str = 'test',
                   joint_map: str = '') -> dict[str, np.ndarray]:
  """The npz `python -m zedoi_jax.prepare mini_rgbd` writes, for the fit.

  MINI-RGBD protocol (ZeDO-i): sequences 11-12 are the test split, 01-10
  the training split; the Kinect K of the npz; 2D and 3D in Human3.6M-17
  through one of the two smil25 -> h36m17 maps (see the module docstring).

  Args:
    path: the npz.
    split: 'test' (11, 12), 'train' (1-10) or 'all'.
    joint_map: 'anatomical' | 'zedo', or '' for the map the npz was made
      with (its 'joint_map'). The map is applied to the npz's smil25 arrays,
      so one npz serves both.

  Returns:
    {'keypoints_2d' [N, 17, 2] px, 'joints_3d' [N, 17, 3] metres (camera
    frame, not root-centred), 'K' [3, 3], 'sequence' [N], 'frame' [N],
    'joint_map' str, 'sequences' list of int}.

  Raises:
    FileNotFoundError: no such file (with the prepare command).
    InputError: a missing array, wrong shapes, non-finite values, no frame
      of the split, an unknown split or joint map.
  """
  p = pathlib.Path(path)
  src = str(p)
  if not p.is_file():
    raise FileNotFoundError(
        f'MINI-RGBD npz not found: {p}. Make it from the MINI-RGBD_web '
        'folder with `python -m zedoi_jax.prepare mini_rgbd '
        f'--source=MINI-RGBD_web --dest={p}`, or name it with '
        '--config.data.mini_rgbd_npz=FILE')
  splits = {'test': SEQUENCES_TEST, 'train': SEQUENCES_TRAIN,
            'all': SEQUENCES_TRAIN + SEQUENCES_TEST}
  if split not in splits:
    raise InputError(f'unknown MINI-RGBD split {split!r}; use one of '
                     f'{sorted(splits)}', source='config', field='data.split')
  try:
    with np.load(p, allow_pickle=False) as z:
      missing = [k for k in CONVERTED_KEYS if k not in z.files]
      if missing:
        raise InputError(f'missing arrays {missing}: not a `prepare '
                         'mini_rgbd` npz?', source=src, field=missing[0])
      d = {k: z[k] for k in CONVERTED_KEYS}
  except (ValueError, OSError, EOFError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f'cannot read the npz: {e!r}', source=src,
                     field='npz') from e
  variants = joint_map_variants()
  joint_map = joint_map or str(d['joint_map'])
  if joint_map not in variants:
    raise InputError(f'unknown joint map {joint_map!r}; use one of '
                     f'{variants}', source='config', field='data.joint_map')
  kp = checks.check_array(d['keypoints_2d_smil25'], shape=(None, NUM_JOINTS,
                                                          2),
                          source=src, field='keypoints_2d_smil25')
  n = len(kp)
  xyz = checks.check_array(d['joints_3d_smil25'], shape=(n, NUM_JOINTS, 3),
                           source=src, field='joints_3d_smil25')
  seq = checks.check_array(d['sequence'], shape=(n,), dtype_kind='i',
                           source=src, field='sequence')
  frame = checks.check_array(d['frame'], shape=(n,), dtype_kind='i',
                             source=src, field='frame')
  K = camera.validate_K(d['K'], source=src)
  keep = np.isin(seq, splits[split])
  if not keep.any():
    raise InputError(f'no frame of the {split!r} split (sequences '
                     f'{list(splits[split])}); the npz holds sequences '
                     f'{sorted(set(seq.tolist()))}', source=src,
                     field='sequence')
  return {
      'keypoints_2d': skeleton.convert(kp[keep], 'smil25', 'h36m17',
                                       joint_map).astype(np.float32),
      'joints_3d': skeleton.convert(xyz[keep], 'smil25', 'h36m17',
                                    joint_map).astype(np.float32),
      'K': np.asarray(K, np.float32), 'sequence': seq[keep],
      'frame': frame[keep], 'joint_map': joint_map,
      'sequences': sorted(set(seq[keep].tolist()))}
