"""`--config.mode=fit`: run the ZeDO fit on a dataset and score it.

`fit(config, workdir)` loads the configured model (`config.init`) and the
evaluation set `config.data.name` ('syrip', 'cmu', 'mini_rgbd', 'demo':
`zedoi_jax.eval_sets`, where each protocol is described), fits every pose
(`zedoi_jax.fit_jobs`: sharded over the devices, in resumable chunks) and
scores it (`zedoi_jax.scoring`). Every results.json also carries the
trivial baseline (the model's training data mean pose, scored the same way)
and the predicted / true bone-length ratio.

Writes workdir/results.json, workdir/predictions.npz, a metrics.jsonl row
(fit/mpjpe_mm, fit/pa_mpjpe_mm) and, if `config.eval.pictures`, PNGs under
workdir/pictures; the demo set (`configs/demo.py`) adds poses_3d.json and
prints the next steps (`zedoi_jax.demo`).

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
from zedoi_jax import data as data_lib
from zedoi_jax import eval_sets
from zedoi_jax import fit_jobs
from zedoi_jax import jsonio
from zedoi_jax import metrics
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import scoring
from zedoi_jax import skeleton
from zedoi_jax import validity
from zedoi_jax import zedo
from zedoi_jax.errors import InputError
from zedoi_jax.modes import common

DATASETS = ('syrip', 'cmu', 'mini_rgbd', 'demo')


def fit(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
        stop_after_chunks: int | None = None) -> dict[str, Any]:
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
  workdir = pathlib.Path(workdir)
  main = parallel.is_main_process()
  if main:
    workdir.mkdir(parents=True, exist_ok=True)
  model, model_layout = common.load_model(config)
  cfg = common.fit_config(config, model_layout)
  name = config.data.name
  es = load_eval_set(config, model_layout)
  if name == 'demo' and main and (workdir / 'chunks').is_dir():
    # The demo is small and always recomputed: a rerun after an update (new
    # models, another clone) must not trip over the chunks of an old run.
    shutil.rmtree(workdir / 'chunks')
  pc = config.parallel
  num_rows_total = len(es.gt)
  rows = common.shard_rows(config, num_rows_total)
  es = eval_sets.subset(es, rows)
  logging.info('fitting %d %s poses (rows %d::%d of %d), S=%d, ipo %d + '
               'oil %d steps', len(rows), name, pc.shard_index,
               pc.num_shards, num_rows_total, cfg.num_hypotheses,
               cfg.ipo_steps, cfg.oil_steps)
  fit_rng = jax.random.fold_in(jax.random.key(config.seed), 1)
  fit_cfg = dataclasses.replace(cfg, trajectory_frames=0)
  model_info = common.model_identity(model, config)
  data_info = {k: v for k, v in config.data.to_dict().items() if k != 'root'}
  identity = {'mode': 'fit', 'data': data_info, 'model': model_info,
              'fit': dataclasses.asdict(fit_cfg), 'seed': int(config.seed),
              'shard': [int(pc.shard_index), int(pc.num_shards)],
              'num_rows_total': num_rows_total}
  logging.info('compiling the fit...')
  t0 = time.perf_counter()
  out = fit_jobs.fit_in_chunks(
      fit_jobs.make_mesh_fit_fn(model, fit_cfg), es.inputs, rows=rows,
      store_dir=workdir / 'chunks', identity=identity,
      chunk_size=int(pc.chunk_size),
      batch_size=min(cfg.batch_size, int(pc.chunk_size), num_rows_total),
      rng=fit_rng, params=model.params,
      root_joints=skeleton.get_layout(model_layout).root_joints,
      prog=progress.Progress(len(rows), name='fit', unit='pose',
                             enabled=common.show_progress(config)),
      stop_after_chunks=stop_after_chunks)
  seconds = time.perf_counter() - t0
  if not main:
    return {'process_index': jax.process_index()}

  status, reasons = flag_rows(es, out, cfg)
  to_eval = lambda p: np.asarray(skeleton.convert(p, model_layout,
                                                  es.eval_layout))
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
      # The trivial baseline's constant pose (see `scoring.baseline_pose`).
      'baseline_pose': scoring.baseline_pose(model.meta, model_layout,
                                             es.eval_layout),
  })
  if int(pc.num_shards) > 1:
    base['shard'] = {'index': int(pc.shard_index),
                     'count': int(pc.num_shards)}
  results = scoring.score_results(
      base, pred_all, aggregates['min_reproj'], aggregates['mean'], es.gt,
      out['reproj_error'], status=status, reasons=np.array(reasons),
      rows=out['row'])
  timing = out['timing']
  results[scoring.TIMING_KEY] = dict(
      timing, fit_seconds=seconds,
      # Over the poses this run computed (resumed chunks cost nothing).
      poses_per_s=(timing['poses_computed'] / timing['compute_s']
                   if timing['poses_computed'] else None),
      devices=jax.device_count(), processes=jax.process_count())
  jsonio.write_json(workdir / 'results.json', results)
  write_predictions(workdir / 'predictions.npz', es, out, pred_all,
                    aggregates, status, reasons, num_rows_total,
                    model_layout)
  head = results['variants']['min_reproj']
  writer = progress.MetricWriter(workdir, tensorboard=False, enabled=main)
  writer.write(0, **{'fit/mpjpe_mm': head['mpjpe_mm'],
                     'fit/pa_mpjpe_mm': head['pa_mpjpe_mm'],
                     'fit/best_of_s_mpjpe_mm':
                         results['variants']['best_of_s']['mpjpe_mm'],
                     'fit/poses_per_s':
                         results[scoring.TIMING_KEY]['poses_per_s'],
                     'fit/num_flagged': results['num_flagged']})
  writer.close()
  if config.eval.pictures:
    _pictures(workdir / 'pictures', es, out, pred_all, aggregates, model,
              cfg, fit_rng, head, skeleton.get_layout(es.eval_layout),
              model_layout, int(config.eval.num_pictures),
              int(config.eval.num_trajectories))
  scoring.print_table(results)
  if name == 'demo':
    from zedoi_jax import demo  # pylint: disable=g-import-not-at-top
    demo.report(workdir, results, model_layout, out['pose_mean'],
                out['translation_mean'])
  return results


def load_eval_set(config: ml_collections.ConfigDict, model_layout: str
                  ) -> eval_sets.EvalSet:
  """The evaluation set `config.data.name` (`zedoi_jax.eval_sets`)."""
  d = config.data
  name = d.name
  if name == 'demo':  # shipped in the package: no data root needed
    return eval_sets.load_demo_set(max_poses=d.max_poses,
                                   model_layout=model_layout)
  if name not in DATASETS:
    raise InputError(f"fit mode supports data.name 'syrip', 'cmu', "
                     f"'mini_rgbd' or 'demo', got {name!r}", source='config',
                     field='data.name')
  root = data_lib.data_root(d.root)
  if name == 'syrip':
    return eval_sets.load_syrip_set(root, split=d.split,
                                    input_2d=d.input_2d,
                                    max_poses=d.max_poses,
                                    model_layout=model_layout,
                                    occlusion=_occlusion_settings(config))
  if name == 'cmu':
    return eval_sets.load_cmu_set(root, mocap_files=d.mocap_files,
                                  subsample=d.subsample,
                                  min_pose_distance=d.min_pose_distance,
                                  max_poses=d.max_poses, seed=config.seed,
                                  model_layout=model_layout, split=d.split,
                                  sample_hz=d.sample_hz)
  return eval_sets.load_mini_rgbd_set(
      pathlib.Path(d.mini_rgbd_npz or root / 'mini_rgbd.npz'), split=d.split,
      joint_map=d.joint_map, max_poses=d.max_poses,
      model_layout=model_layout)


def flag_rows(es: eval_sets.EvalSet, out: dict[str, Any],
              cfg: zedo.FitConfig) -> tuple[np.ndarray, list[str]]:
  """Flags the rows the 2D cannot determine (or whose fit diverged): their
  outputs in `out` become NaN (in place) and they are left out of the
  metrics. Returns (status [N], reasons [N])."""
  status, reasons = validity.input_status(
      es.inputs['keypoints'], es.inputs['confidence'],
      min_confident_joints=cfg.min_confident_joints)
  status, reasons = validity.output_status(
      status, reasons, out['pose_mean'], out['translation_mean'])
  for k in ('pose', 'pose_min_reproj', 'pose_mean', 'translation',
            'reproj_error'):
    out[k] = validity.mask_rows(out[k], status)
  out['status'] = status
  return status, reasons


def write_predictions(path: pathlib.Path, es: eval_sets.EvalSet,
                      out: dict[str, Any], pred_all: np.ndarray,
                      aggregates: dict[str, np.ndarray], status, reasons,
                      num_rows_total: int, model_layout: str) -> None:
  """predictions.npz: every hypothesis and aggregate, the fit's camera
  placement, the rows' status and the joint names."""
  lay = skeleton.get_layout(es.eval_layout)
  np.savez_compressed(
      path, pred_poses=pred_all,
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


def _occlusion_settings(config) -> dict[str, Any] | None:
  """config.data's occlusion fields, or None when they change nothing."""
  d = config.data
  if not d.drop_joints and not d.min_score and d.use_confidence:
    return None
  return {'drop_k': int(d.drop_joints), 'min_score': float(d.min_score),
          'use_confidence': bool(d.use_confidence), 'seed': int(config.seed)}


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
  traj_fit = zedo.make_fit_fn(
      score_fn=model.score_fn, sde=model.sde, scale=model.scale,
      cfg=dataclasses.replace(cfg, trajectory_frames=frames,
                              num_hypotheses=1))
  sub = {k: np.asarray(v)[few] for k, v in es.inputs.items()
         if k in ('keypoints', 'confidence', 'K', 'id')}
  traj_out = zedo.fit_dataset(traj_fit, sub, batch_size=len(few),
                             rng=fit_rng, params=model.params)
  for i, row in enumerate(few):
    traj = np.asarray(skeleton.convert(traj_out['trajectory'][i, 0],
                                       model_layout, es.eval_layout))
    viz.trajectory_figure(traj, es.gt[row], folder / f'trajectory_{i}.png',
                          layout=es.eval_layout, gif=(i == 0))
