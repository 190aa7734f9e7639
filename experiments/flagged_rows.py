r"""How many SyRIP poses the default flagging leaves out (no fit needed).

For each SyRIP split and 2D input, counts the rows `zedoi_jax.validity`
flags before fitting (fewer than `--min_confident_joints` joints of
confidence > 0 in the model layout, or every confident keypoint on one
pixel) and the fewest confident joints of any row. Prints one JSON line per
(split, input) and appends them to `--out` when given.

  PYTHONPATH=$PWD python experiments/flagged_rows.py \
      --out=/tmp/flagged_rows.jsonl
"""

from __future__ import annotations

import json

from absl import app
from absl import flags

from zedoi_jax import data as data_lib
from zedoi_jax import eval_sets
from zedoi_jax import validity

_MIN = flags.DEFINE_integer('min_confident_joints', 4,
                            'config.fit.min_confident_joints to test.')
_OUT = flags.DEFINE_string('out', '', 'JSON-lines file to append to.')
_ROOT = flags.DEFINE_string('data_root', '', 'Data folder ('' = default).')


def main(argv):
  del argv
  root = data_lib.data_root(_ROOT.value)
  rows = []
  for split in ('val', 'adapt', 'test'):
    for input_2d in ('gt', 'fidip'):
      es = eval_sets.load_syrip_set(root, split=split, input_2d=input_2d,
                                   max_poses=0, model_layout='h36m17')
      status, _ = validity.input_status(
          es.inputs['keypoints'], es.inputs['confidence'],
          min_confident_joints=_MIN.value)
      seen = (es.inputs['confidence'] > 0).sum(-1)
      rows.append({'split': split, 'input_2d': input_2d,
                   'min_confident_joints': _MIN.value,
                   'num_poses': int(len(status)),
                   'status_counts': validity.counts(status),
                   'fewest_confident_joints': int(seen.min())})
      print(json.dumps(rows[-1]))
  if _OUT.value:
    with open(_OUT.value, 'a', encoding='utf-8') as f:
      for r in rows:
        f.write(json.dumps(r) + '\n')


if __name__ == '__main__':
  app.run(main)
