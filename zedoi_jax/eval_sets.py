"""Evaluation sets: 2D inputs, ground-truth 3D and protocol of each dataset.

Each loader returns an `EvalSet` (host-side numpy: the fit's inputs in the
model layout, the 3D to score in the evaluation layout, the image sizes and
a description for results.json); `--config.mode=fit`
(zedoi_jax/modes/fit.py) picks one by `config.data.name`:

  'syrip' (`load_syrip_set`): the ZeDO-i protocol. Split 'test' = SyRIP's
    200 train200 images (as the ZeDO-i release), 'train' = the other 500,
    cut into 'val' (a fixed 100, where knobs are chosen) and 'adapt' (400).
    2D input 'gt' (annotated COCO-17; confidence 1 where labelled, else 0)
    or 'fidip' (FiDIP detections; their heatmap scores, clipped to [0, 1],
    are the confidences, so doubtful joints count less). K = syrip_K(w, h)
    (f = 2000 px). 2D COCO-17 is converted to the model layout; predictions
    are mapped to SyRIP's 12 limb joints and scored against the
    hand-corrected 3D (LSP-14 -> 12) with root = mid-hip (2, 3). SyRIP's 3D
    is weak ground truth (hand-corrected model output).
  'cmu' (`load_cmu_set`): adult check. CMU mocap poses (prior_data,
    H36M-17) of the CMU subjects of a split ('val' / 'test': subjects held
    out of the v2 prior; 'train': the ones it trained on; 'all'), sampled by
    time (or every `subsample`-th frame), deduplicated, at most `max_poses`
    of them evenly spaced, each turned by a random yaw and placed 3-4 m in
    front of a 1000x1000 px camera (f = 1000 px), projected, and scored on
    all 17 joints (root = pelvis).
  'mini_rgbd' (`load_mini_rgbd_set`: prepare's npz, MINI-RGBD protocol) and
    'demo' (`load_demo_set`: the shipped demo set) are described at their
    loaders.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np

from zedoi_jax import camera
from zedoi_jax import occlusion as occlusion_lib
from zedoi_jax import scoring
from zedoi_jax import skeleton
from zedoi_jax import zedo
from zedoi_jax.errors import InputError

SYRIP_SPLIT_NOTE = ("ZeDO-i release protocol: 'test' = SyRIP's 200 train200 "
                    "images, 'train' = the other 500.")


# CMU sanity-check camera: 1000x1000 px, f = 1000 px.
CMU_IMAGE = 1000
CMU_FOCAL = 1000.0


@dataclasses.dataclass
class EvalSet:
  """Inputs and ground truth of one evaluation, host-side numpy.

  Attributes:
    inputs: from `zedo.prepare_inputs` (model layout).
    keypoints_src: [N, J_src, 2] input 2D in its own layout (pictures).
    src_layout: layout of `keypoints_src`.
    gt: [N, J_eval, 3] metres, the evaluation layout.
    eval_layout: layout scored.
    image_wh: [N, 2] pixels.
    info: dataset description for results.json.
  """
  inputs: dict[str, Any]
  keypoints_src: np.ndarray
  src_layout: str
  gt: np.ndarray
  eval_layout: str
  image_wh: np.ndarray
  info: dict[str, Any]


def _limit(n: int, max_poses: int) -> np.ndarray:
  """Evenly spaced indices of at most max_poses of n (all if 0)."""
  if max_poses <= 0 or max_poses >= n:
    return np.arange(n)
  return np.unique(np.linspace(0, n - 1, max_poses).round().astype(int))


def load_syrip_set(root: pathlib.Path, *, split: str, input_2d: str,
                   max_poses: int, model_layout: str,
                   occlusion: dict[str, Any] | None = None) -> EvalSet:
  """SyRIP under the ZeDO-i protocol (see the module docstring)."""
  from zedoi_jax.data import requirements  # pylint: disable=g-import-not-at-top
  from zedoi_jax.data import syrip  # pylint: disable=g-import-not-at-top
  if input_2d not in ('gt', 'fidip'):
    raise InputError(f"unknown SyRIP 2D input {input_2d!r}; use 'gt' or "
                     "'fidip'", source='config', field='data.input_2d')
  # One message naming every missing file and how to provide them.
  data = syrip.load_syrip(requirements.require('syrip', root))
  idx = syrip.split_indices(data, split)
  idx = idx[_limit(len(idx), max_poses)]
  if input_2d == 'gt':
    kp = data['gt2d_coco17'][idx]
    conf = (kp[..., 2] > 0).astype(np.float32)
  else:
    kp = data['pred2d_fidip_coco17'][idx]
    conf = np.clip(kp[..., 2], 0.0, 1.0)
  kp = kp[..., :2]
  if occlusion:
    kp, conf, _ = occlusion_lib.occlude(kp, conf, **occlusion)
  wh = data['image_wh'][idx].astype(np.float32)
  K = np.asarray(camera.syrip_K(wh[:, 0], wh[:, 1]), np.float32)
  inputs = zedo.prepare_inputs(kp, conf, K, layout='coco17',
                              model_layout=model_layout, source='SyRIP',
                              ids=idx)
  gt = skeleton.convert(data['gt3d_corrected_lsp14'][idx], 'lsp14',
                        'syrip12')
  return EvalSet(inputs=inputs, keypoints_src=kp,
                 src_layout='coco17', gt=gt, eval_layout='syrip12',
                 image_wh=wh, info={
                     'dataset': 'syrip', 'split': split,
                     'split_note': SYRIP_SPLIT_NOTE, 'input_2d': input_2d,
                     'camera': 'syrip_K: f = 2000 px, centre of image',
                     'evaluation_joints': 'syrip12 (12 limb joints), root = '
                                          'mid-hip (2, 3)',
                     'note': scoring.SYRIP_NOTE,
                     'confidence': ('annotated = 1, unlabelled = 0' if
                                    input_2d == 'gt' else
                                    'FiDIP scores clipped to [0, 1]'),
                     'occlusion': occlusion or None})


def load_cmu_set(root: pathlib.Path, *, mocap_files, subsample: int,
                 min_pose_distance: float, max_poses: int, seed: int,
                 model_layout: str, split: str = 'all',
                 sample_hz: float = 0.0) -> EvalSet:
  """CMU adult poses seen by a known camera (see the module docstring).

  `split` picks whole CMU subjects (`prior_data.CMU_SPLITS`): 'val' / 'test'
  are the subjects the v2 prior never saw, 'train' the ones it trained on.
  """
  from zedoi_jax.data import prior_data  # pylint: disable=g-import-not-at-top
  if model_layout != 'h36m17':
    raise ValueError(f"the CMU check needs an h36m17 model, got "
                     f"{model_layout!r}")
  poses = prior_data.load_prior_poses(
      mocap_files=mocap_files or None, data_root=root, subsample=subsample,
      sample_hz=sample_hz, min_pose_distance=min_pose_distance, split=split)
  poses = poses[_limit(len(poses), max_poses)]
  n = len(poses)
  rng = np.random.default_rng(seed)
  yaw = rng.uniform(-np.pi, np.pi, n)
  c, s = np.cos(yaw), np.sin(yaw)
  rot = np.zeros((n, 3, 3))
  rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1] = c, s, 1.0
  rot[:, 2, 0], rot[:, 2, 2] = -s, c  # about the camera's y (vertical) axis
  gt = np.einsum('nab,njb->nja', rot, poses).astype(np.float32)
  trans = np.stack([rng.uniform(-0.3, 0.3, n), rng.uniform(-0.2, 0.2, n),
                    rng.uniform(3.0, 4.0, n)], -1).astype(np.float32)
  K = np.asarray(camera.intrinsics(CMU_FOCAL, CMU_FOCAL, CMU_IMAGE / 2,
                                   CMU_IMAGE / 2), np.float32)
  kp = np.asarray(camera.project(gt + trans[:, None], K), np.float32)
  inputs = zedo.prepare_inputs(kp, None, K, layout='h36m17',
                              model_layout=model_layout, source='CMU')
  return EvalSet(inputs=inputs, keypoints_src=kp, src_layout='h36m17',
                 gt=gt, eval_layout='h36m17',
                 image_wh=np.full((n, 2), CMU_IMAGE, np.float32), info={
                     'dataset': 'cmu', 'split': split,
                     'input_2d': 'projected ground truth',
                     'camera': f'f = {CMU_FOCAL} px, {CMU_IMAGE}x{CMU_IMAGE}',
                     'placement': 'random yaw, 3-4 m in front',
                     'evaluation_joints': 'h36m17, root = pelvis',
                     'gt_translation': trans.tolist() if n <= 16 else None,
                     'note': ('adult check on CMU subjects of split '
                              f'{split!r} (prior_data.CMU_SPLITS: val/test '
                              'subjects are held out of the v2 prior)')})


def load_demo_set(*, max_poses: int, model_layout: str) -> EvalSet:
  """The demo shipped in the package (`zedoi_jax.data.demo`): no dataset."""
  from zedoi_jax.data import demo  # pylint: disable=g-import-not-at-top
  d = demo.load_demo()
  idx = _limit(len(d['poses_3d']), max_poses)
  n = len(idx)
  K = np.broadcast_to(d['K'], (n, 3, 3)).astype(np.float32)
  inputs = zedo.prepare_inputs(d['keypoints_2d'][idx], d['confidence'][idx],
                              K, layout=d['layout'],
                              model_layout=model_layout, source=d['path'],
                              ids=idx)
  # Scored like SyRIP: the 12 limb joints, root = mid-hip.
  gt = np.asarray(skeleton.convert(d['poses_3d'][idx], d['layout'],
                                   'syrip12'), np.float32)
  return EvalSet(inputs=inputs, keypoints_src=d['keypoints_2d'][idx],
                 src_layout=d['layout'], gt=gt, eval_layout='syrip12',
                 image_wh=np.broadcast_to(d['image_wh'], (n, 2)).copy(),
                 info={'dataset': 'demo', 'split': 'all',
                       'input_2d': 'projected known 3D + pixel noise',
                       'camera': 'known K (f = 1000 px)',
                       'evaluation_joints': 'syrip12 (12 limb joints), '
                                            'root = mid-hip (2, 3)',
                       'source': d['path'], 'provenance': d['provenance'],
                       'note': ('demo: infant-like poses sampled from the '
                                "shipped model itself; checks the pipeline, "
                                'not accuracy on real infants')})


def load_mini_rgbd_set(path: pathlib.Path, *, split: str, joint_map: str,
                       max_poses: int, model_layout: str) -> EvalSet:
  """MINI-RGBD from `prepare mini_rgbd`'s npz, under its protocol.

  Test split = sequences 11-12, the Kinect K, 2D and 3D through the chosen
  smil25 -> h36m17 map, scored on the 17 joints with root = pelvis.
  """
  from zedoi_jax.data import mini_rgbd  # pylint: disable=g-import-not-at-top
  d = mini_rgbd.load_converted(path, split=split, joint_map=joint_map)
  idx = _limit(len(d['joints_3d']), max_poses)
  n = len(idx)
  K = np.broadcast_to(d['K'], (n, 3, 3)).astype(np.float32)
  inputs = zedo.prepare_inputs(d['keypoints_2d'][idx], None, K,
                              layout='h36m17', model_layout=model_layout,
                              source=str(path), ids=idx)
  gt = d['joints_3d'][idx]
  gt = np.asarray(skeleton.root_center(gt, 'h36m17'), np.float32)
  return EvalSet(inputs=inputs, keypoints_src=d['keypoints_2d'][idx],
                 src_layout='h36m17', gt=gt, eval_layout='h36m17',
                 image_wh=np.full((n, 2), (640, 480), np.float32), info={
                     'dataset': 'mini_rgbd', 'split': split,
                     'split_note': "MINI-RGBD protocol: 'test' = sequences "
                                   "11-12, 'train' = 01-10",
                     'sequences': d['sequences'],
                     'input_2d': 'ground-truth 2D of the npz',
                     'joint_map': d['joint_map'],
                     'camera': 'Kinect K of the npz',
                     'evaluation_joints': 'h36m17, root = pelvis',
                     'source': str(path),
                     'note': ('MINI-RGBD is synthetic (SMIL bodies); say '
                              'which joint map a number used')})


def subset(es: EvalSet, rows: np.ndarray) -> EvalSet:
  """The rows `rows` of an evaluation set."""
  inputs = {k: (np.asarray(v)[rows] if np.ndim(v) else v)
            for k, v in es.inputs.items()}
  return dataclasses.replace(es, inputs=inputs,
                             keypoints_src=es.keypoints_src[rows],
                             gt=es.gt[rows], image_wh=es.image_wh[rows])
