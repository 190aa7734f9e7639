"""Lift a user's 2D keypoints to 3D with the shipped infant model.

The model is the shipped adult prior plus its SyRIP control branch (the
infant-adapted prior, `zedoi_jax/checkpoints/syrip_control`); for adults use
the prior alone with `--config.init.adapted=`.

Input: a COCO keypoint JSON (dataset or detection results) or a .npy/.npz
array [N, J, 2|3] (third column = confidence) in layout `lift.layout`.
Camera: `lift.camera` (a 3x3 K as .npy/.json/.txt); without it a default K
from the image size is assumed (with a warning) and depth is only relative.

Run:
  python -m zedoi_jax.main --config=configs/lift.py \
      --config.lift.input=keypoints.json --config.lift.camera=K.npy \
      --workdir=workdirs/lift
  python -m zedoi_jax.main --config=configs/lift.py \
      --config.lift.input=poses2d.npy --config.lift.layout=h36m17 \
      --config.lift.image_width=1920 --config.lift.image_height=1080 \
      --workdir=workdirs/lift
"""

import ml_collections

from configs import default
from configs import syrip


def get_config() -> ml_collections.ConfigDict:
  config = default.get_config()
  config.mode = 'lift'
  config.lift.layout = 'coco17'
  config.lift.pictures = True
  # Infants by default: the adapted model and its best measured noise level
  # (see configs/syrip.py); adults: --config.init.adapted= .
  config.init.adapted = 'syrip_control'
  config.fit.t_max = 0.2
  # OIL schedule chosen on the SyRIP validation split (configs/syrip.py).
  config.fit.oil_steps = syrip.OIL_STEPS
  config.fit.solve_t_last = syrip.SOLVE_T_LAST
  config.fit.em_dt = syrip.EM_DT
  # Hypotheses per pose; the output is their joint-wise mean.
  config.fit.num_hypotheses = 4
  config.fit.batch_size = 256
  return config
