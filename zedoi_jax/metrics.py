"""3D pose error metrics: MPJPE, PA-MPJPE, PCK/AUC and hypothesis handling.

All functions are pure jnp (numpy inputs are fine), work under `jit`, and
broadcast over leading batch dims. Errors are in the units of the input
(metres in this project) unless a name ends in `_mm`.

Conventions (docs/method.md section 5, ecosystem.md section 2.2):
  * MPJPE (protocol #1): mean joint distance after subtracting each pose's
    root (mean of `root_joints`) from prediction and ground truth. Root =
    pelvis (0,) for H36M-17, mid-hip (2, 3) for SyRIP's 12 joints.
  * PA-MPJPE (protocol #2): after a similarity Procrustes alignment (scale,
    rotation, translation) of the prediction to the ground truth; the
    rotation is proper (det = +1), so a mirrored pose keeps its error.
  * PCK@150 mm and AUC over 0..150 mm (MPI-INF-3DHP style), root-aligned.
  * With S hypotheses, `best_of` is the oracle (min over hypotheses, what
    ZeDO/ZeDO-i publish); always report a non-oracle number beside it, e.g.
    the error of `aggregate_hypotheses` (joint-wise mean pose).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

# PCK threshold (metres) used by `summarize` and as `pck`'s default.
PCK_THRESHOLD = 0.15
# AUC thresholds: 0..150 mm in 5 mm steps (31 values), as in MPI-INF-3DHP.
AUC_THRESHOLDS = np.linspace(0.0, 0.15, 31)


def _root_center(x: jax.Array, root_joints: Sequence[int] | None):
  if root_joints is None:
    return x
  return x - x[..., list(root_joints), :].mean(axis=-2, keepdims=True)


def _as_float(x) -> jax.Array:
  x = jnp.asarray(x)
  return x.astype(jnp.result_type(x.dtype, jnp.float32))


def _masked_mean(values: jax.Array, mask, axis: int = -1) -> jax.Array:
  """Mean over `axis`, weighted by `mask`; nan where all weights are 0."""
  if mask is None:
    return values.mean(axis=axis)
  w = jnp.broadcast_to(_as_float(mask), values.shape)
  total = w.sum(axis=axis)
  safe = jnp.where(total > 0, total, 1.0)
  return jnp.where(total > 0, (values * w).sum(axis=axis) / safe, jnp.nan)


def per_joint_error(pred, gt, *, root_joints: Sequence[int] | None = (0,)):
  """Root-aligned Euclidean error of every joint.

  Args:
    pred: `[..., J, 3]` predicted poses (metres).
    gt: `[..., J, 3]` ground truth (metres).
    root_joints: joints whose mean is the root, subtracted from both poses;
      None = no alignment (absolute error).

  Returns:
    `[..., J]` metres.
  """
  pred, gt = _as_float(pred), _as_float(gt)
  diff = _root_center(pred, root_joints) - _root_center(gt, root_joints)
  return jnp.linalg.norm(diff, axis=-1)


def mpjpe(pred, gt, *, root_joints: Sequence[int] | None = (0,), mask=None):
  """Mean per-joint position error after root alignment (protocol #1).

  Args:
    pred: `[..., J, 3]` predicted poses (metres).
    gt: `[..., J, 3]` ground truth (metres).
    root_joints: joints whose mean is the root (see `per_joint_error`).
    mask: optional `[..., J]` joint weights (1 = count, 0 = ignore, e.g.
      unannotated joints); the mean is over the weighted joints.

  Returns:
    `[...]` metres per pose; nan for a pose whose mask is all zero.
  """
  return _masked_mean(per_joint_error(pred, gt, root_joints=root_joints),
                      mask)


def procrustes_align(pred, gt, mask=None):
  """Aligns `pred` to `gt` by the best similarity transform.

  Finds scale s > 0, rotation R (det R = +1: reflections are excluded by
  flipping the sign of the smallest singular direction) and translation t
  minimising sum_j w_j |s R pred_j + t - gt_j|^2 (Umeyama's method).

  Args:
    pred: `[..., J, 3]` predicted poses.
    gt: `[..., J, 3]` ground truth.
    mask: optional `[..., J]` joint weights; ignored joints do not influence
      the transform (they are still transformed).

  Returns:
    `[..., J, 3]` the aligned prediction.
  """
  pred, gt = _as_float(pred), _as_float(gt)
  if mask is None:
    w = jnp.ones(pred.shape[:-1], pred.dtype)
  else:
    w = jnp.broadcast_to(_as_float(mask), pred.shape[:-1])
  w = w / jnp.maximum(w.sum(axis=-1, keepdims=True), 1e-12)
  wc = w[..., None]
  mu_p = (wc * pred).sum(axis=-2, keepdims=True)
  mu_g = (wc * gt).sum(axis=-2, keepdims=True)
  x = pred - mu_p
  y = gt - mu_g
  # Weighted cross-covariance H = sum_j w_j x_j y_j^T, [..., 3, 3].
  h = jnp.einsum('...j,...ja,...jb->...ab', w, x, y)
  u, sing, vt = jnp.linalg.svd(h)
  v = jnp.swapaxes(vt, -1, -2)
  ut = jnp.swapaxes(u, -1, -2)
  # A proper rotation: negate the last singular direction if V U^T would
  # be a reflection.
  d = jnp.sign(jnp.linalg.det(v @ ut))
  d = jnp.where(d == 0, 1.0, d)
  signs = jnp.concatenate(
      [jnp.ones(d.shape + (2,), d.dtype), d[..., None]], axis=-1)
  rot = (v * signs[..., None, :]) @ ut
  var_x = (w * (x ** 2).sum(axis=-1)).sum(axis=-1)
  scale = (sing * signs).sum(axis=-1) / jnp.maximum(var_x, 1e-12)
  aligned = scale[..., None, None] * (x @ jnp.swapaxes(rot, -1, -2))
  return aligned + mu_g


def pa_mpjpe(pred, gt, mask=None):
  """MPJPE after Procrustes alignment (protocol #2).

  Args:
    pred: `[..., J, 3]` predicted poses (metres).
    gt: `[..., J, 3]` ground truth (metres).
    mask: optional `[..., J]` joint weights, used for the alignment and the
      mean.

  Returns:
    `[...]` metres per pose; nan for a pose whose mask is all zero.
  """
  aligned = procrustes_align(pred, gt, mask)
  err = jnp.linalg.norm(aligned - _as_float(gt), axis=-1)
  return _masked_mean(err, mask)


def pck(pred, gt, *, threshold: float = PCK_THRESHOLD,
        root_joints: Sequence[int] | None = (0,), mask=None):
  """Fraction of joints within `threshold` after root alignment.

  Args:
    pred: `[..., J, 3]` predicted poses (metres).
    gt: `[..., J, 3]` ground truth (metres).
    threshold: distance in metres (0.15 = PCK@150 mm).
    root_joints: joints whose mean is the root.
    mask: optional `[..., J]` joint weights.

  Returns:
    `[...]` in [0, 1].
  """
  err = per_joint_error(pred, gt, root_joints=root_joints)
  return _masked_mean((err <= threshold).astype(err.dtype), mask)


def auc(pred, gt, *, thresholds=None,
        root_joints: Sequence[int] | None = (0,), mask=None):
  """Area under the PCK curve: the mean PCK over a range of thresholds.

  Args:
    pred: `[..., J, 3]` predicted poses (metres).
    gt: `[..., J, 3]` ground truth (metres).
    thresholds: `[T]` metres; None = 0..0.15 m in 31 steps (5 mm).
    root_joints: joints whose mean is the root.
    mask: optional `[..., J]` joint weights.

  Returns:
    `[...]` in [0, 1].
  """
  if thresholds is None:
    thresholds = AUC_THRESHOLDS
  err = per_joint_error(pred, gt, root_joints=root_joints)
  t = _as_float(thresholds).astype(err.dtype)
  hits = (err[..., None] <= t).astype(err.dtype)  # [..., J, T]
  mask_t = None if mask is None else jnp.asarray(mask)[..., None]
  return _masked_mean(hits, mask_t, axis=-2).mean(axis=-1)


def best_of(errors) -> jax.Array:
  """Oracle error over hypotheses: the minimum over axis 0.

  Args:
    errors: `[S, ...]` one error per hypothesis.

  Returns:
    `[...]`. An oracle (it looks at the ground truth to choose): report a
    non-oracle number beside it.
  """
  return jnp.min(_as_float(errors), axis=0)


def mean_of(errors) -> jax.Array:
  """Mean error over hypotheses (axis 0): `[S, ...] -> [...]`."""
  return jnp.mean(_as_float(errors), axis=0)


def aggregate_hypotheses(poses, *,
                         root_joints: Sequence[int] | None = (0,)):
  """A single pose from S hypotheses without looking at the ground truth.

  Args:
    poses: `[S, ..., J, 3]` hypotheses.
    root_joints: joints whose mean is the root; each hypothesis is
      root-centred before averaging, so their translations do not matter.

  Returns:
    `[..., J, 3]` the joint-wise mean of the root-centred hypotheses.
  """
  return _root_center(_as_float(poses), root_joints).mean(axis=0)


def summarize(pred, gt, *, root_joints: Sequence[int] | None, mask=None
              ) -> dict[str, float | list[float] | int]:
  """Headline metrics of a set of poses, as plain Python numbers.

  Args:
    pred: `[N, J, 3]` predicted poses (metres).
    gt: `[N, J, 3]` ground truth (metres).
    root_joints: joints whose mean is the root (e.g. `layout.root_joints`).
    mask: optional `[N, J]` joint weights; poses with no weighted joint are
      left out.

  Returns:
    {'num_poses': int, 'mpjpe_mm', 'pa_mpjpe_mm': mean over poses of the
    per-pose errors (mm), 'per_joint_mpjpe_mm': [J] mean over poses (mm),
    'pck150': PCK@150 mm and 'auc': AUC 0..150 mm, both in percent}.
  """
  pred, gt = _as_float(pred), _as_float(gt)
  if pred.ndim != 3 or pred.shape != gt.shape or pred.shape[-1] != 3:
    raise ValueError(f'summarize expects pred and gt [N, J, 3]; got '
                     f'{pred.shape} and {gt.shape}')
  if mask is None:
    mask = jnp.ones(pred.shape[:-1], pred.dtype)
  mask = jnp.broadcast_to(_as_float(mask), pred.shape[:-1])
  valid = np.asarray(mask.sum(axis=-1) > 0)
  per_pose = {
      'mpjpe_mm': mpjpe(pred, gt, root_joints=root_joints, mask=mask),
      'pa_mpjpe_mm': pa_mpjpe(pred, gt, mask=mask),
      'pck150': pck(pred, gt, root_joints=root_joints, mask=mask),
      'auc': auc(pred, gt, root_joints=root_joints, mask=mask),
  }
  scale = {'mpjpe_mm': 1000.0, 'pa_mpjpe_mm': 1000.0, 'pck150': 100.0,
           'auc': 100.0}
  out: dict[str, float | list[float] | int] = {'num_poses': int(valid.sum())}
  for key, values in per_pose.items():
    values = np.asarray(values)[valid]
    out[key] = float(values.mean() * scale[key]) if values.size else float(
        'nan')
  joint_err = per_joint_error(pred, gt, root_joints=root_joints)
  per_joint = _masked_mean(joint_err, mask, axis=0)
  out['per_joint_mpjpe_mm'] = [float(e) * 1000.0
                               for e in np.asarray(per_joint)]
  return out


def hypothesis_spread(poses, *, axis: int = 1,
                      root_joints: Sequence[int] | None = None):
  """Per-joint spread of S hypotheses: the uncertainty of their mean.

  spread_j = sqrt(mean_s |x_sj - mean_s x_sj|^2), the root-mean-square
  distance of the hypotheses' joint j from their joint-wise mean (the pose
  the project reports). 0 when every hypothesis agrees (and always with
  S = 1, which carries no uncertainty); in the units of `poses`.

  Args:
    poses: `[..., S, ..., J, 3]` hypotheses, S on `axis` (default 1: the
      `[N, S, J, 3]` of fit outputs).
    axis: the hypothesis axis.
    root_joints: if given, each hypothesis is root-centred first (then the
      root joint's spread is 0 and the spread measures the pose, not the
      depth); None uses the poses as they are.

  Returns:
    `[..., J]` (the hypothesis axis and the coordinate axis removed).
  """
  x = _as_float(poses)
  if root_joints is not None:
    x = _root_center(x, root_joints)
  d = x - x.mean(axis=axis, keepdims=True)
  return jnp.sqrt(jnp.mean(jnp.sum(d * d, axis=-1), axis=axis))
