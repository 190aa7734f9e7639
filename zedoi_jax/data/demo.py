"""The demo set shipped inside the package: 2D keypoints with known 3D.

`zedoi_jax/demo_data/demo_infant.npz` holds infant-like poses made by the
project's own model (samples of the shipped infant-adapted prior; no
dataset file is used) seen by a known camera. `experiments/make_demo.py`
made it; zedoi_jax/demo_data/README.md says how. It lets the default run
(`configs/demo.py`) lift and score offline on a bare install.

Arrays: keypoints_2d [N, J, 2] px, confidence [N, J], K [3, 3], image_wh
[2] px, poses_3d [N, J, 3] metres root-relative (camera frame),
translation [N, 3] metres, layout (str), provenance (JSON str).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

DEMO_FILE = pathlib.Path(__file__).resolve().parents[1] / 'demo_data' / (
    'demo_infant.npz')
KEYS = ('keypoints_2d', 'confidence', 'K', 'image_wh', 'poses_3d',
        'translation', 'layout', 'provenance')


def load_demo(path: str | os.PathLike = '') -> dict[str, Any]:
  """Reads and checks a demo npz (default: the shipped one)."""
  p = pathlib.Path(path) if path else DEMO_FILE
  checks.require_file(p, 'demo keypoints')
  try:
    with np.load(p, allow_pickle=False) as z:
      missing = [k for k in KEYS if k not in z.files]
      if missing:
        raise InputError(f'missing arrays {missing}', source=str(p),
                         field=missing[0])
      d = {k: z[k] for k in KEYS}
  except (ValueError, OSError) as e:
    if isinstance(e, InputError):
      raise
    raise InputError(f'cannot read the demo npz: {e!r}', source=str(p),
                     field='npz') from e
  layout = str(d['layout'])
  lay = skeleton.get_layout(layout, source=str(p), field='layout')
  kp = np.asarray(d['keypoints_2d'], np.float32)
  n = len(kp)
  shapes = {'keypoints_2d': (n, lay.num_joints, 2),
            'confidence': (n, lay.num_joints), 'K': (3, 3), 'image_wh': (2,),
            'poses_3d': (n, lay.num_joints, 3), 'translation': (n, 3)}
  for k, shape in shapes.items():
    if d[k].shape != shape or not np.isfinite(d[k]).all():
      raise InputError(f'expected finite {shape}, got {d[k].shape}',
                       source=str(p), field=k)
  return {'keypoints_2d': kp,
          'confidence': np.asarray(d['confidence'], np.float32),
          'K': np.asarray(d['K'], np.float32),
          'image_wh': np.asarray(d['image_wh'], np.float32),
          'poses_3d': np.asarray(d['poses_3d'], np.float32),
          'translation': np.asarray(d['translation'], np.float32),
          'layout': layout,
          'provenance': json.loads(str(d['provenance'])),
          'path': str(p)}
