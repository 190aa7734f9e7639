r"""SyRIP with the fine-tuned adult prior (ZeDO-i's fine-tuning row).

Evaluate the shipped fine-tuned prior (`zedoi_jax/checkpoints/
syrip_finetune`: every prior weight trained further on the 500 SyRIP
train-split poses) on the SyRIP test split (200 train200 images, GT 2D):

  python -m zedoi_jax.main --config=configs/syrip_finetune.py \
      --workdir=/tmp/syrip_ft

Re-create it (freezing is by regex rules, `--config.adapt.freeze=
'input.*,block_0/.*'` for example; default: nothing frozen):

  python -m zedoi_jax.main --config=configs/syrip_finetune.py \
      --config.mode=adapt --workdir=/tmp/syrip_finetune_run \
      --config.train.export_dir=zedoi_jax/checkpoints/syrip_finetune

(without the last flag the model goes to WORKDIR/model).

Runtime (2-core CPU, shared): 2000 steps in 390 s; fit 15-60 s. Results
(MPJPE / PA-MPJPE mm, weak ground truth) with this config (fit.t_max 0.2,
from syrip.py): GT 2D 68.8 / 38.6, FiDIP 2D 70.7 / 39.9; with t_max 0.1:
69.0 / 37.9 and 67.3 / 38.1. See experiments/RESULTS.md.
"""

from configs import syrip

SHIPPED_ADAPTED = 'syrip_finetune'


def get_config(arg=None):
  """syrip.py with method 'finetune'; 'quick' = few steps."""
  config = syrip.get_config(arg)
  config.adapt.method = 'finetune'
  config.init.adapted = SHIPPED_ADAPTED
  return config
