"""Pinhole cameras: intrinsics, projection, rays and back-projection.

Camera frame as everywhere in the project (OpenCV): x right, y down, z
forward, metres; pixels (u, v) with u along x and v along y. Intrinsics are
3x3 matrices K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]] (s: skew, usually 0).

Every function broadcasts over leading batch dimensions: K `[..., 3, 3]`
against points `[..., J, 3]` (one K per pose, shared by its J joints). They
keep the array module of their inputs (numpy in host-side loaders, jnp under
`jit`); `validate_K` is the host-side check for user-supplied K.

Cameras per dataset (see docs/method.md): SyRIP has no calibration, and
ZeDO-i assumes f = 2000 px with the principal point at the image centre
(`syrip_K`); MINI-RGBD has its Kinect intrinsics (`MINI_RGBD_K`); users' own
keypoints get `default_K` with a warning unless they pass K.
"""

from __future__ import annotations

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax.errors import InputError

# SyRIP's assumed focal length (pixels), as in ZeDO-i.
SYRIP_FOCAL_PX = 2000.0


def _xp(*arrays):
  """jnp if any input is a jax array (or tracer), else numpy."""
  return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _float(xp, x):
  """x as a floating array: float32 unless it is already a float64 array."""
  if not isinstance(x, (np.ndarray, jax.Array)):
    # Python scalars and lists would default to float64 in numpy.
    return xp.asarray(x, dtype=xp.float32)
  x = xp.asarray(x)
  if not xp.issubdtype(x.dtype, xp.floating):
    return x.astype(xp.float32)
  return x.astype(xp.result_type(x.dtype, xp.float32))


def intrinsics(fx, fy, cx, cy):
  """Builds pinhole intrinsics (no skew).

  Args:
    fx, fy: focal lengths in pixels, scalars or `[...]` arrays.
    cx, cy: principal point in pixels, scalars or `[...]` arrays.

  Returns:
    `[..., 3, 3]` K (the broadcast shape of the inputs), float32 unless an
    input is a float64 array.
  """
  xp = _xp(fx, fy, cx, cy)
  fx, fy, cx, cy = xp.broadcast_arrays(*(_float(xp, v)
                                         for v in (fx, fy, cx, cy)))
  zero = xp.zeros_like(fx)
  one = xp.ones_like(fx)
  rows = [xp.stack([fx, zero, cx], axis=-1),
          xp.stack([zero, fy, cy], axis=-1),
          xp.stack([zero, zero, one], axis=-1)]
  return xp.stack(rows, axis=-2)


def syrip_K(width, height):
  """SyRIP's assumed camera: f = 2000 px, principal point at the centre.

  Args:
    width, height: image size in pixels, scalars or `[...]` arrays.

  Returns:
    `[..., 3, 3]` K.
  """
  xp = _xp(width, height)
  width, height = _float(xp, width), _float(xp, height)
  f = xp.full_like(width * height, SYRIP_FOCAL_PX)
  return intrinsics(f, f, width / 2, height / 2)


# MINI-RGBD's Kinect intrinsics (640x480 images). Read-only.
MINI_RGBD_K = np.array([[588.68, 0.0, 322.22],
                        [0.0, 590.26, 237.47],
                        [0.0, 0.0, 1.0]], np.float32)
MINI_RGBD_K.flags.writeable = False


def default_K(width, height, *, warn: bool = True):
  """A guessed camera for keypoints that come without intrinsics.

  Assumes f = max(width, height) pixels (a horizontal field of view of about
  53 degrees for a landscape image, typical of phone and webcam footage) and
  the principal point at the image centre. Depth and scale of the lifted
  pose depend on f: pass the real K when you have it.

  Args:
    width, height: image size in pixels, scalars or `[...]` arrays.
    warn: log a warning naming the assumption.

  Returns:
    `[..., 3, 3]` K.
  """
  xp = _xp(width, height)
  width, height = _float(xp, width), _float(xp, height)
  f = xp.maximum(width, height)
  if warn:
    logging.warning(
        'No camera intrinsics given: assuming a pinhole camera with focal '
        'length f = max(width, height) px (about 53 deg field of view) and '
        'the principal point at the image centre. Pass K for metric depth.')
  return intrinsics(f, f, width / 2, height / 2)


def validate_K(K, source: str = 'K') -> np.ndarray:
  """Checks user-supplied intrinsics on the host.

  Args:
    K: `[3, 3]` or `[N, 3, 3]` array-like.
    source: where K came from (file or flag name), for the error message.

  Returns:
    K as a float32 numpy array of the same shape.

  Raises:
    InputError: wrong shape, non-finite values, fx or fy not positive, or a
      last row other than (0, 0, 1); the message names `source`, the field
      and the first bad matrix.
  """
  try:
    k = np.asarray(K, dtype=np.float64)
  except (TypeError, ValueError) as e:
    raise InputError(f'K is not a numeric array ({e})', source=source,
                     field='K') from None
  if k.shape[-2:] != (3, 3) or k.ndim not in (2, 3):
    raise InputError(f'expected shape (3, 3) or (N, 3, 3), got {k.shape}',
                     source=source, field='K')
  batch = k.reshape(-1, 3, 3)

  def first_bad(bad):
    i = int(np.flatnonzero(bad)[0])
    return f' (matrix {i})' if k.ndim == 3 else ''

  bad = ~np.isfinite(batch).all(axis=(1, 2))
  if bad.any():
    raise InputError(f'non-finite values{first_bad(bad)}', source=source,
                     field='K')
  for name, (r, c) in (('fx', (0, 0)), ('fy', (1, 1))):
    bad = batch[:, r, c] <= 0
    if bad.any():
      raise InputError(f'{name} = K[{r},{c}] must be > 0{first_bad(bad)}',
                       source=source, field=f'K[{r},{c}] ({name})')
  bad = ~np.isclose(batch[:, 2], [0.0, 0.0, 1.0], atol=1e-6).all(axis=1)
  if bad.any():
    raise InputError(f'last row must be (0, 0, 1){first_bad(bad)}',
                     source=source, field='K[2,:]')
  return k.astype(np.float32)


def project(points, K):
  """Projects camera-frame points to pixels.

  Args:
    points: `[..., J, 3]` metres, camera frame; z must be > 0 (in front of
      the camera), else the pixels are meaningless.
    K: `[..., 3, 3]` intrinsics, broadcast against the leading dims of
      `points` (one K per pose).

  Returns:
    `[..., J, 2]` pixels (u, v).
  """
  xp = _xp(points, K)
  points, K = _float(xp, points), _float(xp, K)
  p = (K[..., None, :, :] @ points[..., :, None])[..., 0]
  return p[..., :2] / p[..., 2:3]


def _normalized(uv, K):
  """K^-1 [u, v, 1] scaled to z = 1: `[..., J, 3]`."""
  xp = _xp(uv, K)
  uv, K = _float(xp, uv), _float(xp, K)
  h = xp.concatenate([uv, xp.ones_like(uv[..., :1])], axis=-1)
  d = (xp.linalg.inv(K)[..., None, :, :] @ h[..., :, None])[..., 0]
  # For a valid K the z of K^-1 [u, v, 1] is 1; dividing makes it exact.
  return d / d[..., 2:3]


def rays(uv, K):
  """Unit viewing rays through pixels.

  Args:
    uv: `[..., J, 2]` pixels.
    K: `[..., 3, 3]` intrinsics, broadcast against the leading dims of `uv`.

  Returns:
    `[..., J, 3]` unit vectors (z > 0) in the camera frame: every point
    `t * ray` with t > 0 projects to `uv`.
  """
  xp = _xp(uv, K)
  d = _normalized(uv, K)
  return d / xp.linalg.norm(d, axis=-1, keepdims=True)


def backproject(uv, depth, K):
  """Lifts pixels to 3D points with a given depth.

  Args:
    uv: `[..., J, 2]` pixels.
    depth: `[..., J]` z in metres (distance along the optical axis, not
      along the ray).
    K: `[..., 3, 3]` intrinsics, broadcast against the leading dims of `uv`.

  Returns:
    `[..., J, 3]` camera-frame points with z = depth that project to `uv`.
  """
  xp = _xp(uv, depth, K)
  return _normalized(uv, K) * _float(xp, depth)[..., None]


# ------------------------------------------------------------ distortion
# OpenCV's radial-tangential lens model on normalised coordinates
# (x, y) = K^-1 (u, v): r^2 = x^2 + y^2,
#   x_d = x (1 + k1 r^2 + k2 r^4 + k3 r^6) + 2 p1 x y + p2 (r^2 + 2 x^2)
#   y_d = y (1 + k1 r^2 + k2 r^4 + k3 r^6) + p1 (r^2 + 2 y^2) + 2 p2 x y
# with coefficients [k1, k2, p1, p2] or [k1, k2, p1, p2, k3] (OpenCV's
# `distCoeffs` order; Pose2Sim's `distortions`). Host-side numpy.


def distortion_coefficients(dist, source: str = 'distortions') -> np.ndarray:
  """[k1, k2, p1, p2(, k3)] as 5 float64 (k3 = 0 if absent); InputError
  naming `source` for any other length or a non-finite value."""
  d = np.asarray(dist, np.float64).reshape(-1)
  if d.size not in (4, 5) or not np.isfinite(d).all():
    raise InputError(
        f'distortion must be 4 or 5 finite numbers [k1, k2, p1, p2(, k3)] '
        f'(the rational and thin-prism models are not supported), got '
        f'{d.tolist()}', source=source, field='distortions')
  return np.concatenate([d, np.zeros(5 - d.size)])


def _distort_normalised(x, y, d):
  k1, k2, p1, p2, k3 = d
  r2 = x * x + y * y
  radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
  xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
  yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
  return xd, yd


def _to_normalised(uv, K):
  K = np.asarray(K, np.float64)
  fx, fy, cx, cy, s = (K[..., 0, 0], K[..., 1, 1], K[..., 0, 2],
                       K[..., 1, 2], K[..., 0, 1])
  fx, fy, cx, cy, s = (np.asarray(v)[..., None] for v in (fx, fy, cx, cy, s))
  y = (uv[..., 1] - cy) / fy
  x = (uv[..., 0] - cx - s * y) / fx
  return x, y, (fx, fy, cx, cy, s)


def _to_pixels(x, y, k):
  fx, fy, cx, cy, s = k
  return np.stack([fx * x + s * y + cx, fy * y + cy], axis=-1)


def distort_points(uv, K, dist, *, source: str = 'distortions'):
  """Applies lens distortion: ideal pinhole pixels -> observed pixels.

  Args:
    uv: `[..., J, 2]` undistorted pixels.
    K: `[3, 3]` or `[..., 3, 3]` intrinsics (broadcast over the leading dims
      of `uv`).
    dist: [k1, k2, p1, p2] or [k1, k2, p1, p2, k3] (OpenCV order).
    source: where `dist` came from, for errors.

  Returns:
    `[..., J, 2]` float64 distorted pixels.
  """
  d = distortion_coefficients(dist, source)
  uv = np.asarray(uv, np.float64)
  x, y, k = _to_normalised(uv, K)
  return _to_pixels(*_distort_normalised(x, y, d), k)


def undistort_points(uv, K, dist, *, iterations: int = 100,
                     tol_px: float = 1e-6, source: str = 'distortions'):
  """Removes lens distortion: observed pixels -> ideal pinhole pixels.

  The inverse of `distort_points` by fixed-point iteration (as OpenCV's
  `undistortPoints`): x <- (x_d - tangential(x)) / radial(x), from x = x_d,
  until the forward model reproduces the input to `tol_px` pixels. The
  output keeps the same K (pixels, not normalised coordinates).

  Args:
    uv: `[..., J, 2]` observed (distorted) pixels; NaN stays NaN.
    K: `[3, 3]` or `[..., 3, 3]` intrinsics.
    dist: [k1, k2, p1, p2] or [k1, k2, p1, p2, k3].
    iterations: at most this many fixed-point steps.
    tol_px: stop when every point re-distorts to within this many pixels.
    source: where `dist` came from, for errors.

  Returns:
    `[..., J, 2]` float64 undistorted pixels.

  Raises:
    InputError: if the iteration does not converge to within 0.1 px for
      some point (distortion too strong to invert there, e.g. far outside
      the calibrated field of view).
  """
  d = distortion_coefficients(dist, source)
  uv = np.asarray(uv, np.float64)
  xd, yd, k = _to_normalised(uv, K)
  x, y = xd.copy(), yd.copy()
  k1, k2, p1, p2, k3 = d
  fx, fy = k[0], k[1]
  for _ in range(iterations):
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    x = (xd - dx) / radial
    y = (yd - dy) / radial
    ex, ey = _distort_normalised(x, y, d)
    err = np.hypot((ex - xd) * fx, (ey - yd) * fy)
    if not np.any(err > tol_px):
      break
  bad = err > 0.1
  if np.any(bad):
    raise InputError(
        f'cannot undistort {int(bad.sum())} points (the distortion model '
        f'does not invert there; worst residual {float(np.nanmax(err)):.2f} '
        'px): are the coefficients and K from the same calibration?',
        source=source, field='distortions')
  return _to_pixels(x, y, k)
