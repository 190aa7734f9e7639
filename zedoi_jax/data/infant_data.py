"""Infant training poses for adapting the prior: SyRIP 3D -> model layout.

ZeDO-i adapts the adult prior on real infant 3D poses. Here they come from
SyRIP's hand-corrected 3D (`zedoi_jax.data.syrip.load_syrip`, LSP-14,
metres, camera-aligned; weak ground truth) of the ZeDO-i *train* split (the
500 images of SyRIP's validate500; the 200 train200 images are the test set,
see `syrip.split_indices`). Each pose is

- mapped LSP-14 -> Human3.6M-17 with `skeleton.convert(x, 'lsp14',
  'h36m17')` (the 'synthetic' map: pelvis = mid-hip, spine, thorax and
  neck_nose built from hips, neck and head top; the limbs copied);
- root-centred (pelvis = joint 0 = mid-hip, the same root the SyRIP metrics
  use);
- kept in metres. The caller divides by the prior's `scale` (metres per
  model unit) so the adapted network sees the prior's normalisation.

Optionally a fixed-seed subset (`num_train_poses`) is taken, to measure how
the adaptation scales with data. `load_generated_poses` reads an npz of
generated infant-like poses (e.g. from guided augmentation) to mix in.
numpy only.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.data import syrip
from zedoi_jax.errors import InputError

PathLike = str | os.PathLike
LAYOUT = 'h36m17'
# Key of the pose array in an `augment_with` npz.
GENERATED_KEY = 'poses'


def syrip_to_model(poses_lsp14: np.ndarray) -> np.ndarray:
  """SyRIP LSP-14 poses [N, 14, 3] (metres) -> root-centred H36M-17.

  Args:
    poses_lsp14: [N, 14, 3] metres, camera-aligned, any root.

  Returns:
    [N, 17, 3] float32 metres, pelvis (joint 0, the mid-hip) at the origin.
  """
  x = skeleton.convert(np.asarray(poses_lsp14, np.float32), 'lsp14', LAYOUT)
  return skeleton.root_center(x, LAYOUT).astype(np.float32)


def load_infant_poses(root: PathLike, *, split: str = 'train',
                      num_train_poses: int = 0, seed: int = 0
                      ) -> tuple[np.ndarray, dict]:
  """The SyRIP infant poses of one split, in the model layout.

  Args:
    root: the SyRIP folder (original files; see `syrip.find_file`), e.g.
      data_root/'syrip'.
    split: 'train' (the 500 validate500 images; the default for adaptation),
      'test' (the 200 train200 images; for evaluation only) or 'all'.
    num_train_poses: keep only this many poses, chosen without replacement
      with numpy seed `seed` (0 = all).
    seed: the subset's seed (fixed, so a subset is reproducible).

  Returns:
    (poses [N, 17, 3] float32 metres root-centred, summary dict with
    'source', 'split', 'num_poses', 'num_available', 'subset_seed',
    'mean_bone_m').
  """
  if num_train_poses < 0:
    raise ValueError(f'num_train_poses must be >= 0, got {num_train_poses}')
  data = syrip.load_syrip(root)
  rows = syrip.split_indices(data, split)
  poses = syrip_to_model(data['gt3d_corrected_lsp14'][rows])
  available = len(poses)
  if num_train_poses:
    if num_train_poses > available:
      raise InputError(
          f'asked for {num_train_poses} poses, the {split} split has '
          f'{available}', source='config', field='adapt.num_train_poses')
    pick = np.random.RandomState(seed).choice(available, num_train_poses,
                                              replace=False)
    poses = poses[np.sort(pick)]
  n_img = len(rows)
  summary = {
      'source': (f'SyRIP {split} split ({n_img} images; ZeDO-i protocol: '
                 'test = train200, train = validate500 = val 100 + adapt 400), hand-corrected 3D '
                 '(weak ground truth), lsp14->h36m17 synthetic map'),
      'split': split,
      'num_poses': int(len(poses)),
      'num_available': int(available),
      'subset_seed': int(seed) if num_train_poses else None,
      'mean_bone_m': float(np.mean(skeleton.bone_lengths(poses, LAYOUT))),
  }
  return poses, summary


def load_generated_poses(path: PathLike) -> np.ndarray:
  """Generated infant-like poses [M, 17, 3] metres from an npz.

  Args:
    path: npz holding `poses` [M, 17, 3] metres, root-relative H36M-17.

  Returns:
    [M, 17, 3] float32, re-centred on the pelvis.
  """
  path = pathlib.Path(path)
  f = checks.load_npz(path, 'generated poses (adapt.augment_with)')
  if GENERATED_KEY not in f:
    raise InputError(f'no array {GENERATED_KEY!r}; found {list(f.keys())}',
                     source=str(path), field=GENERATED_KEY)
  poses = f[GENERATED_KEY]
  poses = checks.check_array(poses, source=str(path), field=GENERATED_KEY,
                             shape=(None, 17, 3))
  if len(poses) == 0:
    raise InputError('no poses', source=str(path), field=GENERATED_KEY)
  return skeleton.root_center(poses.astype(np.float32), LAYOUT)


# Bone lengths (metres) beyond which a file is taken for millimetres or
# centimetres: no infant or adult bone of the model layout is 1.5 m long.
MAX_BONE_M = 1.5


def load_own_poses(path: PathLike, layout: str, *, key: str = 'poses'
                   ) -> tuple[np.ndarray, dict]:
  """A lab's own infant 3D poses for adaptation, in the model layout.

  Args:
    path: .npy [N, J, 3] or .npz holding `key` [N, J, 3]; metres, any
      frame (the camera frame is best: adaptation learns how infants lie
      relative to the camera), root-relative or not.
    layout: the joints' layout name (`zedoi_jax.skeleton`), e.g. 'h36m17',
      'lsp14', 'coco17', 'smil25'; converted to Human3.6M-17.
    key: the array's name inside an .npz.

  Returns:
    ([N, 17, 3] float32 metres, pelvis at 0; summary dict).

  Raises:
    InputError: naming the file and field: wrong shape or layout, values
      that look like millimetres or centimetres, NaN/inf rows (their row
      numbers), no poses.
  """
  p = pathlib.Path(path)
  src = str(p)
  if p.suffix.lower() == '.npz':
    arrays = checks.load_npz(p, 'infant 3D poses (adapt.data)')
    if key not in arrays:
      raise InputError(f'no array {key!r}; found {sorted(arrays)}',
                       source=src, field=key)
    x, field = arrays[key], key
  elif p.suffix.lower() == '.npy':
    x, field = checks.load_npy(p, 'infant 3D poses (adapt.data)'), 'poses'
  else:
    raise InputError(f'expected a .npy or .npz of [N, J, 3] poses, got '
                     f'{p.suffix!r}', source=src, field='adapt.data')
  lay = skeleton.get_layout(layout, source='config', field='adapt.layout')
  x = checks.check_array(x, source=src, field=field, shape=None,
                         finite=False)
  if x.ndim != 3 or x.shape[-1] != 3 or x.shape[1] != lay.num_joints:
    raise InputError(f'poses must be [N, {lay.num_joints}, 3] for layout '
                     f'{lay.name!r}, got shape {x.shape}', source=src,
                     field=field)
  if not len(x):
    raise InputError('no poses', source=src, field=field)
  bad = np.flatnonzero(~np.isfinite(x).all(axis=(1, 2)))
  if len(bad):
    raise InputError(f'{len(bad)} pose(s) hold NaN or inf (rows '
                     f'{bad[:10].tolist()}{"..." if len(bad) > 10 else ""});'
                     ' drop them: adaptation needs complete poses',
                     source=src, field=field)
  x = x.astype(np.float64)
  median = float(np.median(skeleton.bone_lengths(x, lay)))
  if median > MAX_BONE_M:
    unit = 'millimetres' if median > 15 else 'centimetres'
    raise InputError(f'median bone length {median:.1f}: looks like {unit}; '
                     'poses must be in metres (divide by '
                     f'{1000 if unit == "millimetres" else 100})',
                     source=src, field=field)
  poses = skeleton.convert(x.astype(np.float32), lay.name, LAYOUT)
  poses = skeleton.root_center(np.asarray(poses, np.float32), LAYOUT)
  return poses.astype(np.float32), {
      'source': f'own infant 3D: {src} (layout {lay.name} -> {LAYOUT})',
      'split': 'own', 'num_poses': int(len(poses)),
      'num_available': int(len(poses)), 'subset_seed': None,
      'median_bone_m': round(median, 4)}
