"""`--config.mode=lift`: 3D poses from a user's 2D keypoints.

`lift(config, workdir)` reads the input (`zedoi_jax.lift_inputs`), fits it
(`zedoi_jax.fit_jobs`, or `zedoi_jax.sequence` for tracks) and writes the
3D. Input
(`config.lift.input`, format `config.lift.format`, 'auto' by default): a
COCO keypoint JSON (dataset or detection results;
`zedoi_jax.data.coco.load_coco_keypoints`), a .npy / .npz array [N, J, 2]
or [N, J, 3] (third column = confidence in [0, 1]) in layout
`config.lift.layout`, or a detector's files (OpenPose, AlphaPose, MMPose,
MediaPipe, DeepLabCut: `zedoi_jax.data.detectors`). Camera: a 3x3 K from
`config.lift.camera` (.npy, .json or whitespace .txt), an [F, 3, 3] .npy
(per frame), or a calibration .toml (`config.lift.camera_name`; its lens
distortion is removed from the 2D), else `camera.default_K` of the image
size (with a warning); the image size comes from the input, the
calibration or `config.lift.image_width/height`. A video file, an image or
a folder of images goes through the bundled 2D detector first
(`zedoi_jax.video`, the optional `video` extra): workdir/keypoints_2d.npz,
then per frame workdir/video_3d.npz/.json (NaN + status where no person
was found) and workdir/lifted_video.mp4 (frame with 2D | 3D skeleton).

Writes workdir/lifted.npz (poses_3d [N, 17, 3] metres, camera frame, root-
relative; translation [N, 3]; poses_3d_abs = poses_3d + translation;
reproj_error [N] px; joint_names; rows [N], each pose's row in the input;
frame [N] and track [N] (-1 = unknown); joint_spread_mm [N, 17], the
hypotheses' per-joint spread, see UNCERTAINTY;
status [N] and reason [N]: `zedoi_jax.validity` flags a pose with fewer
than `config.fit.min_confident_joints` confident joints, keypoints on one
pixel or a diverged fit, and its row is NaN), workdir/lifted.json (the same
per pose, with units and frame spelled out; non-finite values are null)
and, if `config.lift.pictures`, PNGs of 3D skeletons and of the
reprojection over the input 2D; `config.lift.export` adds TRC / BVH / CSV /
GIF files (`zedoi_jax.export`).

Sequences (`config.lift.sequence`, or rows that carry track ids): every
person track is lifted frame by frame with warm starts and temporal
smoothing (zedoi_jax/sequence.py); flagged frames (missed, too few joints)
get valid = False and no pose (NaN in the npz, null in the JSON).

Big inputs: poses are fitted in chunks of `config.parallel.chunk_size`,
each written atomically under workdir/chunks, so a killed run restarted in
the same workdir resumes; `config.parallel.shard_index/num_shards` lift only
rows shard_index::num_shards and `python -m zedoi_jax.merge` joins the
shards (docs/SCALING.md).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from zedoi_jax import camera
from zedoi_jax import export as export_lib
from zedoi_jax import fit_jobs
from zedoi_jax import jsonio
from zedoi_jax import lift_inputs
from zedoi_jax import metrics
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import skeleton
from zedoi_jax import validity
from zedoi_jax import video
from zedoi_jax import zedo
from zedoi_jax.errors import InputError
from zedoi_jax.modes import common

FRAME = ('camera frame (OpenCV): x right, y down, z forward; metres; '
         'poses_3d root-relative (root = pelvis), poses_3d_abs = poses_3d + '
         'translation')
UNCERTAINTY = ('joint_spread_mm: per joint, the root-mean-square distance '
               '(mm) of the S root-centred hypotheses from their joint-wise '
               'mean (the reported pose); 0 for the root and whenever S = 1. '
               'Larger = the prior and the 2D admit more different 3D '
               'positions for that joint (on SyRIP validation it ranks '
               'joints by their actual error only moderately: '
               'experiments/RESULTS.md).')


def use_sequence(lc, data: dict) -> bool:
  """Sequence lifting: when `lift.sequence` is on, or by itself when the
  input is a detector's per-frame output whose every row has a known track
  over more than one frame (a video's person tracks)."""
  if lc.get('sequence', False):
    return True
  if not data.get('per_frame') or data.get('track') is None:
    return False
  track = np.asarray(data['track'])
  return bool(len(track) and (track >= 0).all()
              and len(np.unique(np.asarray(data['frame']))) > 1)


def _reprojection_error(pose_abs: np.ndarray,
                        inputs: dict[str, np.ndarray]) -> np.ndarray:
  """Confidence-weighted mean pixel error [N] of camera-frame poses (NaN
  where nothing was visible)."""
  proj = np.asarray(camera.project(pose_abs, inputs['K']))
  return validity.reprojection_error(proj, inputs['keypoints'],
                                     inputs['confidence'])


def lift(config: ml_collections.ConfigDict,
         workdir: str | os.PathLike, *,
         stop_after_chunks: int | None = None) -> dict[str, Any]:
  """Lifts the 2D keypoints of `config.lift.input` to 3D.

  Poses are fitted in resumable chunks of `config.parallel.chunk_size`
  (workdir/chunks); with `config.parallel.num_shards` > 1 only rows
  shard_index::num_shards are lifted (join shards with `zedoi_jax.merge`);
  with several JAX processes all of them fit and process 0 writes.

  Args:
    config: the run config (mode 'lift').
    workdir: output folder.
    stop_after_chunks: stop (raising `chunks.Interrupted`) after computing
      this many chunks: simulates a killed run (tests).

  Returns:
    {'num_poses', 'npz', 'json', 'pictures'} paths and counts (on process
    0; other processes get {'process_index': i}).
  """
  workdir = pathlib.Path(workdir)
  main = parallel.is_main_process()
  if main:
    workdir.mkdir(parents=True, exist_ok=True)
  lc = config.lift
  export_formats = export_lib.parse_formats(lc.get('export', ''))
  data, det, cam_info = read_input(config, workdir)
  src, layout = data['source'], data['layout']
  model, model_layout = common.load_model(config)
  inputs = zedo.prepare_inputs(data['keypoints'], data['confidence'],
                               cam_info['K'], layout=layout,
                               model_layout=model_layout, source=src)
  cfg = common.fit_config(config, model_layout, trajectory_frames=0)
  pc = config.parallel
  num_rows_total = len(inputs['keypoints'])
  rows = common.shard_rows(config, num_rows_total)
  shard_inputs = {k: inputs[k][rows] for k in ('keypoints', 'confidence',
                                               'K', 'id')}
  identity = {
      'mode': 'lift', 'input': src,
      'input_sha256': data.get('sha256') or lift_inputs.input_digest(src),
      'layout': layout,
      'camera': lc.camera or '',
      'camera_sha256': (lift_inputs.file_digest(lc.camera) if lc.camera
                        else ''),
      'camera_name': cam_info['name'], 'undistorted': cam_info['undistorted'],
      'format': data['format'],
      'image_size': [int(lc.image_width), int(lc.image_height)],
      'model': common.model_identity(model, config),
      'fit': dataclasses.asdict(cfg), 'seed': int(config.seed),
      'shard': [int(pc.shard_index), int(pc.num_shards)],
      'num_rows_total': num_rows_total}
  t0 = time.perf_counter()
  out = _fit_rows(config, model, cfg, data, shard_inputs, rows, identity,
                  workdir, stop_after_chunks)
  seconds = time.perf_counter() - t0
  if not main:
    return {'process_index': jax.process_index()}
  res = _checked_result(out, shard_inputs, data, cfg, model_layout)
  npz_path = workdir / 'lifted.npz'
  _write_npz(npz_path, res, out, shard_inputs, num_rows_total)
  doc = _document(res, out, data, cfg, cam_info, identity, lc, inputs,
                  num_rows_total, model_layout, layout)
  if int(pc.num_shards) > 1:
    doc['shard'] = {'index': int(pc.shard_index),
                    'count': int(pc.num_shards)}
  doc['timing'] = dict(out['timing'], seconds=seconds,
                       devices=jax.device_count(),
                       processes=jax.process_count())
  json_path = workdir / 'lifted.json'
  jsonio.write_json(json_path, doc, indent=1)
  pictures = []
  if lc.pictures:
    pictures += _pictures(workdir, res, shard_inputs, data, out,
                          int(config.eval.num_pictures), model_layout)
  exports = []
  if export_formats:
    exports = _exports(workdir, export_formats, res, shard_inputs, data,
                       out, lc, model_layout)
  if det is not None and int(pc.num_shards) == 1:
    frames_3d = video.lift_outputs(det, npz_path, data['frame_rows'],
                                   workdir, model_layout)
    if lc.render_video:
      video.render(det, frames_3d['poses_3d'], workdir / 'lifted_video.mp4',
                   model_layout, picture_path=workdir / 'lifted_video.png',
                   show_progress=common.show_progress(config))
      pictures += [workdir / 'lifted_video.mp4', workdir / 'lifted_video.png']
  _summarize(res, src, npz_path, json_path)
  return {'num_poses': len(res['pose']), 'num_flagged': res['num_flagged'],
          'npz': str(npz_path),
          'json': str(json_path), 'pictures': [str(p) for p in pictures],
          'exports': exports}


def read_input(config: ml_collections.ConfigDict, workdir: pathlib.Path
               ) -> tuple[dict[str, Any], dict[str, Any] | None,
                          dict[str, Any]]:
  """The 2D of `config.lift.input` and its camera.

  A video, image or image folder goes through the bundled 2D detector first
  (the optional video extra; only frames with a person are lifted). The
  keypoints are bounds-checked and, with a calibration's distortion,
  undistorted in place.

  Returns:
    (data from `lift_inputs.load_input`, the detections of a video or None,
    `lift_inputs.camera_setup`'s {'K', 'name', 'undistorted'}).
  """
  lc = config.lift
  layout = skeleton.get_layout(lc.layout, source='config',
                               field='lift.layout').name
  width, height = int(lc.image_width), int(lc.image_height)
  calib = None
  if lc.camera and pathlib.Path(lc.camera).suffix.lower() == '.toml':
    from zedoi_jax.data import calibration  # pylint: disable=g-import-not-at-top
    calib = calibration.select_camera(
        calibration.read_calibration(lc.camera), lc.get('camera_name', ''),
        lc.camera)
    if not (width > 0 and height > 0):
      # The calibration's image size, for inputs that need one (MediaPipe).
      width, height = calib.size
  det = None
  if video.is_media(lc.input):
    workdir.mkdir(parents=True, exist_ok=True)
    det = video.detect_cached(
        lc.input, workdir / 'keypoints_2d.npz',
        min_confidence=float(lc.detect_confidence),
        stride=int(lc.frame_stride), max_frames=int(lc.max_frames),
        show_progress=common.show_progress(config))
    data = video.lift_input(det, str(workdir / 'keypoints_2d.npz'))
  else:
    data = lift_inputs.load_input(lc.input, layout, image_width=width,
                                  image_height=height,
                                  fmt=lc.get('format', 'auto'))
  validity.check_keypoint_bounds(data['keypoints'], data['image_wh'],
                                 source=data['source'])
  cam_info = lift_inputs.camera_setup(
      data, lc.camera, lc.get('camera_name', ''),
      undistort=bool(lc.get('undistort', True)), calibration_camera=calib)
  return data, det, cam_info


def _fit_rows(config, model, cfg, data, shard_inputs, rows, identity,
              workdir, stop_after_chunks) -> dict[str, Any]:
  """Per-track sequences (`zedoi_jax.sequence`) or independent poses in
  resumable chunks (`fit_jobs.fit_in_chunks`)."""
  lc, pc = config.lift, config.parallel
  num_rows_total = len(data['keypoints'])
  rng = jax.random.fold_in(jax.random.key(config.seed), 2)
  if use_sequence(lc, data):
    # Tracks over frames (zedoi_jax/sequence.py): whole tracks, no chunks.
    from zedoi_jax import sequence  # pylint: disable=g-import-not-at-top
    if int(pc.num_shards) > 1:
      raise InputError('sequence lifting does not shard rows (a track needs '
                       'all its frames); use parallel.num_shards=1',
                       source='config', field='parallel.num_shards')
    seq = sequence.SequenceConfig.from_lift(lc)
    identity['sequence'] = dataclasses.asdict(seq)
    frame = data.get('frame')
    return sequence.lift_rows(
        sequence.make_sequence_fn(score_fn=model.score_fn, sde=model.sde,
                                  scale=model.scale, cfg=cfg, seq=seq),
        shard_inputs, rng=rng, params=model.params, source=data['source'],
        frame=np.arange(num_rows_total) if frame is None else frame,
        track=data.get('track') if data.get('per_frame') else None)
  return fit_jobs.fit_in_chunks(
      fit_jobs.make_mesh_fit_fn(model, cfg), shard_inputs, rows=rows,
      store_dir=workdir / 'chunks', identity=identity,
      chunk_size=int(pc.chunk_size),
      batch_size=min(cfg.batch_size, int(pc.chunk_size), num_rows_total),
      rng=rng, params=model.params,
      root_joints=skeleton.get_layout(cfg.layout).root_joints,
      prog=progress.Progress(len(rows), name='lift', unit='pose',
                             enabled=common.show_progress(config)),
      stop_after_chunks=stop_after_chunks)


def _checked_result(out, shard_inputs, data, cfg, model_layout
                    ) -> dict[str, Any]:
  """The reported poses with each row's status: flagged rows are NaN.

  The reported pose is the joint-wise mean of the hypotheses (the better
  non-oracle pick on SyRIP when S > 1; with S = 1 the only hypothesis),
  placed at the mean of their root positions. A row the 2D cannot
  determine, or whose fit diverged, is NaN with a reason.
  """
  pose, trans = out['pose_mean'], out['translation_mean']
  status, reasons = validity.input_status(
      shard_inputs['keypoints'], shard_inputs['confidence'],
      min_confident_joints=cfg.min_confident_joints)
  err = _reprojection_error(pose + trans[:, None], shard_inputs)
  status, reasons = validity.output_status(status, reasons, pose, trans, err)
  root = skeleton.get_layout(model_layout).root_joints
  # Uncertainty: per joint, the RMS distance (mm) of the root-centred
  # hypotheses from their mean (the reported pose); 0 with S = 1.
  spread = np.asarray(metrics.hypothesis_spread(out['pose'],
                                                root_joints=root)) * 1000.0
  return {
      'pose': validity.mask_rows(pose, status),
      'translation': validity.mask_rows(trans, status),
      'hypotheses': validity.mask_rows(out['pose'], status),
      'reproj_error': validity.mask_rows(err, status),
      'spread_mm': validity.mask_rows(spread, status),
      'status': status, 'reasons': reasons,
      'num_flagged': int((status != validity.OK).sum()),
      'names': list(skeleton.get_layout(model_layout).joint_names),
      'frame': np.asarray(out.get('frame',
                                  np.asarray(data['frame'])[out['row']])),
      'track': np.asarray(out.get('track',
                                  np.asarray(data['track'])[out['row']])),
  }


def _write_npz(path, res, out, shard_inputs, num_rows_total) -> None:
  pose, trans = res['pose'], res['translation']
  np.savez_compressed(
      path, frame=res['frame'], track=res['track'],
      joint_spread_mm=res['spread_mm'].astype(np.float32),
      poses_3d=pose.astype(np.float32),
      translation=trans.astype(np.float32),
      poses_3d_abs=(pose + trans[:, None]).astype(np.float32),
      reproj_error=res['reproj_error'].astype(np.float32),
      joint_names=np.array(res['names']),
      hypotheses_3d=res['hypotheses'].astype(np.float32),
      status=res['status'], reason=np.array(res['reasons'], dtype=str),
      K=shard_inputs['K'], rows=out['row'],
      num_rows_total=np.int64(num_rows_total),
      **{k: out[k] for k in ('valid',) if k in out})


def _document(res, out, data, cfg, cam_info, identity, lc, inputs,
              num_rows_total, model_layout, layout) -> dict[str, Any]:
  """lifted.json: the poses with units, frame and provenance spelled out."""
  pose, trans, err = res['pose'], res['translation'], res['reproj_error']
  status, reasons = res['status'], res['reasons']
  frames, tracks, spread = res['frame'], res['track'], res['spread_mm']
  doc = {
      'source': data['source'], 'input_layout': layout,
      'model_layout': model_layout,
      'joint_names': res['names'], 'units': 'metres (reproj_error: pixels)',
      'frame': FRAME, 'num_hypotheses': cfg.num_hypotheses,
      'selection': 'joint-wise mean of the hypotheses',
      'uncertainty': UNCERTAINTY,
      'input_format': data['format'],
      'camera': lc.camera or 'default_K(image size) (assumed)',
      'camera_name': cam_info['name'],
      'undistorted': cam_info['undistorted'],
      'fit_config': dataclasses.asdict(cfg),
      'nan_keypoints': int(inputs['num_nan']),
      'num_rows_total': num_rows_total,
      'null': ('a value that is not a finite number (a flagged pose, the '
               'reprojection error of a pose with nothing visible) is null'),
      'min_confident_joints': cfg.min_confident_joints,
      'num_flagged': res['num_flagged'],
      'status_counts': validity.counts(status),
      'poses': [{'row': int(out['row'][i]),
                 'name': data['names'][out['row'][i]],
                 'frame': int(frames[i]), 'track': int(tracks[i]),
                 'joint_spread_mm': spread[i].round(2).tolist(),
                 'status': str(status[i]),
                 **({'reason': reasons[i]} if reasons[i] else {}),
                 'pose_3d': pose[i].round(5).tolist(),
                 'translation': trans[i].round(5).tolist(),
                 'reproj_error_px': round(float(err[i]), 3)}
                for i in range(len(pose))],
  }
  if 'valid' in out:  # sequence mode: flagged frames carry no pose
    doc['sequence'] = identity['sequence']
    for i, p in enumerate(doc['poses']):
      p.update(track=int(out['track'][i]), frame=int(out['frame'][i]),
               valid=bool(out['valid'][i]))
      if not out['valid'][i]:
        p.update(pose_3d=None, translation=None, reproj_error_px=None)
  return doc


def _pictures(workdir, res, shard_inputs, data, out, num_pictures,
              model_layout) -> list[pathlib.Path]:
  """3D skeletons and the reprojection over the input 2D of the first
  confident poses (flagged rows have nothing to draw)."""
  sel = np.flatnonzero(res['status'] == validity.OK)[:max(1, num_pictures)]
  if not len(sel):
    return []
  from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
  pose, trans = res['pose'], res['translation']
  pictures = [viz.skeleton_grid([pose[sel]], model_layout,
                                workdir / 'lifted_3d.png',
                                titles=['lifted 3D'])]
  proj = np.asarray(camera.project(pose[sel] + trans[sel, None],
                                   shard_inputs['K'][sel]))
  wh = np.asarray(data['image_wh'])[out['row'][sel]]
  pictures.append(viz.reprojection_overlay(
      shard_inputs['keypoints'][sel], proj, model_layout,
      workdir / 'lifted_reprojection.png',
      image_wh=wh if (wh > 0).all() else None,
      confidence=shard_inputs['confidence'][sel]))
  return pictures


def _exports(workdir, export_formats, res, shard_inputs, data, out, lc,
             model_layout) -> list:
  """TRC / BVH / CSV / GIF files (`zedoi_jax.export`)."""
  pose_abs = res['pose'] + res['translation'][:, None]
  return export_lib.export_all(
      workdir, export_formats, poses_abs=pose_abs,
      layout=model_layout, frames=res['frame'], tracks=res['track'],
      frame_rate=float(lc.get('frame_rate', 30.0)),
      trc_units=lc.get('trc_units', 'm'), spread_mm=res['spread_mm'],
      keypoints_2d=shard_inputs['keypoints'],
      confidence=shard_inputs['confidence'],
      projected_2d=np.asarray(camera.project(pose_abs, shard_inputs['K'])),
      image_wh=np.asarray(data['image_wh'])[out['row']])


def _summarize(res, src, npz_path, json_path) -> None:
  ok = res['status'] == validity.OK
  err, n, num_flagged = res['reproj_error'], len(res['pose']), \
      res['num_flagged']
  mean_err = float(err[ok].mean()) if ok.any() else float('nan')
  flagged = (f'; {num_flagged} flagged (NaN rows, see status/reason in '
             f'{json_path.name}): {validity.counts(res["status"])}'
             if num_flagged else '')
  logging.info('lifted %d poses from %s: mean reprojection error %.2f px '
               'over %d confident poses%s; wrote %s', n, src, mean_err,
               int(ok.sum()), flagged, npz_path)
  print(f'lifted {n} poses -> {npz_path}, {json_path} '
        f'(mean reprojection error {mean_err:.2f} px over {int(ok.sum())} '
        f'confident poses{flagged})')
