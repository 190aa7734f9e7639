"""Camera calibration files: OpenCV / Pose2Sim TOML.

Pose2Sim (and its OpenCV-based calibration) writes one table per camera:

  [cam_01]
  name = "cam_01"
  size = [ 1920.0, 1080.0,]
  matrix = [ [ fx, 0.0, cx,], [ 0.0, fy, cy,], [ 0.0, 0.0, 1.0,],]
  distortions = [ k1, k2, p1, p2,]
  rotation = [ rx, ry, rz,]        # Rodrigues vector, world -> camera
  translation = [ tx, ty, tz,]     # metres
  fisheye = false

  [metadata]
  adjusted = false
  error = 0.0

`read_calibration` returns every camera; `select_camera` picks one by its
table key or `name` (`lift.camera_name`), or the only one.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys

import numpy as np

from zedoi_jax import camera
from zedoi_jax.errors import InputError

if sys.version_info >= (3, 11):
  import tomllib  # pylint: disable=g-import-not-at-top
else:  # Python 3.10: the same parser as the `tomli` package.
  import tomli as tomllib  # pylint: disable=g-import-not-at-top


@dataclasses.dataclass(frozen=True)
class Camera:
  """One calibrated camera.

  Attributes:
    name: the table key (e.g. 'cam_01'); `label` is its `name` field.
    K: [3, 3] float32 intrinsics.
    dist: [4] or [5] OpenCV distortion coefficients (zeros: none).
    size: (width, height) pixels, or (0, 0) if the file has none.
    rotation: [3] Rodrigues vector world -> camera, or None.
    translation: [3] metres, or None.
    label: the `name` field (may equal `name`).
  """
  name: str
  K: np.ndarray
  dist: np.ndarray
  size: tuple[int, int]
  rotation: np.ndarray | None
  translation: np.ndarray | None
  label: str

  @property
  def has_distortion(self) -> bool:
    return bool(np.any(self.dist != 0))


def read_calibration(path) -> dict[str, Camera]:
  """Every camera table of a calibration TOML, by table key (file order)."""
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f'calibration file not found: {p}')
  src = str(p)
  try:
    doc = tomllib.loads(p.read_text(encoding='utf-8'))
  except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
    raise InputError(f'not valid TOML ({e})', source=src,
                     field='toml') from None
  cams = {}
  for key, table in doc.items():
    if not isinstance(table, dict) or 'matrix' not in table:
      continue  # [metadata] and other non-camera tables
    field = f'[{key}]'
    if table.get('fisheye', False):
      raise InputError('fisheye cameras are not supported (OpenCV fisheye '
                       'model); undistort the 2D with OpenCV first',
                       source=src, field=f'{field}.fisheye')
    K = camera.validate_K(table['matrix'], source=f'{src} {field}.matrix')
    dist = camera.distortion_coefficients(
        table.get('distortions', [0, 0, 0, 0]), f'{src} {field}')
    n = len(np.asarray(table.get('distortions', [0, 0, 0, 0])).reshape(-1))
    size = table.get('size', [0, 0])
    try:
      w, h = (int(round(float(v))) for v in size)
    except (TypeError, ValueError):
      raise InputError(f'size must be [width, height], got {size!r}',
                       source=src, field=f'{field}.size') from None

    def vec(name):
      if name not in table:
        return None
      v = np.asarray(table[name], np.float64).reshape(-1)
      if v.size != 3 or not np.isfinite(v).all():
        raise InputError(f'{name} must be 3 finite numbers, got '
                         f'{table[name]!r}', source=src,
                         field=f'{field}.{name}')
      return v

    cams[key] = Camera(name=key, K=K, dist=dist[:n], size=(w, h),
                       rotation=vec('rotation'),
                       translation=vec('translation'),
                       label=str(table.get('name', key)))
  if not cams:
    raise InputError('no camera table (with a "matrix") in the file',
                     source=src, field='matrix')
  return cams


def select_camera(cams: dict[str, Camera], name: str, source: str) -> Camera:
  """The camera called `name` (table key or `name` field); '' = the only
  one. InputError listing the cameras otherwise."""
  if not name:
    if len(cams) == 1:
      return next(iter(cams.values()))
    raise InputError(f'{len(cams)} cameras in the file ({", ".join(cams)}): '
                     'choose one with --config.lift.camera_name',
                     source=source, field='lift.camera_name')
  for cam in cams.values():
    if name in (cam.name, cam.label):
      return cam
  raise InputError(f'no camera {name!r}; the file has '
                   f'{", ".join(cams)}', source=source,
                   field='lift.camera_name')
