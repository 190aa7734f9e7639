"""Training poses for the adult prior: mocap / Human3.6M -> root-relative.

`load_prior_poses` turns mocap takes (BVH, ASF/AMC; default: every CMU take
in `data_root/cmu`) and, optionally, a VideoPose3D Human3.6M file into one
array [N, 17, 3] of Human3.6M-17 poses:

- camera-style frame: x right, y down, z forward. Y-up mocap (CMU) maps
  (x, y, z) -> (x, -y, -z) and Human3.6M's Z-up world maps (x, y, z) ->
  (x, -z, y). Both maps are proper rotations (det +1: a rotation about x by
  180 and -90 degrees), so left stays left. Where the body faces does not
  matter: training rotates every pose anyway (`zedoi_jax.pose_augment`);
- root-relative: the pelvis (joint 0) at the origin; metres;
- sampled by time: one frame every 1 / `sample_hz` seconds of each take
  (its own frame rate: BVH Frame Time, CMU AMC 120 Hz), or one frame in
  `subsample` when `sample_hz` is 0; 120 Hz mocap is nearly duplicate. Then,
  per take, a frame is kept only if its mean joint distance to the last kept
  frame exceeds `min_pose_distance` (greedy; removes standing still).

Takes are named by files, folders (searched recursively: every .amc with
its subject's .asf beside it, every .bvh; a take found as both is used once,
from the ASF/AMC) or glob patterns, so a whole mocap database is one entry.

Held-out subjects (`CMU_SPLITS`): whole CMU subjects, by the take-name
convention `<subject>_<trial>`, are kept out of training for validation and
test; `subject_split` chooses the takes of one split.

`synthetic_poses` makes random but body-like poses (adult bone lengths,
joint angles jittered about a standing pose) for tests and quick configs
without any data files. numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import glob
import os
import pathlib
import re

import numpy as np
from scipy.spatial.transform import Rotation

from zedoi_jax import errors
from zedoi_jax import skeleton
from zedoi_jax.data import checks

PathLike = str | os.PathLike
NUM_JOINTS = 17
ROOT = 0
# World-to-camera-style rotations (rows: new x, y, z in world coordinates).
Y_UP_TO_CAMERA = np.array([[1, 0, 0], [0, -1, 0], [0, 0, -1]], np.float32)
Z_UP_TO_CAMERA = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float32)


def to_camera_frame(poses: np.ndarray, up: str) -> np.ndarray:
  """Maps world poses [..., 3] with `up` in {'y', 'z'} to x right, y down."""
  if up == 'y':
    r = Y_UP_TO_CAMERA
  elif up == 'z':
    r = Z_UP_TO_CAMERA
  else:
    raise ValueError(f"up must be 'y' or 'z', got {up!r}")
  return np.asarray(poses, np.float32) @ r.T


def dedup(poses: np.ndarray, min_pose_distance: float) -> np.ndarray:
  """Greedy near-duplicate removal along a sequence.

  Args:
    poses: [T, J, 3] one take, in time order.
    min_pose_distance: keep a frame when its mean joint distance to the last
      kept frame exceeds this (same unit as poses); 0 keeps all.

  Returns:
    [T', J, 3] with the first frame always kept.
  """
  if len(poses) == 0 or min_pose_distance <= 0:
    return poses
  keep = [0]
  last = poses[0]
  for i in range(1, len(poses)):
    if np.linalg.norm(poses[i] - last, axis=-1).mean() > min_pose_distance:
      keep.append(i)
      last = poses[i]
  return poses[keep]


def prepare_take(positions: np.ndarray, *, up: str, subsample: int,
                 min_pose_distance: float) -> np.ndarray:
  """World-frame joint positions of one take -> training poses.

  Args:
    positions: [T, 17, 3] metres, world frame with `up` ('y' | 'z') up.
    up: the world up axis.
    subsample: keep every `subsample`-th frame (>= 1).
    min_pose_distance: metres, see `dedup`.

  Returns:
    [T', 17, 3] float32, camera-style frame, pelvis at the origin.
  """
  if subsample < 1:
    raise ValueError(f'subsample must be >= 1, got {subsample}')
  x = to_camera_frame(positions[::subsample], up)
  x = x - x[:, ROOT:ROOT + 1]
  return dedup(x, min_pose_distance).astype(np.float32)


# Whole CMU subjects held out of the adult prior's training, fixed once
# (2026-12-01) and never moved: 'val' chooses every prior and fit knob,
# 'test' is scored once per shipped prior. Chosen for variety among the
# subjects of data/cmu + data/cmu_extra: walking (08 / 07), running (09) or
# run-jump-walk (16), everyday behaviours (14) or expressions and
# behaviours (02). Everything else trains.
CMU_SPLITS = {
    'val': ('08', '09', '14'),
    'test': ('02', '07', '16'),
}

_GLOB_CHARS = re.compile(r'[*?\[]')


def take_subject(path: PathLike) -> str | None:
  """CMU subject of a take file ('07_01.amc' -> '07'), None if unnamed so."""
  m = re.fullmatch(r'(\d+)_\d+', pathlib.Path(path).stem)
  return m.group(1) if m else None


def _same_subject(a: str, b: str) -> bool:
  return a.lstrip('0') == b.lstrip('0')


def subject_split(takes: Sequence[tuple[str, str | None]], split: str,
                  splits: dict[str, Sequence[str]] | None = None
                  ) -> list[tuple[str, str | None]]:
  """The takes of one split: 'all', 'train' (no held-out subject), or a key
  of `splits` (default `CMU_SPLITS`: 'val', 'test')."""
  splits = CMU_SPLITS if splits is None else splits
  if split == 'all':
    return list(takes)
  held = {k: tuple(v) for k, v in splits.items()}
  if split != 'train' and split not in held:
    raise errors.InputError(
        f"unknown prior data split {split!r}: expected 'all', 'train' or one "
        f'of {sorted(held)}', source='config', field='data.prior_split')

  def split_of(take):
    subj = take_subject(take[1] or take[0])
    if subj is not None:
      for name, subjects in held.items():
        if any(_same_subject(subj, s) for s in subjects):
          return name
    return 'train'

  return [t for t in takes if split_of(t) == split]


def _takes_in_dir(d: pathlib.Path) -> list[tuple[str, str | None]]:
  takes: list[tuple[str, str | None]] = []
  for amc in sorted(d.rglob('*.amc')):
    asf = amc.with_name(amc.stem.split('_')[0] + '.asf')
    checks.require_file(asf, f'ASF skeleton for {amc.name}')
    takes.append((str(asf), str(amc)))
  takes.extend((str(b), None) for b in sorted(d.rglob('*.bvh')))
  return takes


def _dedup_takes(takes: Iterable[tuple[str, str | None]]
                 ) -> list[tuple[str, str | None]]:
  """Each take once (by file), and a take present as AMC and BVH from the AMC
  (the subject's own skeleton; CMU's BVH conversions drop the thorax bone or
  retarget to another figure)."""
  takes = list(dict.fromkeys(takes))
  amc_stems = {pathlib.Path(a).stem for _, a in takes if a}
  return [(f, a) for f, a in takes
          if a or pathlib.Path(f).stem not in amc_stems]


def default_mocap_files(cmu_dir: PathLike) -> list[tuple[str, str | None]]:
  """The takes in a CMU folder (recursively), as (file, amc or None) pairs.

  A take present both as ASF/AMC and as BVH (e.g. 01_01) is used once, from
  the ASF/AMC.
  """
  d = checks.require_dir(cmu_dir, 'CMU mocap')
  takes = _dedup_takes(_takes_in_dir(d))
  if not takes:
    raise FileNotFoundError(f'no .amc or .bvh takes in {d}')
  return takes


def parse_mocap_files(spec: str | Iterable[str],
                      base: PathLike | None = None
                      ) -> list[tuple[str, str | None]]:
  """Mocap entries -> (file, amc or None) pairs.

  Args:
    spec: 'a.bvh,b.asf:b.amc,folder/,takes/**/*.bvh' or a list of entries:
      .bvh files, .amc files (skeleton beside them), 'x.asf:x.amc' pairs,
      folders (searched recursively) and glob patterns (`**` recursive).
    base: a relative entry that does not exist as given is looked up here
      (the data root), so configs can name 'cmu' and 'cmu_extra'.

  Raises:
    FileNotFoundError: an entry (or a pattern) that names nothing.
  """
  entries = spec.split(',') if isinstance(spec, str) else list(spec)
  takes: list[tuple[str, str | None]] = []

  def resolve(entry: str) -> str:
    if base is not None and not os.path.isabs(entry) and not (
        os.path.exists(entry) or glob.glob(entry, recursive=True)):
      return os.path.join(os.fspath(base), entry)
    return entry

  for entry in entries:
    entry = str(entry).strip()
    if not entry:
      continue
    head, sep, tail = entry.rpartition(':')
    if sep and head.lower().endswith('.asf') and tail.lower().endswith('.amc'):
      takes.append((resolve(head), resolve(tail)))
      continue
    entry = resolve(entry)
    if _GLOB_CHARS.search(entry):
      matches = sorted(glob.glob(entry, recursive=True))
      if not matches:
        raise FileNotFoundError(f'mocap pattern {entry!r} matches no file '
                                '(data.mocap_files)')
    else:
      matches = [entry]
    for m in matches:
      mp = pathlib.Path(m)
      if mp.is_dir():
        found = _takes_in_dir(mp)
        if not found:
          raise FileNotFoundError(f'no .amc or .bvh takes in {mp} '
                                  '(data.mocap_files)')
        takes.extend(found)
      elif (mp.suffix.lower() in ('.bvh', '.amc')
            or not _GLOB_CHARS.search(entry)):
        # A named file is kept whatever it is: load_take names a wrong type
        # or a miss. A pattern keeps only its mocap matches.
        takes.append((m, None))
  return _dedup_takes(takes)


def sample_step(frame_rate: float, sample_hz: float, subsample: int) -> int:
  """Frames between kept frames: by time when `sample_hz` > 0."""
  if sample_hz and sample_hz > 0:
    return max(1, int(round(frame_rate / sample_hz)))
  return int(subsample)


def load_prior_poses(*, mocap_files: str | Sequence[str] | None = None,
                     data_root: PathLike | None = None,
                     h36m_npz: PathLike | None = None,
                     h36m_subjects: str | Sequence[str] = (
                         'S1', 'S5', 'S6', 'S7', 'S8'),
                     subsample: int = 4,
                     sample_hz: float = 0.0,
                     min_pose_distance: float = 0.01,
                     split: str = 'all',
                     return_summary: bool = False,
                     allow_pickle: bool = False):
  """Loads the prior's training poses.

  Args:
    mocap_files: mocap takes: .bvh files, .amc files (skeleton found beside
      them), 'x.asf:x.amc' pairs, folders or glob patterns, as a list or one
      comma-separated string (see `parse_mocap_files`; relative entries
      are also looked up under `data_root`). None / empty: every take in
      `data_root/cmu` (see `default_mocap_files`), unless only `h36m_npz`
      is given.
    data_root: the data folder holding `cmu/`.
    h36m_npz: optional VideoPose3D `data_3d_h36m.npz` (Z up) to add.
    h36m_subjects: Human3.6M subjects to use (list or 'S1,S5').
    subsample: keep every `subsample`-th frame of each take (when
      `sample_hz` is 0).
    sample_hz: keep one frame every 1 / sample_hz seconds of each take (by
      its own frame rate); 0 = by `subsample`.
    min_pose_distance: metres; near-duplicate threshold (see `dedup`).
    split: which subjects' takes (`subject_split`): 'all', 'train' (none
      of the held-out CMU subjects), 'val' or 'test'. Human3.6M is not split
      here (use `h36m_subjects`).
    return_summary: also return a JSON-able summary of what was loaded.
    allow_pickle: needed to read `h36m_npz` (a pickle: reading it executes
      code from the file; `h36m.load_h36m_3d`).

  Returns:
    [N, 17, 3] float32 metres, camera-style frame (x right, y down, z
    forward), pelvis at 0; with `return_summary`, (poses, summary dict).

  Raises:
    FileNotFoundError: a named file or the CMU folder is missing.
    InputError: a file is malformed, or nothing was loaded.
  """
  # Imported here: mocap/h36m parsers are only needed when loading.
  from zedoi_jax.data import mocap  # pylint: disable=g-import-not-at-top
  takes = parse_mocap_files(mocap_files, base=data_root) if mocap_files else []
  if not takes and (h36m_npz is None or data_root is not None):
    if data_root is None:
      raise ValueError('pass mocap_files, data_root or h36m_npz')
    takes = default_mocap_files(pathlib.Path(data_root) / 'cmu')
  takes = subject_split(takes, split)
  chunks, summary = [], {'takes': {}, 'subsample': subsample,
                         'sample_hz': sample_hz, 'split': split,
                         'min_pose_distance': min_pose_distance}
  for path, amc in takes:
    take = mocap.load_take(path, amc_path=amc)
    step = sample_step(take.frame_rate, sample_hz, subsample)
    poses = prepare_take(take.positions, up='y', subsample=step,
                         min_pose_distance=min_pose_distance)
    name = pathlib.Path(amc or path).name
    summary['takes'][name] = {'frames': int(len(take.positions)),
                              'frame_rate': round(float(take.frame_rate), 3),
                              'kept': int(len(poses))}
    chunks.append(poses)
  if h36m_npz:
    from zedoi_jax.data import h36m  # pylint: disable=g-import-not-at-top
    if isinstance(h36m_subjects, str):
      h36m_subjects = [s.strip() for s in h36m_subjects.split(',')
                       if s.strip()]
    data = h36m.load_h36m_3d(h36m_npz, subjects=list(h36m_subjects),
                             allow_pickle=allow_pickle)
    for subject in sorted(data):
      for action in sorted(data[subject]):
        positions = data[subject][action]
        poses = prepare_take(positions, up='z', subsample=subsample,
                             min_pose_distance=min_pose_distance)
        summary['takes'][f'h36m/{subject}/{action}'] = {
            'frames': int(len(positions)), 'kept': int(len(poses))}
        chunks.append(poses)
  if not chunks or sum(len(c) for c in chunks) == 0:
    raise errors.InputError('no training poses were loaded',
                            source=str(mocap_files or data_root or h36m_npz),
                            field='mocap_files')
  poses = np.concatenate(chunks).astype(np.float32)
  checks.check_array(poses, source='prior training poses', field='poses',
                     shape=(None, NUM_JOINTS, 3))
  summary['num_poses'] = int(len(poses))
  return (poses, summary) if return_summary else poses


def normalization(poses: np.ndarray, *, scale: float = 1.0) -> dict:
  """What the prior's export records about the data normalisation.

  The poses are root-relative metres; the network sees poses / scale. ZeDO
  keeps scale 1 (metres); we only record it with the root joint and the
  data's coordinate spread (for information).

  Args:
    poses: [N, J, 3] training poses, metres.
    scale: metres per model unit (config.data.scale).

  Returns:
    {'scale': float, 'root_joint': 0, 'coord_std_m': float, 'mean_pose_m':
    [J][3] list, the data's mean pose (the trivial baseline of results)}.
  """
  if not scale > 0:
    raise ValueError(f'scale must be > 0, got {scale}')
  return {'scale': float(scale), 'root_joint': ROOT,
          'coord_std_m': float(np.std(poses)),
          'mean_pose_m': np.round(np.mean(poses, axis=0).astype(np.float64),
                                  5).tolist()}


# Standing adult template (metres, camera-style frame: y down), H36M-17.
_TEMPLATE = np.array([
    [0.0, 0.0, 0.0], [-0.13, 0.0, 0.0], [-0.13, 0.44, 0.0],
    [-0.13, 0.86, 0.0], [0.13, 0.0, 0.0], [0.13, 0.44, 0.0],
    [0.13, 0.86, 0.0], [0.0, -0.23, 0.0], [0.0, -0.48, 0.0],
    [0.0, -0.58, 0.0], [0.0, -0.70, 0.0], [0.17, -0.46, 0.0],
    [0.17, -0.18, 0.0], [0.17, 0.06, 0.0], [-0.17, -0.46, 0.0],
    [-0.17, -0.18, 0.0], [-0.17, 0.06, 0.0]], np.float32)


def _rodrigues(v: np.ndarray) -> np.ndarray:
  """Rotation matrices [..., 3, 3] from axis-angle vectors [..., 3]."""
  v = np.asarray(v, dtype=np.float64)
  if v.size == 0:  # Older scipy has no empty Rotation.
    return np.zeros(v.shape[:-1] + (3, 3))
  flat = Rotation.from_rotvec(v.reshape(-1, 3)).as_matrix()
  return flat.reshape(v.shape[:-1] + (3, 3))


def synthetic_poses(num_poses: int, *, seed: int = 0,
                    max_angle: float = 0.8) -> np.ndarray:
  """Random body-like H36M-17 poses for tests (no data files needed).

  Each bone of a standing template is rotated, relative to its parent's
  frame, by a random axis-angle of norm <= `max_angle` (radians); bone
  lengths are the template's (adult, ~1.7 m tall).

  Args:
    num_poses: N.
    seed: numpy seed.
    max_angle: joint-angle range in radians.

  Returns:
    [N, 17, 3] float32 metres, camera-style frame, pelvis at 0.
  """
  layout = skeleton.get_layout('h36m17')
  rs = np.random.RandomState(seed)
  parents = layout.parents
  out = np.zeros((num_poses, NUM_JOINTS, 3), np.float32)
  rot = np.zeros((num_poses, NUM_JOINTS, 3, 3))
  rot[:, ROOT] = np.eye(3)
  for j in range(1, NUM_JOINTS):  # parents precede children in h36m17
    p = parents[j]
    v = rs.uniform(-1, 1, (num_poses, 3))
    v *= max_angle * rs.uniform(0, 1, (num_poses, 1)) / np.maximum(
        np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    rot[:, j] = rot[:, p] @ _rodrigues(v)
    offset = _TEMPLATE[j] - _TEMPLATE[p]
    out[:, j] = out[:, p] + np.einsum('nij,j->ni', rot[:, j], offset)
  return out
