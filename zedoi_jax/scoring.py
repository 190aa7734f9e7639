"""Scores of fitted poses: MPJPE / PA-MPJPE per variant, baseline, tables.

`score_results` makes the content of a fit's results.json from predictions
and ground truth (shared by `--config.mode=fit`, zedoi_jax/modes/fit.py, and
`zedoi_jax.merge`, so merged shards score exactly like one run): the
headline ('mean': the joint-wise mean of the hypotheses), the
lowest-reprojection-error hypothesis, the best-of-S oracle, per-joint
errors, flagged rows (left out of every metric and counted), the trivial
baseline (the model's training data mean pose, scored the same way:
`baseline_pose`, `mean_pose_baseline`) and the predicted / true
bone-length ratio. Everything run-dependent (seconds, rates, devices) goes
under `TIMING_KEY`, so two runs of the same job give equal results apart
from it. `print_table` prints the headline rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zedoi_jax import metrics
from zedoi_jax import skeleton
from zedoi_jax import validity

SYRIP_NOTE = ('SyRIP 3D ground truth is weak: hand-corrected output of a '
              'model (HW-HuP), not measured.')
# results.json key holding everything that differs between two runs of the
# same job (seconds, rates, device counts, resumed chunks).
TIMING_KEY = 'timing'
# results.json keys `score_results` computes from the predictions.
METRIC_KEYS = ('num_poses', 'num_hypotheses', 'headline', 'mpjpe_mm',
               'pa_mpjpe_mm', 'per_joint_mpjpe_mm', 'joint_names',
               'best_of_s_mpjpe_mm', 'best_of_s_pa_mpjpe_mm', 'variants',
               'reproj_error_px', 'per_joint_spread_mm', 'uncertainty',
               'num_scored', 'num_flagged', 'status_counts', 'flagged',
               'bone_length_ratio', 'baseline')






def score(pred_all: np.ndarray, aggregates: dict[str, np.ndarray],
          gt: np.ndarray, root_joints) -> dict[str, Any]:
  """Metrics of S hypotheses: best-of-S (oracle) and aggregates.

  Args:
    pred_all: [N, S, J, 3] predictions in the evaluation layout.
    aggregates: name -> [N, J, 3] non-oracle single predictions.
    gt: [N, J, 3].
    root_joints: evaluation root.

  Returns:
    {name: summarize(...)} for every aggregate, plus 'best_of_s' (per pose
    the hypothesis with the lowest MPJPE / PA-MPJPE: an oracle).
  """
  out = {name: metrics.summarize(p, gt, root_joints=root_joints)
         for name, p in aggregates.items()}
  g = np.broadcast_to(gt[:, None], pred_all.shape)
  per_hyp = np.asarray(metrics.mpjpe(pred_all, g, root_joints=root_joints))
  per_hyp_pa = np.asarray(metrics.pa_mpjpe(pred_all, g))
  out['best_of_s'] = {
      'mpjpe_mm': float(per_hyp.min(1).mean() * 1000),
      'pa_mpjpe_mm': float(per_hyp_pa.min(1).mean() * 1000),
      'mean_over_hypotheses_mpjpe_mm': float(per_hyp.mean() * 1000),
      'oracle': True}
  return out


def bone_length_ratio(pred: np.ndarray, gt: np.ndarray, lay) -> float:
  """Mean over poses and bones of predicted / true bone length (1 = the
  right body size; < 1 = bodies fitted too small)."""
  g = np.asarray(skeleton.bone_lengths(gt, lay))
  ok = g > 1e-6
  return float(np.mean(np.asarray(skeleton.bone_lengths(pred, lay))[ok]
                       / g[ok]))


def baseline_pose(meta: dict, model_layout: str,
                  eval_layout: str) -> list | None:
  """The trivial baseline's constant pose in the evaluation layout: the
  model's training data mean (`normalization.mean_pose_m`, recorded at
  export: the prior's training poses, or an adaptation's infant poses,
  unaugmented, root-relative metres), or None if the model records none."""
  mean = (meta.get('normalization') or {}).get('mean_pose_m')
  if mean is None:
    return None
  mean = np.asarray(mean, np.float32)
  return np.round(np.asarray(skeleton.convert(mean, model_layout,
                                              eval_layout), np.float64),
                  5).tolist()


def mean_pose_baseline(pose: list | None, gt: np.ndarray,
                       root_joints) -> dict[str, Any]:
  """The trivial baseline: one constant pose scored against every pose.

  PA-MPJPE (scale, rotation and translation aligned per pose) is what a
  constant answer earns; the MPJPE is for orientation-free comparisons only
  (the constant faces one way).
  """
  if pose is None:
    return {'available': False,
            'why': 'the model records no training mean pose (re-export it)'}
  if not len(gt):
    return {'available': False, 'why': 'no scored poses'}
  const = np.broadcast_to(np.asarray(pose, np.float32), gt.shape)
  pa = float(np.mean(np.asarray(metrics.pa_mpjpe(const, gt))) * 1000)
  mp = float(np.mean(np.asarray(metrics.mpjpe(const, gt,
                                              root_joints=root_joints)))
             * 1000)
  return {'available': True, 'pose': 'training data mean pose (constant)',
          'pa_mpjpe_mm': pa, 'mpjpe_mm': mp}


def print_table(results: dict[str, Any]) -> None:
  """Prints the headline metrics of a results dict."""
  rows = [('variant', 'MPJPE mm', 'PA-MPJPE mm')]
  for name in ('min_reproj', 'mean', 'best_of_s'):
    m = results['variants'][name]
    rows.append((name + (' (oracle)' if name == 'best_of_s' else ''),
                 f'{m["mpjpe_mm"]:.1f}', f'{m["pa_mpjpe_mm"]:.1f}'))
  flagged = results.get('num_flagged') or 0
  print(f'{results["dataset"]} split={results["split"]} '
        f'input_2d={results["input_2d"]} poses={results["num_poses"]} '
        + (f'(scored {results["num_scored"]}, {flagged} flagged) '
           if flagged else '') +
        f'S={results["num_hypotheses"]}' + (
            f' ({rate:.2f} poses/s)' if (rate := results.get(
                TIMING_KEY, {}).get('poses_per_s')) else ''))
  if results.get('bone_length_ratio') is not None:
    print(f'  predicted / true bone length: {results["bone_length_ratio"]:.3f}')
  base = results.get('baseline') or {}
  if base.get('available'):
    rows.append(('mean-pose baseline', f'{base["mpjpe_mm"]:.1f}',
                 f'{base["pa_mpjpe_mm"]:.1f}'))
  for r in rows:
    print(f'  {r[0]:<22}{r[1]:>10}{r[2]:>13}')
  if flagged:
    print(f'  {flagged} flagged pose(s) (NaN rows, left out of every metric):'
          f' {results["status_counts"]}')
  if results['dataset'] == 'syrip':
    print('  ' + SYRIP_NOTE)














def score_results(base: dict[str, Any], pred_poses: np.ndarray,
                  pred_min_reproj: np.ndarray, pred_mean: np.ndarray,
                  gt: np.ndarray, reproj_error: np.ndarray,
                  status: np.ndarray | None = None,
                  reasons: np.ndarray | None = None,
                  rows: np.ndarray | None = None) -> dict[str, Any]:
  """results.json content: `base` (run description) plus the metrics.

  Shared by fit mode and `zedoi_jax.merge`, so merged shards score exactly
  like one run.

  Args:
    base: dataset info, model, fit config, ...; must hold
      'evaluation_layout'.
    pred_poses: [N, S, J, 3] metres, evaluation layout, every hypothesis.
    pred_min_reproj: [N, J, 3] the lowest-reprojection-error hypothesis.
    pred_mean: [N, J, 3] the joint-wise hypothesis mean.
    gt: [N, J, 3] metres.
    reproj_error: [N, S] pixels.
    status: [N] `validity` status per row (None = all 'ok'); flagged rows
      are left out of every metric and counted ('num_flagged').
    reasons, rows: [N] each row's reason and global row, for the 'flagged'
      list ({'row', 'status', 'reason'} per flagged row).

  Returns:
    The results dict (metrics in millimetres; null when no row is scored).
  """
  lay = skeleton.get_layout(base['evaluation_layout'])
  n_all = int(len(gt))
  if status is None:
    status = np.full(n_all, validity.OK)
  status = np.asarray(status).astype(str)
  keep = status == validity.OK
  if keep.any():
    variants = score(pred_poses[keep], {'min_reproj': pred_min_reproj[keep],
                                        'mean': pred_mean[keep]}, gt[keep],
                     lay.root_joints)
  else:  # Nothing to score: every metric is null, not a number.
    nan = float('nan')
    empty = {'num_poses': 0, 'mpjpe_mm': nan, 'pa_mpjpe_mm': nan,
             'pck150': nan, 'auc': nan,
             'per_joint_mpjpe_mm': [nan] * lay.num_joints}
    variants = {'min_reproj': dict(empty), 'mean': dict(empty),
                'best_of_s': {'mpjpe_mm': nan, 'pa_mpjpe_mm': nan,
                              'mean_over_hypotheses_mpjpe_mm': nan,
                              'oracle': True}}
  head = variants['mean']
  results = dict(base)
  results.update({
      'num_poses': n_all,
      'num_scored': int(keep.sum()),
      'num_flagged': int((~keep).sum()),
      'status_counts': validity.counts(status),
      'flagged': [{'row': int(rows[i]) if rows is not None else int(i),
                   'status': str(status[i]),
                   'reason': str(reasons[i]) if reasons is not None else ''}
                  for i in np.flatnonzero(~keep)],
      'num_hypotheses': int(pred_poses.shape[1]),
      'headline': ('mean: per pose the joint-wise mean of the root-centred '
                   'hypotheses (no ground truth used; with S = 1 the only '
                   'hypothesis)'),
      'mpjpe_mm': head['mpjpe_mm'], 'pa_mpjpe_mm': head['pa_mpjpe_mm'],
      'per_joint_mpjpe_mm': head['per_joint_mpjpe_mm'],
      'joint_names': list(lay.joint_names),
      'best_of_s_mpjpe_mm': variants['best_of_s']['mpjpe_mm'],
      'best_of_s_pa_mpjpe_mm': variants['best_of_s']['pa_mpjpe_mm'],
      'variants': variants,
      'reproj_error_px': (float(np.nanmean(reproj_error[keep]))
                          if keep.any() and np.isfinite(
                              reproj_error[keep]).any() else float('nan')),
      # Mean over the scored poses of `metrics.hypothesis_spread`.
      'per_joint_spread_mm': ([float(v) * 1000.0 for v in np.asarray(
          metrics.hypothesis_spread(pred_poses[keep],
                                    root_joints=lay.root_joints)).mean(0)]
                              if keep.any() else [float('nan')] *
                              lay.num_joints),
      'uncertainty': ('per_joint_spread_mm: mean over poses of the RMS '
                      'distance of the root-centred hypotheses from their '
                      'joint-wise mean (mm); per pose in predictions.npz '
                      'joint_spread_mm. 0 with S = 1.'),
  })
  scored_gt = gt[keep]
  results['bone_length_ratio'] = (bone_length_ratio(pred_mean[keep],
                                                    scored_gt, lay)
                                  if keep.any() else float('nan'))
  results['baseline'] = mean_pose_baseline(
      base.get('baseline_pose'), scored_gt, root_joints=lay.root_joints)
  return results




