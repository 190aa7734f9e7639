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
