"""Fit mode: run the ZeDO fit on a dataset and score it.

`fit_and_evaluate(config, workdir)` is the entry of `config.mode = 'fit'`
(an edge function: it reads the ConfigDict and hands plain values on).

Datasets (`config.data.name`):
  'syrip': the ZeDO-i protocol. Split 'test' = SyRIP's 200 train200 images
    (as the ZeDO-i release), 'train' = the other 500, cut into 'val' (a
    fixed 100, where knobs are chosen) and 'adapt' (400). 2D input
    (`config.data.input_2d`): 'gt' (annotated COCO-17; confidence 1 where
    labelled, else 0) or 'fidip' (FiDIP detections; their heatmap scores,
    clipped to [0, 1], are the confidences, so doubtful joints count less).
    K = syrip_K(w, h) (f = 2000 px). 2D COCO-17 is converted to the model
    layout; predictions are mapped to SyRIP's 12 limb joints and scored
    against the hand-corrected 3D (LSP-14 -> 12) with root = mid-hip (2, 3).
    SyRIP's 3D is weak ground truth (hand-corrected model output).
  'cmu': adult check. CMU mocap poses (prior_data, H36M-17) of the CMU
    subjects of `config.data.split` ('val' / 'test': subjects held out of
    the v2 prior; 'train': the ones it trained on; 'all'), sampled by
    `config.data.sample_hz` (or every `subsample`-th frame), deduplicated,
    at most `config.data.max_poses` of them evenly spaced, each turned by a
    random yaw and placed 3-4 m in front of a 1000x1000 px camera
    (f = 1000 px), projected, fitted and scored on all 17 joints (root =
    pelvis).
  'mini_rgbd' (prepare's npz, MINI-RGBD protocol) and 'demo' (the shipped
    demo set) are described at their loaders.
Every results.json also carries the trivial baseline (the model's training
data mean pose, scored the same way) and the predicted / true bone-length
ratio.

Writes workdir/results.json, workdir/predictions.npz, a metrics.jsonl row
(fit/mpjpe_mm, fit/pa_mpjpe_mm) and, if `config.eval.pictures`, PNGs under
workdir/pictures.

Scaling (docs/SCALING.md): poses are fitted in chunks of
`config.parallel.chunk_size`, each written atomically under workdir/chunks,
so a killed run restarted in the same workdir skips the finished chunks and
ends with the same results.json (everything run-dependent - seconds, rates,
device counts - sits under its 'timing' key). `config.parallel.shard_index
/ num_shards` fit only rows shard_index::num_shards; predictions.npz then
carries the global row of each pose ('rows') and `zedoi_jax.merge` joins
the shards. With several JAX processes all of them fit each batch together
(global 'data' mesh) and process 0 writes every file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from zedoi_jax import camera
from zedoi_jax import chunks
from zedoi_jax import data as data_lib
from zedoi_jax import fit
from zedoi_jax import metrics
from zedoi_jax import occlusion as occlusion_lib
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import skeleton
from zedoi_jax import validity
from zedoi_jax.errors import InputError

SYRIP_NOTE = ('SyRIP 3D ground truth is weak: hand-corrected output of a '
              'model (HW-HuP), not measured.')
SYRIP_SPLIT_NOTE = ("ZeDO-i release protocol: 'test' = SyRIP's 200 train200 "
                    "images, 'train' = the other 500.")
# CMU sanity-check camera: 1000x1000 px, f = 1000 px.
CMU_IMAGE = 1000
CMU_FOCAL = 1000.0
# results.json key holding everything that differs between two runs of the
# same job (seconds, rates, device counts, resumed chunks).
TIMING_KEY = 'timing'
# results.json keys `score_results` computes from the predictions.
METRIC_KEYS = ('num_poses', 'num_hypotheses', 'headline', 'mpjpe_mm',
               'pa_mpjpe_mm', 'per_joint_mpjpe_mm', 'joint_names',
               'best_of_s_mpjpe_mm', 'best_of_s_pa_mpjpe_mm', 'variants',
               'reproj_error_px', 'per_joint_spread_mm', 'uncertainty',
               'num_scored', 'num_flagged', 'status_counts', 'flagged',
               'bone_length_ratio', 'baseline')


@dataclasses.dataclass
class EvalSet:
  """Inputs and ground truth of one evaluation, host-side numpy.

  Attributes:
    inputs: from `fit.prepare_inputs` (model layout).
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


_jsonable = validity.jsonable


def write_json(path: pathlib.Path, obj: Any) -> None:
  """Writes `obj` as indented JSON (numpy values converted, non-finite
  numbers as null)."""
  tmp = path.with_name(f'{path.name}.{os.getpid()}.tmp')
  tmp.write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=False) +
                 '\n')
  tmp.replace(path)


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
  inputs = fit.prepare_inputs(kp, conf, K, layout='coco17',
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
                     'note': SYRIP_NOTE,
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
  inputs = fit.prepare_inputs(kp, None, K, layout='h36m17',
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
  inputs = fit.prepare_inputs(d['keypoints_2d'][idx], d['confidence'][idx],
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
  inputs = fit.prepare_inputs(d['keypoints_2d'][idx], None, K,
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


def score(pred_all: np.ndarray, aggregates: dict[str, np.ndarray],
          gt: np.ndarray, root_joints) -> dict[str, Any]:
  """Metrics of S hypotheses: best-of-S (oracle) and aggregates.

  Args:
    pred_all: [N, S, J, 3] predictions in the evaluation layout.
    aggregates: name -> [N, J, 3] non-oracle single predictions.
    gt: [N, J, 3].
    root_joints: evaluation root.

  Returns:
    {name: summarize(...)} for every aggregate, plus 'best_of_s' (per pose
    the hypothesis with the lowest MPJPE / PA-MPJPE: an oracle).
  """
  out = {name: metrics.summarize(p, gt, root_joints=root_joints)
         for name, p in aggregates.items()}
  g = np.broadcast_to(gt[:, None], pred_all.shape)
  per_hyp = np.asarray(metrics.mpjpe(pred_all, g, root_joints=root_joints))
  per_hyp_pa = np.asarray(metrics.pa_mpjpe(pred_all, g))
  out['best_of_s'] = {
      'mpjpe_mm': float(per_hyp.min(1).mean() * 1000),
      'pa_mpjpe_mm': float(per_hyp_pa.min(1).mean() * 1000),
      'mean_over_hypotheses_mpjpe_mm': float(per_hyp.mean() * 1000),
      'oracle': True}
  return out


def bone_length_ratio(pred: np.ndarray, gt: np.ndarray, lay) -> float:
  """Mean over poses and bones of predicted / true bone length (1 = the
  right body size; < 1 = bodies fitted too small)."""
  g = np.asarray(skeleton.bone_lengths(gt, lay))
  ok = g > 1e-6
  return float(np.mean(np.asarray(skeleton.bone_lengths(pred, lay))[ok]
                       / g[ok]))


def baseline_pose(meta: dict, model_layout: str,
                  eval_layout: str) -> list | None:
  """The trivial baseline's constant pose in the evaluation layout: the
  model's training data mean (`normalization.mean_pose_m`, recorded at
  export: the prior's training poses, or an adaptation's infant poses,
  unaugmented, root-relative metres), or None if the model records none."""
  mean = (meta.get('normalization') or {}).get('mean_pose_m')
  if mean is None:
    return None
  mean = np.asarray(mean, np.float32)
  return np.round(np.asarray(skeleton.convert(mean, model_layout,
                                              eval_layout), np.float64),
                  5).tolist()


def mean_pose_baseline(pose: list | None, gt: np.ndarray,
                       root_joints) -> dict[str, Any]:
  """The trivial baseline: one constant pose scored against every pose.

  PA-MPJPE (scale, rotation and translation aligned per pose) is what a
  constant answer earns; the MPJPE is for orientation-free comparisons only
  (the constant faces one way).
  """
  if pose is None:
    return {'available': False,
            'why': 'the model records no training mean pose (re-export it)'}
  if not len(gt):
    return {'available': False, 'why': 'no scored poses'}
  const = np.broadcast_to(np.asarray(pose, np.float32), gt.shape)
  pa = float(np.mean(np.asarray(metrics.pa_mpjpe(const, gt))) * 1000)
  mp = float(np.mean(np.asarray(metrics.mpjpe(const, gt,
                                              root_joints=root_joints)))
             * 1000)
  return {'available': True, 'pose': 'training data mean pose (constant)',
          'pa_mpjpe_mm': pa, 'mpjpe_mm': mp}


def print_table(results: dict[str, Any]) -> None:
  """Prints the headline metrics of a results dict."""
  rows = [('variant', 'MPJPE mm', 'PA-MPJPE mm')]
  for name in ('min_reproj', 'mean', 'best_of_s'):
    m = results['variants'][name]
    rows.append((name + (' (oracle)' if name == 'best_of_s' else ''),
                 f'{m["mpjpe_mm"]:.1f}', f'{m["pa_mpjpe_mm"]:.1f}'))
  flagged = results.get('num_flagged') or 0
  print(f'{results["dataset"]} split={results["split"]} '
        f'input_2d={results["input_2d"]} poses={results["num_poses"]} '
        + (f'(scored {results["num_scored"]}, {flagged} flagged) '
           if flagged else '') +
        f'S={results["num_hypotheses"]}' + (
            f' ({rate:.2f} poses/s)' if (rate := results.get(
                TIMING_KEY, {}).get('poses_per_s')) else ''))
  if results.get('bone_length_ratio') is not None:
    print(f'  predicted / true bone length: {results["bone_length_ratio"]:.3f}')
  base = results.get('baseline') or {}
  if base.get('available'):
    rows.append(('mean-pose baseline', f'{base["mpjpe_mm"]:.1f}',
                 f'{base["pa_mpjpe_mm"]:.1f}'))
  for r in rows:
    print(f'  {r[0]:<22}{r[1]:>10}{r[2]:>13}')
  if flagged:
    print(f'  {flagged} flagged pose(s) (NaN rows, left out of every metric):'
          f' {results["status_counts"]}')
  if results['dataset'] == 'syrip':
    print('  ' + SYRIP_NOTE)


def _occlusion_settings(config) -> dict[str, Any] | None:
  """config.data's occlusion fields, or None when they change nothing."""
  d = config.data
  if not d.drop_joints and not d.min_score and d.use_confidence:
    return None
  return {'drop_k': int(d.drop_joints), 'min_score': float(d.min_score),
          'use_confidence': bool(d.use_confidence), 'seed': int(config.seed)}


def model_identity(model, config) -> dict[str, Any]:
  """What identifies the model of a run: paths and parameter fingerprints."""
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  return {'prior': str(load.resolve(config.init.prior, load.SHIPPED_PRIOR)),
          'adapted': str(config.init.adapted or ''),
          'kind': model.meta.get('kind'),
          'fingerprint': model.meta.get('fingerprint'),
          'model_fingerprint': model.meta.get('model_fingerprint'),
          'prior_fingerprint': model.meta.get('prior_fingerprint')}


# Recently built fit functions, so that repeated runs in one process (sweeps,
# notebooks, a restarted job in a test) reuse the compiled code.
_FIT_FNS: dict[str, Any] = {}
_MAX_FIT_FNS = 4


def make_mesh_fit_fn(model, cfg: fit.FitConfig):
  """The batch fit over every global device (a ('data',) mesh) when > 1.

  Memoised on the model's model.json (architecture, SDE, parameter
  fingerprints), the fit settings and the devices: the parameters are an
  argument of the compiled function, so an equal model reuses it.
  """
  mesh = parallel.data_mesh() if jax.device_count() > 1 else None
  key = json.dumps({'meta': model.meta, 'scale': model.scale,
                    'cfg': dataclasses.asdict(cfg),
                    'devices': [d.id for d in jax.devices()]},
                   sort_keys=True, default=str)
  if key not in _FIT_FNS:
    if len(_FIT_FNS) >= _MAX_FIT_FNS:
      _FIT_FNS.pop(next(iter(_FIT_FNS)))
    _FIT_FNS[key] = fit.make_fit_fn(score_fn=model.score_fn, sde=model.sde,
                                    scale=model.scale, cfg=cfg, mesh=mesh)
  return _FIT_FNS[key]


def fit_in_chunks(fit_batch, inputs: dict[str, Any], *, rows: np.ndarray,
                  store_dir: str | os.PathLike, identity: dict[str, Any],
                  chunk_size: int, batch_size: int, rng: jax.Array,
                  params: Any, root_joints, prog=None,
                  stop_after_chunks: int | None = None
                  ) -> dict[str, Any] | None:
  """Fits poses in resumable chunks (`chunks.ChunkStore` at `store_dir`).

  Each finished chunk is written atomically (by process 0), so a killed run
  loses at most the chunk in flight and a restart with the same identity
  skips the finished ones. Every chunk runs at one fixed batch size
  (`pad_to_batch`), so per-pose results do not depend on how the rows are
  chunked or sharded. In a multi-process job every process calls this.

  Args:
    fit_batch: from `fit.make_fit_fn`.
    inputs: {'keypoints' [N, J, 2], 'confidence' [N, J], 'K' [N, 3, 3],
      'id' [N]} (model layout) for this job's N rows.
    rows: [N] global row index of each (written with the results).
    store_dir: chunk folder.
    identity: JSON description of the job (input, model, settings, shard).
    chunk_size: poses per chunk.
    batch_size: poses per compiled batch.
    rng: root fit key (sample keys are fold_in(rng, id)).
    params: score model parameters.
    root_joints: the model layout's root joints (hypothesis selection).
    prog: optional `progress.Progress` over the N poses.
    stop_after_chunks: raise `chunks.Interrupted` after computing this many
      chunks (simulates a kill; tests).

  Returns:
    On process 0: 'pose' [N, S, J, 3], 'translation' [N, S, 3], 'rotation'
    [N, S, 3, 3], 'reproj_error' [N, S], 'id' [N], 'row' [N], the
    `fit.select_hypotheses` entries and 'timing' (seconds, chunk counts).
    None on the other processes.
  """
  n = len(rows)
  store = chunks.ChunkStore(store_dir, num_rows=n, chunk_size=chunk_size,
                            identity=identity,
                            writer=parallel.is_main_process())
  fields = {k: np.asarray(inputs[k]) for k in ('keypoints', 'confidence',
                                                'K', 'id')}
  rows = np.asarray(rows, np.int64)
  timing = {'compute_s': 0.0, 'first_chunk_s': None, 'chunks_computed': 0,
            'poses_computed': 0, 'chunks_total': store.num_chunks}

  def compute(sl: slice) -> dict[str, np.ndarray]:
    t0 = time.perf_counter()
    out = fit.fit_dataset(fit_batch, {k: v[sl] for k, v in fields.items()},
                          batch_size=batch_size, rng=rng, params=params,
                          pad_to_batch=True,
                          # Per batch, so a big chunk shows progress too.
                          progress=(progress.Offset(prog, sl.start)
                                    if prog is not None else None))
    seconds = time.perf_counter() - t0
    timing['compute_s'] += seconds
    if timing['first_chunk_s'] is None:
      timing['first_chunk_s'] = seconds  # includes compilation
    timing['chunks_computed'] += 1
    timing['poses_computed'] += sl.stop - sl.start
    arrays = {k: out[k] for k in ('pose', 'translation', 'rotation',
                                  'reproj_error', 'id')}
    arrays['row'] = rows[sl]
    return arrays

  def on_chunk(chunk, sl):
    del chunk
    if prog is not None:
      prog.update(sl.stop)

  out = chunks.run_chunks(store, compute, stop_after=stop_after_chunks,
                          on_chunk=on_chunk)
  if out is None:
    return None
  out.update(fit.select_hypotheses(out['pose'], out['translation'],
                                   out['reproj_error'], root_joints))
  timing['chunks_resumed'] = store.num_chunks - timing['chunks_computed']
  out['timing'] = timing
  return out


def subset(es: EvalSet, rows: np.ndarray) -> EvalSet:
  """The rows `rows` of an evaluation set."""
  inputs = {k: (np.asarray(v)[rows] if np.ndim(v) else v)
            for k, v in es.inputs.items()}
  return dataclasses.replace(es, inputs=inputs,
                             keypoints_src=es.keypoints_src[rows],
                             gt=es.gt[rows], image_wh=es.image_wh[rows])


def score_results(base: dict[str, Any], pred_poses: np.ndarray,
                  pred_min_reproj: np.ndarray, pred_mean: np.ndarray,
                  gt: np.ndarray, reproj_error: np.ndarray,
                  status: np.ndarray | None = None,
                  reasons: np.ndarray | None = None,
                  rows: np.ndarray | None = None) -> dict[str, Any]:
  """results.json content: `base` (run description) plus the metrics.

  Shared by fit mode and `zedoi_jax.merge`, so merged shards score exactly
  like one run.

  Args:
    base: dataset info, model, fit config, ...; must hold
      'evaluation_layout'.
    pred_poses: [N, S, J, 3] metres, evaluation layout, every hypothesis.
    pred_min_reproj: [N, J, 3] the lowest-reprojection-error hypothesis.
    pred_mean: [N, J, 3] the joint-wise hypothesis mean.
    gt: [N, J, 3] metres.
    reproj_error: [N, S] pixels.
    status: [N] `validity` status per row (None = all 'ok'); flagged rows
      are left out of every metric and counted ('num_flagged').
    reasons, rows: [N] each row's reason and global row, for the 'flagged'
      list ({'row', 'status', 'reason'} per flagged row).

  Returns:
    The results dict (metrics in millimetres; null when no row is scored).
  """
  lay = skeleton.get_layout(base['evaluation_layout'])
  n_all = int(len(gt))
  if status is None:
    status = np.full(n_all, validity.OK)
  status = np.asarray(status).astype(str)
  keep = status == validity.OK
  if keep.any():
    variants = score(pred_poses[keep], {'min_reproj': pred_min_reproj[keep],
                                        'mean': pred_mean[keep]}, gt[keep],
                     lay.root_joints)
  else:  # Nothing to score: every metric is null, not a number.
    nan = float('nan')
    empty = {'num_poses': 0, 'mpjpe_mm': nan, 'pa_mpjpe_mm': nan,
             'pck150': nan, 'auc': nan,
             'per_joint_mpjpe_mm': [nan] * lay.num_joints}
    variants = {'min_reproj': dict(empty), 'mean': dict(empty),
                'best_of_s': {'mpjpe_mm': nan, 'pa_mpjpe_mm': nan,
                              'mean_over_hypotheses_mpjpe_mm': nan,
                              'oracle': True}}
  head = variants['mean']
  results = dict(base)
  results.update({
      'num_poses': n_all,
      'num_scored': int(keep.sum()),
      'num_flagged': int((~keep).sum()),
      'status_counts': validity.counts(status),
      'flagged': [{'row': int(rows[i]) if rows is not None else int(i),
                   'status': str(status[i]),
                   'reason': str(reasons[i]) if reasons is not None else ''}
                  for i in np.flatnonzero(~keep)],
      'num_hypotheses': int(pred_poses.shape[1]),
      'headline': ('mean: per pose the joint-wise mean of the root-centred '
                   'hypotheses (no ground truth used; with S = 1 the only '
                   'hypothesis)'),
      'mpjpe_mm': head['mpjpe_mm'], 'pa_mpjpe_mm': head['pa_mpjpe_mm'],
      'per_joint_mpjpe_mm': head['per_joint_mpjpe_mm'],
      'joint_names': list(lay.joint_names),
      'best_of_s_mpjpe_mm': variants['best_of_s']['mpjpe_mm'],
      'best_of_s_pa_mpjpe_mm': variants['best_of_s']['pa_mpjpe_mm'],
      'variants': variants,
      'reproj_error_px': (float(np.nanmean(reproj_error[keep]))
                          if keep.any() and np.isfinite(
                              reproj_error[keep]).any() else float('nan')),
      # Mean over the scored poses of `metrics.hypothesis_spread`.
      'per_joint_spread_mm': ([float(v) * 1000.0 for v in np.asarray(
          metrics.hypothesis_spread(pred_poses[keep],
                                    root_joints=lay.root_joints)).mean(0)]
                              if keep.any() else [float('nan')] *
                              lay.num_joints),
      'uncertainty': ('per_joint_spread_mm: mean over poses of the RMS '
                      'distance of the root-centred hypotheses from their '
                      'joint-wise mean (mm); per pose in predictions.npz '
                      'joint_spread_mm. 0 with S = 1.'),
  })
  scored_gt = gt[keep]
  results['bone_length_ratio'] = (bone_length_ratio(pred_mean[keep],
                                                    scored_gt, lay)
                                  if keep.any() else float('nan'))
  results['baseline'] = mean_pose_baseline(
      base.get('baseline_pose'), scored_gt, root_joints=lay.root_joints)
  return results


def fit_and_evaluate(config: ml_collections.ConfigDict,
                     workdir: str | os.PathLike, *,
                     stop_after_chunks: int | None = None
                     ) -> dict[str, Any]:
  """Fits `config.data.name` with the configured model and scores it.

  Rows are fitted in resumable chunks of `config.parallel.chunk_size`
  (workdir/chunks; a restarted run skips the finished ones). With
  `config.parallel.num_shards` > 1 only rows shard_index::num_shards are
  fitted (merge the shards with `python -m zedoi_jax.merge`). With several
  processes all of them fit together and process 0 writes the files.

  Args:
    config: the run config (mode 'fit').
    workdir: output folder.
    stop_after_chunks: stop (raising `chunks.Interrupted`) after computing
      this many chunks: simulates a killed run (tests).

  Returns:
    The results dict written to workdir/results.json (on process 0; other
    processes get {'process_index': i}). Run-dependent values (seconds,
    rates, devices) sit under the 'timing' key only, so two runs of the
    same job give equal results apart from it.
  """
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)
  main = parallel.is_main_process()
  if main:
    workdir.mkdir(parents=True, exist_ok=True)
  model = load.load_pose_model(config.init.prior, config.init.adapted)
  model_layout = model.meta.get('layout', 'h36m17')
  cfg = fit.FitConfig.from_dict(dict(config.fit.to_dict(),
                                     layout=model_layout))
  root = data_lib.data_root(config.data.root)
  name = config.data.name
  if name == 'syrip':
    es = load_syrip_set(root, split=config.data.split,
                        input_2d=config.data.input_2d,
                        max_poses=config.data.max_poses,
                        model_layout=model_layout,
                        occlusion=_occlusion_settings(config))
  elif name == 'cmu':
    es = load_cmu_set(root, mocap_files=config.data.mocap_files,
                      subsample=config.data.subsample,
                      min_pose_distance=config.data.min_pose_distance,
                      max_poses=config.data.max_poses, seed=config.seed,
                      model_layout=model_layout, split=config.data.split,
                      sample_hz=config.data.sample_hz)
  elif name == 'mini_rgbd':
    es = load_mini_rgbd_set(
        pathlib.Path(config.data.mini_rgbd_npz or root / 'mini_rgbd.npz'),
        split=config.data.split, joint_map=config.data.joint_map,
        max_poses=config.data.max_poses, model_layout=model_layout)
  elif name == 'demo':
    es = load_demo_set(max_poses=config.data.max_poses,
                       model_layout=model_layout)
    # The demo is small and always recomputed: a rerun after an update (new
    # models, another clone) must not trip over the chunks of an old run.
    if main and (workdir / 'chunks').is_dir():
      shutil.rmtree(workdir / 'chunks')
  else:
    raise InputError(f"fit mode supports data.name 'syrip', 'cmu', "
                     f"'mini_rgbd' or 'demo', got {name!r}", source='config',
                     field='data.name')
  pc = config.parallel
  num_rows_total = len(es.gt)
  rows = parallel.shard_rows(num_rows_total, int(pc.shard_index),
                             int(pc.num_shards))
  if not len(rows):
    raise InputError(f'shard {pc.shard_index} of {pc.num_shards} gets no '
                     f'rows ({num_rows_total} poses); use fewer shards',
                     source='config', field='parallel.num_shards')
  es = subset(es, rows)
  n = len(rows)
  logging.info('fitting %d %s poses (rows %d::%d of %d), S=%d, ipo %d + '
               'oil %d steps', n, name, pc.shard_index, pc.num_shards,
               num_rows_total, cfg.num_hypotheses, cfg.ipo_steps,
               cfg.oil_steps)
  fit_rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  fit_cfg = dataclasses.replace(cfg, trajectory_frames=0)
  fit_batch = make_mesh_fit_fn(model, fit_cfg)
  model_info = model_identity(model, config)
  data_info = {k: v for k, v in config.data.to_dict().items() if k != 'root'}
  identity = {'mode': 'fit', 'data': data_info, 'model': model_info,
              'fit': dataclasses.asdict(fit_cfg), 'seed': int(config.seed),
              'shard': [int(pc.shard_index), int(pc.num_shards)],
              'num_rows_total': num_rows_total}
  prog = progress.Progress(n, name='fit', unit='pose',
                           enabled=None if config.progress else False)
  logging.info('compiling the fit...')
  t0 = time.perf_counter()
  out = fit_in_chunks(
      fit_batch, es.inputs, rows=rows, store_dir=workdir / 'chunks',
      identity=identity, chunk_size=int(pc.chunk_size),
      batch_size=min(cfg.batch_size, int(pc.chunk_size), num_rows_total),
      rng=fit_rng, params=model.params,
      root_joints=skeleton.get_layout(model_layout).root_joints, prog=prog,
      stop_after_chunks=stop_after_chunks)
  seconds = time.perf_counter() - t0
  if not main:
    return {'process_index': jax.process_index()}

  # Rows the 2D cannot determine (or whose fit diverged) are NaN, flagged,
  # and left out of the metrics.
  status, reasons = validity.input_status(
      es.inputs['keypoints'], es.inputs['confidence'],
      min_confident_joints=cfg.min_confident_joints)
  status, reasons = validity.output_status(
      status, reasons, out['pose_mean'], out['translation_mean'])
  for k in ('pose', 'pose_min_reproj', 'pose_mean', 'translation',
            'reproj_error'):
    out[k] = validity.mask_rows(out[k], status)
  out['status'] = status
  to_eval = lambda p: np.asarray(skeleton.convert(p, model_layout,
                                                  es.eval_layout))
  lay = skeleton.get_layout(es.eval_layout)
  pred_all = to_eval(out['pose'])
  aggregates = {'min_reproj': to_eval(out['pose_min_reproj']),
                'mean': to_eval(out['pose_mean'])}
  base = dict(es.info)
  base.update({
      'evaluation_layout': es.eval_layout,
      'num_rows_total': num_rows_total,
      'model': dict(model_info, layout=model_layout),
      'fit_config': dataclasses.asdict(cfg),
      'seed': int(config.seed),
      # The trivial baseline's constant pose (see `baseline_pose`).
      'baseline_pose': baseline_pose(model.meta, model_layout,
                                     es.eval_layout),
  })
  if int(pc.num_shards) > 1:
    base['shard'] = {'index': int(pc.shard_index),
                     'count': int(pc.num_shards)}
  results = score_results(base, pred_all, aggregates['min_reproj'],
                          aggregates['mean'], es.gt, out['reproj_error'],
                          status=status, reasons=np.array(reasons),
                          rows=out['row'])
  timing = out['timing']
  results[TIMING_KEY] = dict(
      timing, fit_seconds=seconds,
      # Over the poses this run computed (resumed chunks cost nothing).
      poses_per_s=(timing['poses_computed'] / timing['compute_s']
                   if timing['poses_computed'] else None),
      devices=jax.device_count(), processes=jax.process_count())
  write_json(workdir / 'results.json', results)
  np.savez_compressed(
      workdir / 'predictions.npz', pred_poses=pred_all,
      joint_spread_mm=(np.asarray(metrics.hypothesis_spread(
          pred_all, root_joints=lay.root_joints)) * 1000.0).astype(
              np.float32),
      pred_min_reproj=aggregates['min_reproj'], pred_mean=aggregates['mean'],
      pred_model_layout=out['pose'], gt=es.gt,
      translation=out['translation'], rotation=out['rotation'],
      reproj_error=out['reproj_error'], ids=out['id'], rows=out['row'],
      best_hypothesis=out['best_hypothesis'],
      status=status, reason=np.array(reasons, dtype=str),
      num_rows_total=np.int64(num_rows_total),
      joint_names=np.array(lay.joint_names),
      model_joint_names=np.array(skeleton.get_layout(model_layout)
                                 .joint_names))
  head = results['variants']['min_reproj']
  writer = progress.MetricWriter(workdir, tensorboard=False, enabled=main)
  writer.write(0, **{'fit/mpjpe_mm': head['mpjpe_mm'],
                     'fit/pa_mpjpe_mm': head['pa_mpjpe_mm'],
                     'fit/best_of_s_mpjpe_mm':
                         results['variants']['best_of_s']['mpjpe_mm'],
                     'fit/poses_per_s': results[TIMING_KEY]['poses_per_s'],
                     'fit/num_flagged': results['num_flagged']})
  writer.close()
  if config.eval.pictures:
    _pictures(workdir / 'pictures', es, out, pred_all, aggregates, model,
              cfg, fit_rng, head, lay, model_layout,
              int(config.eval.num_pictures),
              int(config.eval.num_trajectories))
  print_table(results)
  if name == 'demo':
    from zedoi_jax import demo as demo_lib  # pylint: disable=g-import-not-at-top
    results = demo_lib.report(workdir, results, es.gt, aggregates['mean'],
                              out['translation_mean'], model_layout,
                              out['pose_mean'])
  return results


def _pictures(folder, es, out, pred_all, aggregates, model, cfg, fit_rng,
              head, lay, model_layout, num, num_trajectories=3):
  """GT vs prediction grid, per-joint errors, reprojection, trajectories."""
  from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
  num = max(1, min(num, len(es.gt)))
  # The first confident poses: flagged rows have nothing to draw.
  pick = np.flatnonzero(out['status'] == validity.OK)[:num]
  if not len(pick):
    return
  viz.skeleton_grid([es.gt[pick], aggregates['mean'][pick]],
                    es.eval_layout, folder / 'gt_vs_pred.png',
                    titles=['ground truth', 'prediction'])
  viz.per_joint_error_bars(head['per_joint_mpjpe_mm'], lay.joint_names,
                           folder / 'per_joint_mpjpe.png')
  best = out['best_hypothesis'][pick]
  pose_abs = (out['pose'][pick, best] + out['translation'][pick, best][:,
                                                                       None])
  proj = np.asarray(camera.project(pose_abs, es.inputs['K'][pick]))
  viz.reprojection_overlay(es.inputs['keypoints'][pick], proj, model_layout,
                           folder / 'reprojection.png',
                           image_wh=(es.image_wh[0] if
                                     (es.image_wh[pick] == es.image_wh[0]
                                      ).all() else None),
                           confidence=es.inputs['confidence'][pick])
  # Trajectories: refit a few poses, keeping thinned OIL frames.
  few = pick[:min(num_trajectories, num)]
  if not len(few):
    return
  frames = min(cfg.trajectory_frames or 12, cfg.oil_steps)
  traj_fit = fit.make_fit_fn(
      score_fn=model.score_fn, sde=model.sde, scale=model.scale,
      cfg=dataclasses.replace(cfg, trajectory_frames=frames,
                              num_hypotheses=1))
  sub = {k: np.asarray(v)[few] for k, v in es.inputs.items()
         if k in ('keypoints', 'confidence', 'K', 'id')}
  traj_out = fit.fit_dataset(traj_fit, sub, batch_size=len(few),
                             rng=fit_rng, params=model.params)
  for i, row in enumerate(few):
    traj = np.asarray(skeleton.convert(traj_out['trajectory'][i, 0],
                                       model_layout, es.eval_layout))
    viz.trajectory_figure(traj, es.gt[row], folder / f'trajectory_{i}.png',
                          layout=es.eval_layout, gif=(i == 0))
