"""What `--config.mode=lift` reads: 2D keypoints, image sizes and cameras.

`load_input` reads a COCO keypoint JSON (dataset or detection results;
`zedoi_jax.data.coco.load_coco_keypoints`), a .npy / .npz array [N, J, 2]
or [N, J, 3] (third column = confidence in [0, 1]) in a given layout, or a
detector's files (OpenPose, AlphaPose, MMPose, MediaPipe, DeepLabCut:
`zedoi_jax.data.detectors`, format detected from the content by default).
`camera_setup` gives every row its K: a 3x3 K from a .npy, .json or
whitespace .txt file (`load_camera`), an [F, 3, 3] .npy (per frame), or a
calibration .toml (OpenCV / Pose2Sim; its lens distortion is removed from
the 2D), else `camera.default_K` of the image size (with a warning); every
K from a file is bounds-checked. `file_digest` / `input_digest` identify the
input files of a resumable job.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
from typing import Any
import warnings
import zipfile
import zlib

import numpy as np

from zedoi_jax import camera
from zedoi_jax import validity
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError


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
  with open(path, 'rb') as f:
    if hasattr(hashlib, 'file_digest'):  # Python >= 3.11
      return hashlib.file_digest(f, 'sha256').hexdigest()
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
    return h.hexdigest()


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




