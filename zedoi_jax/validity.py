"""Which fitted rows can be trusted, and bounds on what a user may feed in.

No silent wrong answers: a pose whose 2D input cannot determine a 3D pose
(too few confident joints, every keypoint on one pixel) is *flagged*, not
fitted into a confident-looking answer. Its output row is NaN, it carries a
per-row `status` (see `STATUSES`) and a reason, and the run's summary counts
it. Values that are not finite are written to JSON as `null`, never as a
number (`zedoi_jax.jsonio`).

Bounds refuse inputs that can only be corrupt or in the wrong unit before
anything is compiled: keypoints far outside the image (or beyond
`MAX_ABS_PIXELS` when the image size is unknown), and focal lengths outside
a sane range relative to the image; a skewed K gets a warning.

Host-side, numpy only.
"""

from __future__ import annotations

from absl import logging
import numpy as np

from zedoi_jax.errors import InputError

# Per-row status values (the 'status' arrays and JSON fields).
OK = 'ok'
TOO_FEW_JOINTS = 'too_few_joints'
DEGENERATE_2D = 'degenerate_2d'
NON_FINITE_FIT = 'non_finite_fit'
STATUSES = (OK, TOO_FEW_JOINTS, DEGENERATE_2D, NON_FINITE_FIT)
# The confident keypoints of a row must span at least this many pixels (max
# extent over x and y); less is one point seen several times.
MIN_SPREAD_PX = 1.0
# Keypoints further than this many image sizes (max(width, height)) from the
# image are refused, as are keypoints beyond MAX_ABS_PIXELS when the image
# size is unknown.
MAX_IMAGE_MULTIPLE = 10.0
MAX_ABS_PIXELS = 1e6
# Sane pinhole focal lengths, relative to max(width, height): 0.05 is a
# field of view of about 170 degrees (beyond it only fisheye lenses, which a
# pinhole K cannot describe), 50 about 1 degree. Without an image size: in
# pixels.
FOCAL_RANGE_RELATIVE = (0.05, 50.0)
FOCAL_RANGE_PIXELS = (1.0, 1e6)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def input_status(keypoints: np.ndarray, confidence: np.ndarray, *,
                 min_confident_joints: int) -> tuple[np.ndarray, list[str]]:
  """Status of each row's 2D input (model layout), before fitting.

  A joint is confident when its confidence is > 0 (the weight the fit gives
  it; 0 = missing, NaN keypoints count as missing).

  Args:
    keypoints: [N, J, 2] pixels.
    confidence: [N, J] in [0, 1].
    min_confident_joints: rows with fewer confident joints are flagged
      TOO_FEW_JOINTS.

  Returns:
    (status [N] str array, reasons: N strings, '' for OK rows).
  """
  kp = np.asarray(keypoints, np.float64)
  conf = np.asarray(confidence, np.float64)
  seen = (conf > 0) & np.isfinite(kp).all(-1) & np.isfinite(conf)
  count = seen.sum(-1)
  status = np.full(len(kp), OK, dtype='<U16')
  reasons = [''] * len(kp)
  lo = np.where(seen[..., None], kp, np.inf).min(1)
  hi = np.where(seen[..., None], kp, -np.inf).max(1)
  with np.errstate(invalid='ignore'):
    spread = np.where(count > 0, (hi - lo).max(-1), 0.0)
  for i in range(len(kp)):
    if count[i] < min_confident_joints:
      status[i] = TOO_FEW_JOINTS
      reasons[i] = (f'{int(count[i])} confident joint(s) (confidence > 0), '
                    f'fewer than fit.min_confident_joints = '
                    f'{min_confident_joints}')
    elif spread[i] < MIN_SPREAD_PX:
      status[i] = DEGENERATE_2D
      reasons[i] = (f'the {int(count[i])} confident keypoints span '
                    f'{spread[i]:.3g} px (< {MIN_SPREAD_PX} px): one point')
  return status, reasons


def output_status(status: np.ndarray, reasons: list[str],
                  *arrays: np.ndarray) -> tuple[np.ndarray, list[str]]:
  """Flags OK rows whose fitted outputs (leading axis N) are not finite."""
  status = np.array(status, copy=True)
  reasons = list(reasons)
  bad = np.zeros(len(status), bool)
  for a in arrays:
    a = np.asarray(a, np.float64).reshape(len(status), -1)
    bad |= ~np.isfinite(a).all(-1)
  for i in np.flatnonzero(bad & (status == OK)):
    status[i] = NON_FINITE_FIT
    reasons[i] = 'the fit diverged (non-finite pose, translation or error)'
  return status, reasons


def mask_rows(x: np.ndarray, status: np.ndarray) -> np.ndarray:
  """`x` (leading axis N) with every non-OK row set to NaN (float copy)."""
  x = np.array(x, dtype=np.result_type(x, np.float32), copy=True)
  x[np.asarray(status) != OK] = np.nan
  return x


def counts(status: np.ndarray) -> dict[str, int]:
  """{status: number of rows} over every status value (zeros included)."""
  status = np.asarray(status)
  return {s: int((status == s).sum()) for s in STATUSES}


def reprojection_error(projected: np.ndarray, keypoints: np.ndarray,
                       confidence: np.ndarray) -> np.ndarray:
  """Confidence-weighted mean pixel distance [N]; NaN where no joint has
  weight (nothing visible: there is no error to report, not 0 px)."""
  d = np.linalg.norm(np.asarray(projected, np.float64) -
                     np.asarray(keypoints, np.float64), axis=-1)
  w = np.asarray(confidence, np.float64)
  total = w.sum(-1)
  with np.errstate(invalid='ignore', divide='ignore'):
    err = (w * np.where(w > 0, d, 0.0)).sum(-1) / total
  return np.where(total > 0, err, np.nan)


def check_keypoint_bounds(keypoints: np.ndarray, image_wh: np.ndarray, *,
                          source: str, field: str = 'keypoints') -> None:
  """Refuses finite keypoints no camera could have seen.

  Args:
    keypoints: [N, J, 2] pixels (NaN = missing, allowed).
    image_wh: [N, 2] image sizes (<= 0 = unknown).
    source: the input file (for the error).
    field: the field holding the keypoints.

  Raises:
    InputError: naming `source` and `field`, for a value too large for
      float32, or further than MAX_IMAGE_MULTIPLE image sizes outside the
      image (MAX_ABS_PIXELS when the size is unknown).
  """
  kp = np.asarray(keypoints, np.float64)
  finite = np.isfinite(kp)
  with np.errstate(invalid='ignore'):
    huge = finite & (np.abs(kp) > _FLOAT32_MAX)
  if huge.any():
    first = tuple(int(i) for i in np.argwhere(huge)[0])
    raise InputError(f'keypoint value {kp[first]:.3g} at index {first} is too '
                     'large for float32 (corrupt file or wrong unit?)',
                     source=source, field=field)
  wh = np.asarray(image_wh, np.float64).reshape(-1, 2)
  wh = np.broadcast_to(wh, (len(kp), 2)) if len(wh) == 1 else wh
  size = wh.max(-1)
  known = (wh > 0).all(-1)
  lo = np.where(known, -MAX_IMAGE_MULTIPLE * size, -MAX_ABS_PIXELS)
  hi_x = np.where(known, wh[:, 0] + MAX_IMAGE_MULTIPLE * size, MAX_ABS_PIXELS)
  hi_y = np.where(known, wh[:, 1] + MAX_IMAGE_MULTIPLE * size, MAX_ABS_PIXELS)
  hi = np.stack([hi_x, hi_y], -1)[:, None, :]
  with np.errstate(invalid='ignore'):
    out = finite & ((kp < lo[:, None, None]) | (kp > hi))
  if out.any():
    first = tuple(int(i) for i in np.argwhere(out)[0])
    n = first[0]
    limit = (f'{MAX_IMAGE_MULTIPLE:g} image sizes outside the '
             f'{int(wh[n, 0])}x{int(wh[n, 1])} image' if known[n] else
             f'{MAX_ABS_PIXELS:g} px (no image size known)')
    raise InputError(f'{int(out.sum())} keypoint coordinate(s) beyond '
                     f'{limit}, first {kp[first]:.6g} at index {first}; mark '
                     'missing joints with NaN or confidence 0',
                     source=source, field=field)


def check_camera(K: np.ndarray, image_wh: np.ndarray, *,
                 source: str) -> None:
  """Refuses absurd focal lengths; warns about skew.

  Args:
    K: [N, 3, 3] intrinsics (already through `camera.validate_K`: finite,
      f > 0).
    image_wh: [N, 2] image sizes (<= 0 = unknown).
    source: where K came from (for the error).

  Raises:
    InputError: naming `source` and the field, for a focal length outside
      FOCAL_RANGE_RELATIVE x max(width, height) (FOCAL_RANGE_PIXELS without
      an image size), or not finite and positive.
  """
  k = np.asarray(K, np.float64).reshape(-1, 3, 3)
  if not np.isfinite(k).all():
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(k))[0])
    raise InputError(f'K{list(first[1:])} of matrix {first[0]} is not finite '
                     'in float32 (a value beyond 3.4e38?)', source=source,
                     field='K')
  wh = np.asarray(image_wh, np.float64).reshape(-1, 2)
  if len(wh) != len(k):
    wh = np.broadcast_to(wh[:1], (len(k), 2))
  size = wh.max(-1)
  known = (wh > 0).all(-1)
  for name, (r, c) in (('fx', (0, 0)), ('fy', (1, 1))):
    f = k[:, r, c]
    bad = ~np.isfinite(f) | (f <= 0)
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      raise InputError(f'{name} = {f[i]!r} must be finite and > 0',
                       source=source, field=f'K[{r},{c}] ({name})')
    lo = np.where(known, FOCAL_RANGE_RELATIVE[0] * size, FOCAL_RANGE_PIXELS[0])
    hi = np.where(known, FOCAL_RANGE_RELATIVE[1] * size, FOCAL_RANGE_PIXELS[1])
    bad = (f < lo) | (f > hi)
    if bad.any():
      i = int(np.flatnonzero(bad)[0])
      rng = (f'{FOCAL_RANGE_RELATIVE[0]:g}..{FOCAL_RANGE_RELATIVE[1]:g} x '
             f'the image size {int(size[i])} px' if known[i] else
             f'{FOCAL_RANGE_PIXELS[0]:g}..{FOCAL_RANGE_PIXELS[1]:g} px (no '
             'image size known)')
      raise InputError(f'{name} = {f[i]:.6g} px is outside the sane range '
                       f'{rng} (a focal length in other units?)',
                       source=source, field=f'K[{r},{c}] ({name})')
  skew = k[:, 0, 1]
  if np.any(np.abs(skew) > 1e-6 * k[:, 0, 0]):
    i = int(np.flatnonzero(np.abs(skew) > 1e-6 * k[:, 0, 0])[0])
    logging.warning('%s: field K[0,1] (skew) = %g is not 0: real cameras '
                    'have no skew (is K transposed?); it is used as given',
                    source, skew[i])
