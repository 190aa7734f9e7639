"""Lift mode: 3D poses from a user's 2D keypoints.

`lift(config, workdir)` is the entry of `config.mode = 'lift'`. Input
(`config.lift.input`): a COCO keypoint JSON (dataset or detection results;
`zedoi_jax.data.coco.load_coco_keypoints`) or a .npy / .npz array [N, J, 2]
or [N, J, 3] (third column = confidence in [0, 1]) in layout
`config.lift.layout`. Camera: a 3x3 K from `config.lift.camera` (.npy,
.json or whitespace .txt), else `camera.default_K` of the image size (with a
warning); the image size comes from the JSON's images or
`config.lift.image_width/height`.

Writes workdir/lifted.npz (poses_3d [N, 17, 3] metres, camera frame, root-
relative; translation [N, 3]; poses_3d_abs = poses_3d + translation;
reproj_error [N] px; joint_names), workdir/lifted.json (the same per pose,
with units and frame spelled out) and, if `config.lift.pictures`, PNGs of
3D skeletons and of the reprojection over the input 2D.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Any

from absl import logging
import jax
import ml_collections
import numpy as np

from zedoi_jax import camera
from zedoi_jax import fit
from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

FRAME = ('camera frame (OpenCV): x right, y down, z forward; metres; '
         'poses_3d root-relative (root = pelvis), poses_3d_abs = poses_3d + '
         'translation')


def load_camera(path: str) -> np.ndarray:
  """A 3x3 K from .npy, .json (a nested list or {'K': ...}) or .txt."""
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f'camera file not found: {p}')
  suffix = p.suffix.lower()
  try:
    if suffix == '.npy':
      k = np.load(p, allow_pickle=False)
    elif suffix == '.json':
      doc = json.loads(p.read_text())
      k = np.asarray(doc['K'] if isinstance(doc, dict) else doc, np.float64)
    elif suffix in ('.txt', '.csv'):
      k = np.loadtxt(p, delimiter=',' if suffix == '.csv' else None)
    else:
      raise InputError(f'unknown camera file type {suffix!r} (use .npy, '
                       '.json or .txt)', source=str(p), field='suffix')
  except (ValueError, KeyError, OSError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f'cannot read a 3x3 matrix: {e}', source=str(p),
                     field='K') from e
  return camera.validate_K(k, source=str(p))


def load_input(path: str, layout: str, *, image_width: int = 0,
               image_height: int = 0) -> dict[str, Any]:
  """Reads 2D keypoints (COCO JSON or array) and the image size.

  Returns:
    {'keypoints' [N, J, 2], 'confidence' [N, J], 'image_wh' [N, 2] (0 =
    unknown), 'names' list of N str, 'source' str}.
  """
  p = pathlib.Path(path)
  if not path:
    raise InputError('no input given: set --config.lift.input',
                     source='config', field='lift.input')
  if not p.is_file():
    raise FileNotFoundError(f'lift input not found: {p}')
  suffix = p.suffix.lower()
  src = str(p)
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
      if suffix == '.npy':
        arr = np.load(p, allow_pickle=False)
        field = 'array'
      else:
        with np.load(p, allow_pickle=False) as z:
          keys = list(z.keys())
          field = next((k for k in ('keypoints', 'keypoints_2d', 'poses_2d')
                        if k in keys), keys[0] if len(keys) == 1 else None)
          if field is None:
            raise InputError(f'npz holds {keys}; name the array '
                             "'keypoints'", source=src, field='keypoints')
          arr = z[field]
    except (ValueError, OSError) as e:
      if isinstance(e, InputError):
        raise
      raise InputError(f'cannot read the array: {e}', source=src,
                       field='array') from e
    if not np.issubdtype(np.asarray(arr).dtype, np.number):
      raise InputError(f'not numeric (dtype {arr.dtype})', source=src,
                       field=field)
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
  return {'keypoints': kp, 'confidence': conf, 'image_wh': wh,
          'names': names, 'source': src}


def _cameras(cam_path: str, wh: np.ndarray, src: str) -> np.ndarray:
  n = len(wh)
  if cam_path:
    k = load_camera(cam_path)
    if k.ndim == 3 and k.shape[0] != n:
      raise InputError(f'{k.shape[0]} cameras for {n} poses',
                       source=cam_path, field='K')
    return np.broadcast_to(k, (n, 3, 3)).astype(np.float32)
  if (wh <= 0).any():
    raise InputError(
        'no camera (lift.camera) and no image size: the input carries no '
        'image width/height; pass --config.lift.camera=K.npy or '
        '--config.lift.image_width/image_height', source=src,
        field='lift.camera')
  return np.asarray(camera.default_K(wh[:, 0], wh[:, 1]), np.float32)


def lift(config: ml_collections.ConfigDict,
         workdir: str | os.PathLike) -> dict[str, Any]:
  """Lifts the 2D keypoints of `config.lift.input` to 3D.

  Args:
    config: the run config (mode 'lift').
    workdir: output folder.

  Returns:
    {'num_poses', 'npz', 'json', 'pictures'} paths and counts.
  """
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  lc = config.lift
  layout = skeleton.get_layout(lc.layout, source='config',
                               field='lift.layout').name
  data = load_input(lc.input, layout, image_width=int(lc.image_width),
                    image_height=int(lc.image_height))
  src = data['source']
  K = _cameras(lc.camera, data['image_wh'], src)
  model = load.load_pose_model(config.init.prior, config.init.adapted)
  model_layout = model.meta.get('layout', 'h36m17')
  inputs = fit.prepare_inputs(data['keypoints'], data['confidence'], K,
                              layout=layout, model_layout=model_layout,
                              source=src)
  cfg = fit.FitConfig.from_dict(dict(config.fit.to_dict(),
                                     layout=model_layout,
                                     trajectory_frames=0))
  mesh = (jax.sharding.Mesh(np.array(jax.devices()), ('data',))
          if jax.device_count() > 1 else None)
  fit_batch = fit.make_fit_fn(score_fn=model.score_fn, sde=model.sde,
                              scale=model.scale, cfg=cfg, mesh=mesh)
  rng = jax.random.fold_in(jax.random.key(config.seed), 2)
  out = fit.fit_dataset(fit_batch, inputs, batch_size=cfg.batch_size,
                        rng=rng, params=model.params)
  pose = out['pose_min_reproj']
  rows = np.arange(len(pose))
  trans = out['translation_min_reproj']
  err = out['reproj_error'][rows, out['best_hypothesis']]
  names = list(skeleton.get_layout(model_layout).joint_names)
  npz_path = workdir / 'lifted.npz'
  np.savez_compressed(
      npz_path, poses_3d=pose.astype(np.float32),
      translation=trans.astype(np.float32),
      poses_3d_abs=(pose + trans[:, None]).astype(np.float32),
      reproj_error=err.astype(np.float32), joint_names=np.array(names),
      hypotheses_3d=out['pose'].astype(np.float32), K=inputs['K'])
  doc = {
      'source': src, 'input_layout': layout, 'model_layout': model_layout,
      'joint_names': names, 'units': 'metres (reproj_error: pixels)',
      'frame': FRAME, 'num_hypotheses': cfg.num_hypotheses,
      'selection': 'hypothesis with the lowest reprojection error',
      'camera': lc.camera or 'default_K(image size) (assumed)',
      'fit_config': dataclasses.asdict(cfg),
      'nan_keypoints': int(inputs['num_nan']),
      'poses': [{'name': data['names'][i],
                 'pose_3d': pose[i].round(5).tolist(),
                 'translation': trans[i].round(5).tolist(),
                 'reproj_error_px': round(float(err[i]), 3)}
                for i in range(len(pose))],
  }
  json_path = workdir / 'lifted.json'
  json_path.write_text(json.dumps(doc, indent=1) + '\n')
  pictures = []
  if lc.pictures:
    from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
    num = max(1, min(int(config.eval.num_pictures), len(pose)))
    pictures.append(viz.skeleton_grid([pose[:num]], model_layout,
                                      workdir / 'lifted_3d.png',
                                      titles=['lifted 3D']))
    proj = np.asarray(camera.project(pose[:num] + trans[:num, None],
                                     inputs['K'][:num]))
    wh = data['image_wh'][0]
    pictures.append(viz.reprojection_overlay(
        inputs['keypoints'][:num], proj, model_layout,
        workdir / 'lifted_reprojection.png',
        image_wh=wh if (wh > 0).all() else None,
        confidence=inputs['confidence'][:num]))
  logging.info('lifted %d poses from %s: mean reprojection error %.2f px; '
               'wrote %s', len(pose), src, float(err.mean()), npz_path)
  print(f'lifted {len(pose)} poses -> {npz_path}, {json_path} '
        f'(mean reprojection error {float(err.mean()):.2f} px)')
  return {'num_poses': len(pose), 'npz': str(npz_path),
          'json': str(json_path), 'pictures': [str(p) for p in pictures]}
