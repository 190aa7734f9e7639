"""Lift mode: 3D poses from a user's 2D keypoints.

`lift(config, workdir)` is the entry of `config.mode = 'lift'`. Input
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
import hashlib
import json
import os
import pathlib
import time
from typing import Any
import warnings
import zipfile
import zlib

from absl import logging
import jax
import ml_collections
import numpy as np

from zedoi_jax import camera
from zedoi_jax import export as export_lib
from zedoi_jax import fit
from zedoi_jax import metrics
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import skeleton
from zedoi_jax import video
from zedoi_jax import validity
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

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


def load_camera(path: str) -> np.ndarray:
  """A 3x3 K from .npy, .json (a nested list or {'K': ...}) or .txt."""
  p = checks.require_file(path, 'camera file')
  suffix = p.suffix.lower()
  try:
    if suffix == '.npy':
      k = checks.load_npy(p, 'camera K (.npy)')
    elif suffix == '.json':
      doc = checks.load_json(p, 'camera K (.json)')
      k = np.asarray(doc['K'] if isinstance(doc, dict) else doc, np.float64)
    elif suffix in ('.txt', '.csv'):
      with warnings.catch_warnings():
        # An empty file: validate_K below says what is wrong instead.
        warnings.simplefilter('ignore', UserWarning)
        k = np.loadtxt(p, delimiter=',' if suffix == '.csv' else None)
    else:
      raise InputError(f'unknown camera file type {suffix!r} (use .npy, '
                       '.json or .txt)', source=str(p), field='suffix')
  except (ValueError, KeyError, TypeError, OSError, EOFError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f'cannot read a 3x3 matrix: {e!r}', source=str(p),
                     field='K') from e
  return camera.validate_K(k, source=str(p))


def load_input(path: str, layout: str, *, image_width: int = 0,
               image_height: int = 0, fmt: str = 'auto') -> dict[str, Any]:
  """Reads 2D keypoints and the image size.

  `fmt` ('auto': from the content, `detectors.detect_format`): 'coco' (COCO
  JSON), 'array' (.npy/.npz in `layout`) or a detector format
  ('openpose', 'alphapose', 'mmpose', 'mediapipe', 'deeplabcut', see
  `zedoi_jax.data.detectors`), whose files carry their own layout
  (`layout` only settles what a file cannot tell).

  Returns:
    {'keypoints' [N, J, 2], 'confidence' [N, J], 'image_wh' [N, 2] (0 =
    unknown), 'names' list of N str, 'source' str, 'layout' str, 'format'
    str, 'frame' [N] int, 'track' [N] int (-1 = unknown), 'per_frame'
    bool (frame indices come from the file: per-frame K is indexed by
    them)}.
  """
  from zedoi_jax.data import detectors  # pylint: disable=g-import-not-at-top
  p = pathlib.Path(path)
  if not path:
    raise InputError('no input given: set --config.lift.input',
                     source='config', field='lift.input')
  if not p.exists():
    raise FileNotFoundError(f'lift input not found: {p}')
  if fmt == 'auto':
    fmt = detectors.detect_format(p)
  if fmt in detectors.FORMATS:
    d = detectors.read(p, fmt, layout=layout, image_width=image_width,
                       image_height=image_height)
    if not len(d):
      raise InputError('no poses in the input', source=d.source,
                       field='keypoints')
    wh = d.image_wh.copy()
    unknown = (wh <= 0).any(-1)
    if unknown.any() and image_width > 0 and image_height > 0:
      wh[unknown] = (image_width, image_height)
    return {'keypoints': d.keypoints, 'confidence': d.confidence,
            'image_wh': wh, 'names': d.names, 'source': d.source,
            'layout': d.layout, 'format': fmt, 'frame': d.frame,
            'track': d.track, 'per_frame': True}
  if not p.is_file():
    raise InputError(f'a folder, but lift.format is {fmt!r} (folders are '
                     "'openpose' or 'mmpose')", source=str(p),
                     field='lift.format')
  suffix = p.suffix.lower()
  src = str(p)
  if fmt not in ('coco', 'array'):
    raise InputError(f'unknown format {fmt!r}; known: auto, coco, array, '
                     f'{", ".join(detectors.FORMATS)}', source=src,
                     field='lift.format')
  if fmt == 'coco' and suffix != '.json':
    raise InputError(f"lift.format 'coco' needs a .json file, got {suffix!r}",
                     source=src, field='lift.format')
  if fmt == 'array' and suffix not in ('.npy', '.npz'):
    raise InputError(f"lift.format 'array' needs a .npy or .npz file, got "
                     f'{suffix!r}', source=src, field='lift.format')
  if suffix == '.json':
    from zedoi_jax.data import coco  # pylint: disable=g-import-not-at-top
    if layout != 'coco17':
      raise InputError(f'a COCO JSON holds coco17 keypoints, but '
                       f'lift.layout is {layout!r}', source=src,
                       field='lift.layout')
    d = coco.load_coco_keypoints(p)
    kp, conf, wh = d['keypoints'], d['confidence'], d['image_wh']
    names = [f'{n or "image"}#{i}' for i, n in zip(d['image_id'],
                                                    d['file_name'])]
  elif suffix in ('.npy', '.npz'):
    try:
      # The guarded loaders check each header against the file's size
      # before numpy allocates what it claims.
      if suffix == '.npy':
        arr = checks.load_npy(p, 'lift input array')
        field = 'array'
      else:
        z = checks.load_npz(p, 'lift input arrays')
        keys = list(z.keys())
        field = next((k for k in ('keypoints', 'keypoints_2d', 'poses_2d')
                      if k in keys), keys[0] if len(keys) == 1 else None)
        if field is None:
          raise InputError(f'npz holds {keys}; name the array '
                           "'keypoints'", source=src, field='keypoints')
        arr = z[field]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile,
            zlib.error) as e:
      # Truncated or corrupt files fail inside numpy / zipfile / zlib.
      if isinstance(e, InputError):
        raise
      raise InputError(f'cannot read the array: {e!r}', source=src,
                       field='array') from e
    dtype = np.asarray(arr).dtype
    if not (np.issubdtype(dtype, np.integer) or
            np.issubdtype(dtype, np.floating)):
      raise InputError(f'not a real numeric array (dtype {dtype})',
                       source=src, field=field)
    arr = np.asarray(arr, np.float64)
    if arr.ndim == 2:
      arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
      raise InputError(f'expected [N, J, 2] or [N, J, 3], got shape '
                       f'{arr.shape}', source=src, field=field)
    kp = arr[..., :2]
    conf = arr[..., 2] if arr.shape[-1] == 3 else np.ones(arr.shape[:2])
    wh = np.zeros((arr.shape[0], 2), np.int32)
    names = [f'pose#{i}' for i in range(arr.shape[0])]
  else:
    raise InputError(f'unknown input type {suffix!r} (use a COCO .json, '
                     '.npy or .npz)', source=src, field='lift.input')
  if len(kp) == 0:
    raise InputError('no poses in the input', source=src, field='keypoints')
  wh = np.asarray(wh, np.float64).copy()
  unknown = (wh <= 0).any(-1)
  if unknown.any() and image_width > 0 and image_height > 0:
    wh[unknown] = (image_width, image_height)
  n = len(kp)
  if suffix == '.json':  # COCO: one row per annotation, images unordered
    track = np.full(n, -1, np.int64)
  else:  # an array: the rows of one sequence
    track = np.zeros(n, np.int64)
  return {'keypoints': kp, 'confidence': conf, 'image_wh': wh,
          'names': names, 'source': src, 'layout': layout,
          'format': 'coco' if suffix == '.json' else 'array',
          'frame': np.arange(n, dtype=np.int64), 'track': track,
          'per_frame': False}


def _cameras(cam_path: str, wh: np.ndarray, src: str,
             frames: np.ndarray | None = None) -> np.ndarray:
  """[N, 3, 3] K per row: one K, one per row, or (`frames` given) one per
  frame, row i taking K[frames[i]]."""
  n = len(wh)
  if cam_path:
    k = load_camera(cam_path)
    if k.ndim == 3 and frames is not None:
      if frames.min() < 0 or frames.max() >= k.shape[0]:
        raise InputError(f'{k.shape[0]} per-frame cameras, but the input '
                         f'has frames {int(frames.min())}..'
                         f'{int(frames.max())}', source=cam_path, field='K')
      return k[frames].astype(np.float32)
    if k.ndim == 3 and k.shape[0] != n:
      raise InputError(f'{k.shape[0]} cameras for {n} poses',
                       source=cam_path, field='K')
    return np.broadcast_to(k, (n, 3, 3)).astype(np.float32)
  if (wh <= 0).any():
    raise InputError(
        'no camera and no image size: the input carries no image '
        'width/height; pass the camera, --config.lift.camera=K.npy (a 3x3 K '
        'as .npy, .json or .txt), or the image size, '
        '--config.lift.image_width=W --config.lift.image_height=H (then K '
        'is guessed: f = max(W, H), depth only relative)', source=src,
        field='lift.camera')
  return np.asarray(camera.default_K(wh[:, 0], wh[:, 1]), np.float32)


def file_digest(path: str | os.PathLike) -> str:
  """sha256 of a file's bytes (streamed): the identity of an input file."""
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
  return h.hexdigest()


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


def input_digest(path: str | os.PathLike) -> str:
  """`file_digest` of a file; of a folder (OpenPose / MMPose per-frame
  JSON), the sha256 of its *.json files' names and digests."""
  p = pathlib.Path(path)
  if not p.is_dir():
    return file_digest(p)
  h = hashlib.sha256()
  for f in sorted(p.glob('*.json')):
    h.update(f'{f.name}\0{file_digest(f)}\n'.encode())
  return h.hexdigest()


def camera_setup(data: dict[str, Any], cam_path: str, camera_name: str = '',
                 *, undistort: bool = True,
                 calibration_camera=None) -> dict[str, Any]:
  """K per row for `data` (from `load_input`), undistorting its 2D in place.

  `cam_path`: '' (default K from the image size, with a warning), a 3x3 K
  (.npy/.json/.txt), an [N, 3, 3] .npy (one K per frame for detector files,
  indexed by frame; one per pose for arrays and COCO), or an OpenCV /
  Pose2Sim calibration .toml: the camera `camera_name` (or the only one),
  its `size` filling unknown image sizes and, with `undistort`, its
  distortion removed from the keypoints (joints with confidence 0 are left
  at 0). `calibration_camera`: that camera when the caller has read it
  already. A K from a file (any kind) is bounds-checked against the image
  size (`validity.check_camera`).

  Returns:
    {'K' [N, 3, 3] float32, 'name' str (calibration camera or ''),
    'undistorted' bool}.
  """
  src = data['source']
  if cam_path and pathlib.Path(cam_path).suffix.lower() == '.toml':
    from zedoi_jax.data import calibration  # pylint: disable=g-import-not-at-top
    cam = calibration_camera or calibration.select_camera(
        calibration.read_calibration(cam_path), camera_name, cam_path)
    wh = data['image_wh']
    unknown = (wh <= 0).any(-1)
    if unknown.any() and min(cam.size) > 0:
      wh[unknown] = cam.size
    n = len(data['keypoints'])
    K = np.broadcast_to(cam.K, (n, 3, 3)).astype(np.float32)
    done = False
    if undistort and cam.has_distortion:
      kp = data['keypoints']
      ok = data['confidence'] > 0
      und = camera.undistort_points(kp, cam.K, cam.dist,
                                    source=f'{cam_path} [{cam.name}]')
      data['keypoints'] = np.where(ok[..., None], und, kp)
      done = True
    validity.check_camera(K, wh, source=cam_path)
    return {'K': K, 'name': cam.name, 'undistorted': done}
  if camera_name:
    raise InputError('lift.camera_name needs a calibration .toml in '
                     f'lift.camera (got {cam_path or "none"!r})',
                     source='config', field='lift.camera_name')
  frames = np.asarray(data['frame']) if data.get('per_frame') else None
  K = _cameras(cam_path, data['image_wh'], src, frames)
  if cam_path:
    validity.check_camera(K, data['image_wh'], source=cam_path)
  return {'K': K, 'name': '', 'undistorted': False}


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
  # Imported here: evaluate pulls in the dataset loaders.
  from zedoi_jax import evaluate  # pylint: disable=g-import-not-at-top
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)
  main = parallel.is_main_process()
  if main:
    workdir.mkdir(parents=True, exist_ok=True)
  lc = config.lift
  layout = skeleton.get_layout(lc.layout, source='config',
                               field='lift.layout').name
  export_formats = export_lib.parse_formats(lc.get('export', ''))
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
    # A video, image or image folder: the bundled 2D detector first (the
    # optional video extra); only frames with a person are lifted.
    workdir.mkdir(parents=True, exist_ok=True)
    det = video.detect_cached(
        lc.input, workdir / 'keypoints_2d.npz',
        min_confidence=float(lc.detect_confidence),
        stride=int(lc.frame_stride), max_frames=int(lc.max_frames),
        show_progress=None if config.progress else False)
    data = video.lift_input(det, str(workdir / 'keypoints_2d.npz'))
  else:
    data = load_input(lc.input, layout, image_width=width,
                      image_height=height, fmt=lc.get('format', 'auto'))
  src = data['source']
  layout = data['layout']
  validity.check_keypoint_bounds(data['keypoints'], data['image_wh'],
                                 source=src)
  cam_info = camera_setup(data, lc.camera, lc.get('camera_name', ''),
                          undistort=bool(lc.get('undistort', True)),
                          calibration_camera=calib)
  K = cam_info['K']
  model = load.load_pose_model(config.init.prior, config.init.adapted)
  model_layout = model.meta.get('layout', 'h36m17')
  inputs = fit.prepare_inputs(data['keypoints'], data['confidence'], K,
                              layout=layout, model_layout=model_layout,
                              source=src)
  cfg = fit.FitConfig.from_dict(dict(config.fit.to_dict(),
                                     layout=model_layout,
                                     trajectory_frames=0))
  pc = config.parallel
  num_rows_total = len(inputs['keypoints'])
  rows = parallel.shard_rows(num_rows_total, int(pc.shard_index),
                             int(pc.num_shards))
  if not len(rows):
    raise InputError(f'shard {pc.shard_index} of {pc.num_shards} gets no '
                     f'rows ({num_rows_total} poses); use fewer shards',
                     source='config', field='parallel.num_shards')
  shard_inputs = {k: inputs[k][rows] for k in ('keypoints', 'confidence',
                                               'K', 'id')}
  model_info = evaluate.model_identity(model, config)
  identity = {
      'mode': 'lift', 'input': src,
      'input_sha256': data.get('sha256') or input_digest(src),
      'layout': layout,
      'camera': lc.camera or '',
      'camera_sha256': file_digest(lc.camera) if lc.camera else '',
      'camera_name': cam_info['name'], 'undistorted': cam_info['undistorted'],
      'format': data['format'],
      'image_size': [int(lc.image_width), int(lc.image_height)],
      'model': model_info, 'fit': dataclasses.asdict(cfg),
      'seed': int(config.seed),
      'shard': [int(pc.shard_index), int(pc.num_shards)],
      'num_rows_total': num_rows_total}
  rng = jax.random.fold_in(jax.random.key(config.seed), 2)
  t0 = time.perf_counter()
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
    out = sequence.lift_rows(
        sequence.make_sequence_fn(score_fn=model.score_fn, sde=model.sde,
                                  scale=model.scale, cfg=cfg, seq=seq),
        shard_inputs, rng=rng, params=model.params, source=src,
        frame=np.arange(num_rows_total) if frame is None else frame,
        track=data.get('track') if data.get('per_frame') else None)
  else:
    fit_batch = evaluate.make_mesh_fit_fn(model, cfg)
    out = evaluate.fit_in_chunks(
        fit_batch, shard_inputs, rows=rows, store_dir=workdir / 'chunks',
        identity=identity, chunk_size=int(pc.chunk_size),
        batch_size=min(cfg.batch_size, int(pc.chunk_size), num_rows_total),
        rng=rng, params=model.params,
        root_joints=skeleton.get_layout(model_layout).root_joints,
        prog=progress.Progress(len(rows), name='lift', unit='pose',
                               enabled=None if config.progress else False),
        stop_after_chunks=stop_after_chunks)
  seconds = time.perf_counter() - t0
  if not main:
    return {'process_index': jax.process_index()}
  # The joint-wise mean of the hypotheses (the better non-oracle pick on
  # SyRIP when S > 1; with S = 1 the only hypothesis), placed at the mean
  # of their root positions.
  pose = out['pose_mean']
  n = len(pose)
  trans = out['translation_mean']
  # Rows the 2D cannot determine, or whose fit diverged: NaN, with a reason.
  status, reasons = validity.input_status(
      shard_inputs['keypoints'], shard_inputs['confidence'],
      min_confident_joints=cfg.min_confident_joints)
  err = _reprojection_error(pose + trans[:, None], shard_inputs)
  status, reasons = validity.output_status(status, reasons, pose, trans, err)
  pose = validity.mask_rows(pose, status)
  trans = validity.mask_rows(trans, status)
  hyps = validity.mask_rows(out['pose'], status)
  err = validity.mask_rows(err, status)
  num_flagged = int((status != validity.OK).sum())
  names = list(skeleton.get_layout(model_layout).joint_names)
  frames = np.asarray(out.get('frame', np.asarray(data['frame'])[out['row']]))
  tracks = np.asarray(out.get('track', np.asarray(data['track'])[out['row']]))
  # Uncertainty: per joint, the RMS distance (mm) of the root-centred
  # hypotheses from their mean (the reported pose); 0 with S = 1.
  spread = validity.mask_rows(np.asarray(metrics.hypothesis_spread(
      out['pose'], root_joints=skeleton.get_layout(model_layout).root_joints
  )) * 1000.0, status)
  npz_path = workdir / 'lifted.npz'
  np.savez_compressed(
      npz_path, frame=frames, track=tracks,
      joint_spread_mm=spread.astype(np.float32),
      poses_3d=pose.astype(np.float32),
      translation=trans.astype(np.float32),
      poses_3d_abs=(pose + trans[:, None]).astype(np.float32),
      reproj_error=err.astype(np.float32), joint_names=np.array(names),
      hypotheses_3d=hyps.astype(np.float32),
      status=status, reason=np.array(reasons, dtype=str),
      K=shard_inputs['K'], rows=out['row'],
      num_rows_total=np.int64(num_rows_total),
      **{k: out[k] for k in ('valid',) if k in out})
  doc = {
      'source': src, 'input_layout': layout, 'model_layout': model_layout,
      'joint_names': names, 'units': 'metres (reproj_error: pixels)',
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
      'num_flagged': num_flagged,
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
                for i in range(n)],
  }
  if 'valid' in out:  # sequence mode: flagged frames carry no pose
    doc['sequence'] = identity['sequence']
    for i, p in enumerate(doc['poses']):
      p.update(track=int(out['track'][i]), frame=int(out['frame'][i]),
               valid=bool(out['valid'][i]))
      if not out['valid'][i]:
        p.update(pose_3d=None, translation=None, reproj_error_px=None)
  if int(pc.num_shards) > 1:
    doc['shard'] = {'index': int(pc.shard_index),
                    'count': int(pc.num_shards)}
  doc['timing'] = dict(out['timing'], seconds=seconds,
                       devices=jax.device_count(),
                       processes=jax.process_count())
  json_path = workdir / 'lifted.json'
  json_path.write_text(json.dumps(validity.jsonable(doc), indent=1,
                                  allow_nan=False) + '\n')
  pictures = []
  ok = status == validity.OK
  # Pictures of the first confident poses (flagged rows have nothing to
  # draw).
  sel = np.flatnonzero(ok)[:max(1, int(config.eval.num_pictures))]
  if lc.pictures and len(sel):
    from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
    pictures.append(viz.skeleton_grid([pose[sel]], model_layout,
                                      workdir / 'lifted_3d.png',
                                      titles=['lifted 3D']))
    proj = np.asarray(camera.project(pose[sel] + trans[sel, None],
                                     shard_inputs['K'][sel]))
    wh = np.asarray(data['image_wh'])[out['row'][sel]]
    pictures.append(viz.reprojection_overlay(
        shard_inputs['keypoints'][sel], proj, model_layout,
        workdir / 'lifted_reprojection.png',
        image_wh=wh if (wh > 0).all() else None,
        confidence=shard_inputs['confidence'][sel]))
  exports = []
  if export_formats:
    proj_all = np.asarray(camera.project(pose + trans[:, None],
                                         shard_inputs['K']))
    exports = export_lib.export_all(
        workdir, export_formats, poses_abs=pose + trans[:, None],
        layout=model_layout, frames=frames, tracks=tracks,
        frame_rate=float(lc.get('frame_rate', 30.0)),
        trc_units=lc.get('trc_units', 'm'), spread_mm=spread,
        keypoints_2d=shard_inputs['keypoints'],
        confidence=shard_inputs['confidence'], projected_2d=proj_all,
        image_wh=np.asarray(data['image_wh'])[out['row']])
  if det is not None and int(pc.num_shards) == 1:
    frames_3d = video.lift_outputs(det, npz_path, data['frame_rows'],
                                   workdir, model_layout)
    if lc.render_video:
      video.render(det, frames_3d['poses_3d'], workdir / 'lifted_video.mp4',
                   model_layout, picture_path=workdir / 'lifted_video.png',
                   show_progress=None if config.progress else False)
      pictures += [workdir / 'lifted_video.mp4', workdir / 'lifted_video.png']
  mean_err = float(err[ok].mean()) if ok.any() else float('nan')
  flagged = (f'; {num_flagged} flagged (NaN rows, see status/reason in '
             f'{json_path.name}): {validity.counts(status)}'
             if num_flagged else '')
  logging.info('lifted %d poses from %s: mean reprojection error %.2f px '
               'over %d confident poses%s; wrote %s', n, src, mean_err,
               int(ok.sum()), flagged, npz_path)
  print(f'lifted {n} poses -> {npz_path}, {json_path} '
        f'(mean reprojection error {mean_err:.2f} px over {int(ok.sum())} '
        f'confident poses{flagged})')
  return {'num_poses': n, 'num_flagged': num_flagged,
          'npz': str(npz_path),
          'json': str(json_path), 'pictures': [str(p) for p in pictures],
          'exports': exports}
