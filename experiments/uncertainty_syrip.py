r"""Does the hypothesis spread rank joints by their actual error? (SyRIP val)

Fits the SyRIP validation split (the fixed 100 of the 500 adaptation
images; hyperparameters are chosen there, never on test) with S hypotheses,
then compares, per joint, the spread of the hypotheses
(`metrics.hypothesis_spread`: RMS distance of the root-centred hypotheses
from their joint-wise mean, mm) with the actual error of the reported pose
(the joint-wise mean; distance to the weak ground truth after root
centring, mm). Prints and appends one JSON line to `--out`:

  pooled_spearman / pooled_pearson: over every (pose, joint) pair;
  within_pose_spearman: mean over poses of the rank correlation of the
    joints of one pose (does it point at the bad joints of THIS pose?);
  baseline_joint_type_within_pose_spearman: the same for the trivial
    ranking by joint type (each type's mean error over the other poses);
  joint_type_spearman: over the 12 joint types, mean spread vs mean error;
  within_joint_type_spearman: mean over joint types of the rank
    correlation across poses (a larger spread of this joint in this pose
    than in others -> a larger error?);
  top20_error_mm / rest_error_mm: mean error of the 20 % most uncertain
    joints vs the other 80 %.

  python experiments/uncertainty_syrip.py --workdir=/tmp/unc_val \
      --out=experiments/results/uncertainty_syrip.jsonl
  # extra flags go to the fit, e.g. --fit_flag=--config.data.input_2d=fidip

The fit runs `python -m zedoi_jax.main --config=configs/syrip.py
--config.data.split=val --config.fit.num_hypotheses=S`; an existing
workdir/predictions.npz is reused (`--refit` to fit again).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

from absl import app
from absl import flags
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from zedoi_jax import jsonio  # pylint: disable=g-import-not-at-top,wrong-import-position
from zedoi_jax import metrics  # pylint: disable=g-import-not-at-top,wrong-import-position
from zedoi_jax import skeleton  # pylint: disable=g-import-not-at-top,wrong-import-position

_WORKDIR = flags.DEFINE_string('workdir', '/tmp/uncertainty_syrip_val',
                               'fit output folder')
_OUT = flags.DEFINE_string('out', '', 'append the result line here')
_S = flags.DEFINE_integer('num_hypotheses', 4, 'hypotheses per pose')
_INPUT = flags.DEFINE_string('input_2d', 'gt', "'gt' or 'fidip' 2D")
_REFIT = flags.DEFINE_bool('refit', False, 'fit even if predictions exist')
_FIT_FLAGS = flags.DEFINE_multi_string('fit_flag', [],
                                       'extra flags for the fit')


def ranks(x: np.ndarray) -> np.ndarray:
  """Ranks 0..n-1 along the last axis (ties broken by order)."""
  return np.argsort(np.argsort(x, axis=-1, kind='stable'), axis=-1,
                    kind='stable').astype(np.float64)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
  a = a - a.mean()
  b = b - b.mean()
  return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
  return pearson(ranks(a), ranks(b))


def summarize(pred_poses: np.ndarray, gt: np.ndarray,
              layout: str) -> dict[str, object]:
  """Spread-vs-error statistics; pred_poses [N, S, J, 3], gt [N, J, 3] m."""
  lay = skeleton.get_layout(layout)
  hyp = skeleton.root_center(pred_poses, lay)
  spread = np.asarray(metrics.hypothesis_spread(hyp)) * 1000.0  # [N, J] mm
  mean = hyp.mean(1)
  err = np.linalg.norm(mean - skeleton.root_center(gt, lay), axis=-1) * 1000
  # A single root joint is 0 in both after centring: leave it out (a
  # mid-hip root leaves the hips free, so they stay in).
  keep = np.ones(lay.num_joints, bool)
  if len(lay.root_joints) == 1:
    keep[list(lay.root_joints)] = False
  s, e = spread[:, keep], err[:, keep]
  within, prior_within = [], []
  # Baseline: rank the joints of a pose by their type's mean error over the
  # OTHER poses ("extremities are worse"), no per-pose information.
  type_err = (e.sum(0, keepdims=True) - e) / max(len(e) - 1, 1)
  for i in range(len(s)):
    if np.ptp(s[i]) > 0 and np.ptp(e[i]) > 0:
      within.append(spearman(s[i], e[i]))
      prior_within.append(spearman(type_err[i], e[i]))
  # Per joint type, across poses: does a larger spread of THIS joint mean a
  # larger error of it (information the joint type alone does not carry)?
  per_type = [spearman(s[:, j], e[:, j]) for j in range(s.shape[1])]
  order = np.argsort(-s.ravel())
  top = order[:max(1, len(order) // 5)]
  rest = order[len(top):]
  names = [n for n, k in zip(lay.joint_names, keep) if k]
  return {
      'num_poses': int(len(s)), 'num_hypotheses': int(pred_poses.shape[1]),
      'pooled_spearman': spearman(s.ravel(), e.ravel()),
      'pooled_pearson': pearson(s.ravel(), e.ravel()),
      'within_pose_spearman': float(np.mean(within)),
      'baseline_joint_type_within_pose_spearman': float(
          np.mean(prior_within)),
      'joint_type_spearman': spearman(s.mean(0), e.mean(0)),
      'within_joint_type_spearman': float(np.mean(per_type)),
      'top20_error_mm': float(e.ravel()[top].mean()),
      'rest_error_mm': float(e.ravel()[rest].mean()),
      'mean_spread_mm': float(s.mean()), 'mean_error_mm': float(e.mean()),
      'per_joint': {n: {'spread_mm': round(float(a), 2),
                        'error_mm': round(float(b), 2)}
                    for n, a, b in zip(names, s.mean(0), e.mean(0))},
  }


def main(argv):
  del argv
  workdir = pathlib.Path(_WORKDIR.value)
  pred = workdir / 'predictions.npz'
  fit_cmd = [sys.executable, '-m', 'zedoi_jax.main',
             '--config=configs/syrip.py', '--config.data.split=val',
             f'--config.data.input_2d={_INPUT.value}',
             f'--config.fit.num_hypotheses={_S.value}',
             '--config.eval.pictures=False', f'--workdir={workdir}',
             *_FIT_FLAGS.value]
  seconds = None
  if _REFIT.value or not pred.is_file():
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run(fit_cmd, check=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - t0
  with np.load(pred) as z:
    pred_poses, gt = z['pred_poses'], z['gt']
  res = json.loads((workdir / 'results.json').read_text())
  row = summarize(pred_poses, gt, res['evaluation_layout'])
  row.update({'split': 'val', 'input_2d': _INPUT.value,
              'evaluation_layout': res['evaluation_layout'],
              'mpjpe_mm': res['mpjpe_mm'],
              'fit_seconds': seconds,
              'command': ' '.join(['python experiments/uncertainty_syrip.py',
                                   f'--num_hypotheses={_S.value}',
                                   f'--input_2d={_INPUT.value}'])})
  print(jsonio.append_line(_OUT.value, row))


if __name__ == '__main__':
  app.run(main)
