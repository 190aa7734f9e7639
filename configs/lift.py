"""Lift a user's 2D keypoints to 3D with the shipped infant model.

The model is the shipped adult prior plus its SyRIP control branch (the
infant-adapted prior, `zedoi_jax/checkpoints/syrip_control`); for adults use
the prior alone with `--config.init.adapted=`.

Input (`lift.format`, 'auto' by default): a COCO keypoint JSON (dataset or
detection results), a .npy/.npz array [N, J, 2|3] (third column =
confidence) in layout `lift.layout`, or a detector's output: an OpenPose
JSON folder, AlphaPose results, MMPose inferencer JSON, MediaPipe landmarks
JSON or a DeepLabCut CSV (zedoi_jax/data/detectors.py).
Camera: `lift.camera` (a 3x3 K as .npy/.json/.txt, an [F, 3, 3] per-frame
.npy, or a calibration .toml with `lift.camera_name`; its distortion is
removed from the 2D); without it a default K from the image size is assumed
(with a warning) and depth is only relative. `lift.export=trc,bvh,csv,gif`
writes files for OpenSim / Blender / spreadsheets and an animation.

Run:
  python -m zedoi_jax.main --config=configs/lift.py \
      --config.lift.input=keypoints.json --config.lift.camera=K.npy \
      --workdir=workdirs/lift
  python -m zedoi_jax.main --config=configs/lift.py \
      --config.lift.input=poses2d.npy --config.lift.layout=h36m17 \
      --config.lift.image_width=1920 --config.lift.image_height=1080 \
      --workdir=workdirs/lift
  python -m zedoi_jax.main --config=configs/lift.py \
      --config.lift.input=openpose_json/ --config.lift.camera=Calib.toml \
      --config.lift.camera_name=cam_01 --config.lift.export=trc,bvh,csv,gif \
      --workdir=workdirs/lift


An .npy/.npz carries no image size: give the camera (--config.lift.camera)
or the size (--config.lift.image_width/image_height), else the run stops
with an error naming these flags.
"""

import ml_collections

from configs import default
from configs import syrip


def get_config(arg=None) -> ml_collections.ConfigDict:
  """The lift configuration; 'quick' = few steps and hypotheses (tests)."""
  config = default.get_config()
  config.mode = 'lift'
  config.lift.layout = 'coco17'
  config.lift.pictures = True
  # Infants by default: the adapted model and its best measured noise level
  # (see configs/syrip.py); adults: --config.init.adapted= .
  config.init.adapted = 'syrip_control'
  config.fit.t_max = syrip.T_MAX
  # The infant fit's schedule, chosen on the SyRIP validation split, with a
  # bank of 64 prior samples for the 4 hypotheses' starts (configs/syrip.py).
  config.fit.oil_steps = syrip.OIL_STEPS
  config.fit.solve_t_last = syrip.SOLVE_T_LAST
  config.fit.em_dt = syrip.EM_DT
  config.fit.ipo_steps = syrip.IPO_STEPS
  config.fit.init_pose = syrip.INIT_POSE
  config.fit.init_bank_size = syrip.LIFT_INIT_BANK_SIZE
  # Hypotheses per pose; the output is their joint-wise mean.
  config.fit.num_hypotheses = 4
  config.fit.batch_size = 256
  if arg == 'quick':
    config.fit.num_hypotheses = 1
    config.fit.ipo_steps = 20
    config.fit.oil_steps = 10
    config.fit.solve_t_last = 2
    config.fit.init_sample_steps = 10
    config.fit.init_bank_size = 4
    config.fit.batch_size = 8
  elif arg:
    raise ValueError(f'unknown variant {arg!r}; known: quick')
  return config
