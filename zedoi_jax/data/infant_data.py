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
