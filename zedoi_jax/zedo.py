"""The ZeDO optimisation: 3D poses from 2D keypoints against a diffusion prior.

One 2D pose (pixel keypoints `u` [J, 2], confidences [J], intrinsics K) is
lifted by optimisation (docs/method.md section 3):

1. **Initial pose**: a sample from the prior (a short reverse-SDE run seeded
   by the hypothesis key). ZeDO starts from k-means cluster centres of its
   training set, but those files were never released; a prior sample is a
   "random training-like pose" with no data files needed.
2. **Initial translation**: the unit ray through the 2D root (pelvis) scaled
   to `init_t` metres (where the root is missing: through the
   confidence-weighted mean keypoint).
3. **IPO**: `ipo_steps` Adam steps on an axis-angle rotation (components
   outside `rot_axes` fixed at 0) and a scale of the translation, minimising
   the confidence-weighted L1 reprojection error. The scale is projected onto
   [min_scale_t, max_scale_t] after every step (projected Adam; ZeDO clamps
   inside the forward pass, which freezes a scale that leaves the range).
4. **Re-initialisation** (`reinit`): 'flat' (the paper: every visible
   keypoint's ray at the root's depth, root-centred, rotated by the IPO
   rotation), 'ipo_depth' (default; every visible keypoint's ray at the
   depth of the IPO-posed sample's joint) or 'none' (the IPO-posed
   sample). Missing joints keep the IPO-posed sample's position.
5. **OIL**: `oil_steps` iterations over t_i linear from t_max to t_min:
   (a) alignment: each joint moves toward the closest point on its ray by
   `align_step * confidence` of the way; the translation is fixed except in
   the last `solve_t_last` iterations, where it is re-solved in closed form
   (confidence-weighted point-to-ray least squares, a 3x3 system) every step;
   (b) diffusion, in model units (metres / scale), by `denoise`:
   'tweedie' perturbs the pose to noise level t with fresh noise and takes
   the posterior mean E[x_0 | x_t] (Tweedie); 'em' is ZeDO's release rule:
   one noise-free reverse Euler-Maruyama step of size `em_dt` (1/N, N = 1000
   there) from t, treating the aligned pose as x_t. The pose is kept
   root-relative throughout.

Defaults were measured on 64 CMU poses (configs/cmu_fit.py placement: random
yaw, 3-4 m, f = 1000 px) with the shipped CMU prior, paper step counts, S = 1,
rot_axes 'xyz': 'em' 157 mm MPJPE / 67 mm PA-MPJPE vs 'tweedie' 260 / 103
(Tweedie's fresh noise at t <= 0.1 washes out what the alignment put in).
With 'em', reinit 'ipo_depth' gives 136 / 59 mm, 'none' 135 / 59 and the
paper's 'flat' 157 / 67 (a flat pose throws away the sample's depths, which
the small 'em' steps cannot restore); 'ipo_depth' is the default, as it
also uses the 2D. init_depth 'fixed' vs 'size' differ by < 3 mm. rot_axes
'y' fails with that prior (1.9 m MPJPE with 'tweedie', 0.59 m with 'em'):
it is trained with SO(3) augmentation, so its samples lie in any
orientation and IPO must be free to turn them about every axis.

`fit_one` handles one (sample, hypothesis) and is pure; `make_fit_fn` vmaps
it over hypotheses and samples, jits it (sharding the batch axis over a mesh
when one is given), and derives keys from sample ids so a result does not
depend on its batch; `fit_dataset` runs a whole dataset in fixed-shape,
padded batches. Host-side `prepare_inputs` converts layouts and turns NaN
keypoints into missing joints before anything is compiled.

Poses are `[..., J, 3]` metres in the camera frame (x right, y down,
z forward), root-relative unless named `*_abs`; 2D is pixels.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from typing import Any, Callable, Mapping

from absl import logging
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from zedoi_jax import camera
from zedoi_jax import sde as sde_lib
from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]

DENOISE_RULES = ('tweedie', 'em')
REINIT_RULES = ('flat', 'ipo_depth', 'none')
INIT_DEPTH_RULES = ('fixed', 'size')
INIT_POSE_RULES = ('sample', 'bank')
# fold_in data of the pose bank's key; sample ids are int32 >= 0, never this.
_BANK_KEY = 2**32 - 1
# Keep projected points at least this far (metres) in front of the camera, so
# a pose that swings behind the camera during IPO gives finite pixels.
_MIN_DEPTH = 1e-2
# Names of the sweepable knobs (array leaves of the hyperparameter pytree).
HPARAM_NAMES = ('t_max', 't_min', 'ipo_lr', 'align_step', 'em_dt')


@dataclasses.dataclass(frozen=True)
class FitConfig:
  """Fit settings (from `config.fit`).

  Attributes:
    ipo_steps: IPO Adam steps.
    ipo_lr: IPO Adam learning rate (sweepable).
    rot_axes: rotation axes IPO optimises, a subset of 'xyz' ('' = none).
    init_t: initial distance along the root ray (metres).
    min_scale_t, max_scale_t: clamp of IPO's translation scale.
    oil_steps: OIL iterations.
    t_max, t_min: OIL noise levels (first and last; sweepable).
    solve_t_last: final OIL iterations re-solving the translation.
    num_hypotheses: S, hypotheses per pose (each from its own prior sample).
    init_sample_steps: reverse-SDE steps drawing the initial pose.
    init_pose: the initial pose, 'sample' (a prior sample per hypothesis,
      `init_sample_steps` reverse-SDE steps each) | 'bank' (one bank of
      `init_bank_size` prior samples per compiled batch, drawn with a key of
      the fit's rng alone; each hypothesis starts from the entry its own key
      picks: every start is still an exact prior sample, independent of the
      batch, at a fraction of the sampling cost for big batches).
    init_bank_size: prior samples in the bank of init_pose 'bank'.
    batch_size: poses per compiled batch (fit_dataset).
    trajectory_frames: thinned OIL frames kept per fit (0 = none).
    denoise: OIL diffusion rule, 'tweedie' | 'em' (see module docstring).
    em_dt: step of the 'em' rule (sweepable).
    reinit: pose re-initialisation after IPO, 'flat' | 'ipo_depth' | 'none'.
    align_step: fraction of the way to its ray a joint of confidence 1 moves
      per alignment step (sweepable; ZeDO: 1).
    layout: the model's joint layout (its root joints define the pelvis).
    init_sample_method: `sampling.sample` method for the initial pose.
    init_depth: initial translation, 'fixed' (the paper: `init_t` metres
      along the root ray) | 'size' (the depth at which the prior sample's
      spread matches the keypoints' 2D spread; IPO's scale clamp is then
      relative to it).
    min_confident_joints: fit and lift flag (NaN row, status
      'too_few_joints') a pose with fewer joints of confidence > 0 in the
      model layout (`zedoi_jax.validity`); the fit itself ignores it.
  """
  ipo_steps: int = 500
  ipo_lr: float = 0.1
  rot_axes: str = 'xyz'
  init_t: float = 1.0
  min_scale_t: float = 0.5
  max_scale_t: float = 8.0
  oil_steps: int = 1000
  t_max: float = 0.1
  t_min: float = 0.01
  solve_t_last: int = 50
  num_hypotheses: int = 1
  init_sample_steps: int = 100
  init_pose: str = 'sample'
  init_bank_size: int = 64
  batch_size: int = 256
  trajectory_frames: int = 0
  denoise: str = 'em'
  em_dt: float = 1e-3
  reinit: str = 'ipo_depth'
  align_step: float = 1.0
  layout: str = 'h36m17'
  init_sample_method: str = 'em'
  init_depth: str = 'fixed'
  min_confident_joints: int = 4

  def __post_init__(self):
    for name in ('ipo_steps', 'oil_steps', 'solve_t_last',
                 'init_sample_steps', 'trajectory_frames'):
      if int(getattr(self, name)) < 0:
        raise ValueError(f'fit.{name} must be >= 0, got '
                         f'{getattr(self, name)}')
    if self.num_hypotheses < 1 or self.batch_size < 1:
      raise ValueError('fit.num_hypotheses and fit.batch_size must be >= 1')
    if self.oil_steps < 1:
      raise ValueError(f'fit.oil_steps must be >= 1, got {self.oil_steps}')
    if self.solve_t_last > self.oil_steps:
      raise ValueError(f'fit.solve_t_last ({self.solve_t_last}) > '
                       f'fit.oil_steps ({self.oil_steps})')
    if self.trajectory_frames > self.oil_steps:
      raise ValueError(f'fit.trajectory_frames ({self.trajectory_frames}) > '
                       f'fit.oil_steps ({self.oil_steps})')
    if set(self.rot_axes) - set('xyz') or len(set(self.rot_axes)) != len(
        self.rot_axes):
      raise ValueError(f"fit.rot_axes must be a subset of 'xyz', got "
                       f'{self.rot_axes!r}')
    if not 0 < self.min_scale_t <= self.max_scale_t:
      raise ValueError('need 0 < fit.min_scale_t <= fit.max_scale_t, got '
                       f'{self.min_scale_t}, {self.max_scale_t}')
    if self.init_t <= 0:
      raise ValueError(f'fit.init_t must be > 0, got {self.init_t}')
    if not 0 < self.t_min <= self.t_max <= 1:
      raise ValueError('need 0 < fit.t_min <= fit.t_max <= 1, got '
                       f'{self.t_min}, {self.t_max}')
    for name, rules in (('denoise', DENOISE_RULES),
                        ('init_pose', INIT_POSE_RULES),
                        ('init_depth', INIT_DEPTH_RULES),
                        ('reinit', REINIT_RULES)):
      if getattr(self, name) not in rules:
        raise ValueError(f'fit.{name} must be one of {rules}, got '
                         f'{getattr(self, name)!r}')
    if self.init_bank_size < 1:
      raise ValueError(f'fit.init_bank_size must be >= 1, got '
                       f'{self.init_bank_size}')
    skeleton.get_layout(self.layout, field='fit.layout')

  @classmethod
  def from_dict(cls, kwargs: Mapping[str, Any]) -> 'FitConfig':
    """Builds a FitConfig from `config.fit` (a dict or ConfigDict)."""
    kwargs = dict(kwargs)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
      raise ValueError(f'unknown fit settings {unknown}; known: '
                       f'{sorted(known)}')
    return cls(**kwargs)

  def hparams(self) -> dict[str, jax.Array]:
    """The sweepable knobs as float32 scalar arrays (a jit argument)."""
    return {name: jnp.asarray(getattr(self, name), jnp.float32)
            for name in HPARAM_NAMES}


@flax.struct.dataclass
class FitResult:
  """What a fit returns (leading [B, S] axes from `make_fit_fn`).

  Attributes:
    pose: [..., J, 3] metres, camera frame, root-relative.
    translation: [..., 3] metres, the root's camera-frame position.
    rotation: [..., 3, 3] the IPO rotation.
    reproj_error: [...] pixels, confidence-weighted mean distance between
      the projected pose and the keypoints.
    trajectory: [..., F, J, 3] thinned OIL poses (root-relative), or None.
  """
  pose: jax.Array
  translation: jax.Array
  rotation: jax.Array
  reproj_error: jax.Array
  trajectory: jax.Array | None = None


# ------------------------------------------------------------ geometry


def _skew(v: jax.Array) -> jax.Array:
  z = jnp.zeros((), v.dtype)
  return jnp.array([[z, -v[2], v[1]], [v[2], z, -v[0]], [-v[1], v[0], z]])


def rotation_matrix(rotvec: jax.Array) -> jax.Array:
  """Axis-angle [3] (radians) -> rotation matrix [3, 3] (Rodrigues).

  Uses Taylor terms near 0 so that gradients at the identity are finite.
  """
  theta2 = jnp.sum(rotvec**2)
  small = theta2 < 1e-8
  safe2 = jnp.where(small, 1.0, theta2)
  theta = jnp.sqrt(safe2)
  a = jnp.where(small, 1.0 - theta2 / 6.0, jnp.sin(theta) / theta)
  b = jnp.where(small, 0.5 - theta2 / 24.0, (1.0 - jnp.cos(theta)) / safe2)
  k = _skew(rotvec)
  return jnp.eye(3, dtype=rotvec.dtype) + a * k + b * (k @ k)


def _project(points: jax.Array, K: jax.Array) -> jax.Array:
  """camera.project with depths clamped to >= _MIN_DEPTH."""
  z = jnp.maximum(points[..., 2:], _MIN_DEPTH)
  return camera.project(jnp.concatenate([points[..., :2], z], -1), K)


def _weighted_mean(values: jax.Array, w: jax.Array) -> jax.Array:
  return jnp.sum(values * w) / jnp.maximum(jnp.sum(w), 1e-8)


def reprojection_error(pose_abs: jax.Array, keypoints: jax.Array,
                       weights: jax.Array, K: jax.Array) -> jax.Array:
  """Confidence-weighted mean pixel distance (scalar).

  Args:
    pose_abs: [J, 3] camera-frame joints (metres).
    keypoints: [J, 2] pixels.
    weights: [J] confidences (0 = missing).
    K: [3, 3].
  """
  d = jnp.linalg.norm(_project(pose_abs, K) - keypoints, axis=-1)
  return _weighted_mean(d, weights)


def solve_translation(pose: jax.Array, ray: jax.Array, w: jax.Array,
                      prev: jax.Array) -> jax.Array:
  """Translation putting `pose + T` closest to the joints' rays.

  Minimises sum_j w_j |(I - r_j r_j^T)(X_j + T)|^2 (point-to-ray distances)
  plus a tiny pull toward `prev`, which keeps the 3x3 system solvable when
  fewer than two rays are visible.

  Args:
    pose: [J, 3] root-relative joints (metres).
    ray: [J, 3] unit rays.
    w: [J] weights.
    prev: [3] current translation.

  Returns:
    [3] the translation (metres).
  """
  eye = jnp.eye(3, dtype=pose.dtype)
  proj = eye - ray[:, :, None] * ray[:, None, :]  # [J, 3, 3]
  a = jnp.einsum('j,jab->ab', w, proj)
  b = -jnp.einsum('j,jab,jb->a', w, proj, pose)
  lam = 1e-6 * (jnp.sum(w) + 1.0)
  t = jnp.linalg.solve(a + lam * eye, b + lam * prev)
  # The mirror solution behind the camera is never wanted.
  return jnp.where(t[2] < 0, -t, t)


def _toward_rays(cam: jax.Array, ray: jax.Array) -> jax.Array:
  """Closest point on each (forward) ray minus the point: [J, 3]."""
  along = jnp.maximum(jnp.sum(cam * ray, -1, keepdims=True), 0.0)
  return along * ray - cam


# ------------------------------------------------------------ fit_one


def _sanitize(keypoints, confidence):
  """NaN/inf keypoints -> 0 with confidence 0; confidences into [0, 1]."""
  finite = jnp.all(jnp.isfinite(keypoints), axis=-1) & jnp.isfinite(
      confidence)
  keypoints = jnp.where(finite[:, None], keypoints, 0.0)
  w = jnp.where(finite, jnp.clip(confidence, 0.0, 1.0), 0.0)
  return keypoints, w


def _prior_samples(rng, params, num: int, *, score_fn, sde, scale, cfg,
                   num_joints):
  """[num, J, 3] prior samples (metres) by the initial-pose sampler."""
  # Imported here: sampling is only needed when a fit runs.
  from zedoi_jax import sampling  # pylint: disable=g-import-not-at-top
  x = sampling.sample(rng, score_fn, params, sde, num_samples=num,
                      num_joints=num_joints,
                      num_steps=max(cfg.init_sample_steps, 1),
                      method=cfg.init_sample_method)
  return jnp.asarray(x, jnp.float32) * scale


def initial_pose_bank(rng, params, *, score_fn, sde, scale, cfg: 'FitConfig',
                      num_joints: int) -> jax.Array | None:
  """The [M, J, 3] prior samples (metres) of `cfg.init_pose='bank'`, or
  None with 'sample'. Drawn from fold_in(rng, _BANK_KEY): the fit's rng
  alone, so every batch of a fit gets the same bank."""
  if cfg.init_pose != 'bank':
    return None
  return _prior_samples(jax.random.fold_in(rng, _BANK_KEY), params,
                        cfg.init_bank_size, score_fn=score_fn, sde=sde,
                        scale=scale, cfg=cfg, num_joints=num_joints)


def _depth_from_size(x0, keypoints, w, K, root_ray, fallback):
  """Initial translation from the 2D spread of the keypoints.

  A pose of RMS joint spread s metres at depth z spans about
  f * s * sqrt(2/3) / z pixels (sqrt(2/3): the projected share of an
  isotropic 3D spread), so z = f * s * sqrt(2/3) / (2D RMS spread).

  Returns:
    [3] the point on the root ray at that depth (metres); `fallback` metres
    along the ray when fewer than two joints are visible.
  """
  total = jnp.maximum(jnp.sum(w), 1e-8)
  mean_uv = jnp.sum(keypoints * w[:, None], 0) / total
  rms2 = jnp.sqrt(jnp.sum(w * jnp.sum((keypoints - mean_uv)**2, -1)) / total)
  mean3 = jnp.sum(x0 * w[:, None], 0) / total
  rms3 = jnp.sqrt(jnp.sum(w * jnp.sum((x0 - mean3)**2, -1)) / total)
  focal = 0.5 * (K[0, 0] + K[1, 1])
  depth = focal * rms3 * jnp.sqrt(2.0 / 3.0) / jnp.maximum(rms2, 1e-3)
  ok = (jnp.sum(w > 0) >= 2) & (rms2 > 1e-3) & jnp.isfinite(depth)
  return jnp.where(ok, depth / root_ray[2], fallback) * root_ray


def _diffuse(rng, pose, t, params, hp, *, score_fn, sde, scale, cfg):
  """OIL's diffusion step on one pose [J, 3] (metres) at noise level t."""
  x = (pose / scale)[None]
  tb = jnp.reshape(t, (1,))
  if cfg.denoise == 'tweedie':
    mean, std = sde.marginal_prob(x, tb)
    x_t = mean + std[:, None, None] * jax.random.normal(rng, x.shape, x.dtype)
    x0 = sde_lib.tweedie_denoise(sde, x_t, tb, score_fn(params, x_t, tb))
  else:
    x0 = sde_lib.euler_maruyama_step(sde, rng, x, tb, hp['em_dt'],
                                     score_fn(params, x, tb),
                                     add_noise=False)
  return x0[0] * scale


def _oil_phase(step, carry, start: int, stop: int, frame_ends, chunk: int):
  """Runs OIL steps start..stop-1 (static) with one step function.

  Returns (carry, frames): the poses after the steps in `frame_ends` that
  fall in the range, as a list of [k, J, 3] arrays. Whole chunks between
  frames run as one nested scan, so the traced program stays small.
  """
  scan = lambda c, a, b: (jax.lax.scan(step, c, jnp.arange(a, b))[0]
                          if b > a else c)
  ends = [e for e in frame_ends if start <= e < stop]
  if not ends:
    return scan(carry, start, stop), []
  carry = scan(carry, start, ends[0] + 1)
  out = [carry[0][None]]
  if len(ends) > 1:
    def chunk_step(c, first):
      c, _ = jax.lax.scan(step, c, first + jnp.arange(chunk))
      return c, c[0]
    carry, traj = jax.lax.scan(chunk_step, carry,
                               jnp.asarray(ends[:-1]) + 1)
    out.append(traj)
  return scan(carry, ends[-1] + 1, stop), out


def fit_one(rng: jax.Array, keypoints: jax.Array, confidence: jax.Array,
            K: jax.Array, params: Any, *, score_fn: ScoreFn,
            sde: sde_lib.VPSDE, scale: float, cfg: FitConfig,
            hparams: Mapping[str, jax.Array] | None = None,
            init: Mapping[str, jax.Array] | None = None,
            anchor: tuple[jax.Array, jax.Array] | None = None,
            pose_bank: jax.Array | None = None) -> FitResult:
  """Fits one 3D pose (one hypothesis) to one 2D pose. Pure; jit/vmap-able.

  Args:
    rng: typed key of this (sample, hypothesis).
    keypoints: [J, 2] pixels in the model layout (`cfg.layout`); NaN rows
      are treated as missing (but replace them on the host: see
      `prepare_inputs`).
    confidence: [J] in [0, 1]; 0 = missing (contributes nothing).
    K: [3, 3] intrinsics.
    params: the score model's parameters.
    score_fn: `score_fn(params, x [B, J, 3], t [B]) -> [B, J, 3]` in model
      units (metres / scale).
    sde: the SDE the prior was trained with.
    scale: metres per model unit.
    cfg: the fit settings (static).
    hparams: sweepable knobs (`cfg.hparams()`); None = those of `cfg`.
    init: warm start (video sequences, `zedoi_jax.sequence`): {'pose' [J, 3]
      root-relative, 'translation' [3], 'rotation' [3, 3]} of a previous
      fit. It replaces the prior sample (no sampling) and the initial
      translation (the previous distance along this frame's root ray); IPO
      then turns it from the identity and the returned rotation is
      composed with init's.
    anchor: (pose_abs [J, 3], weight []) an in-loop temporal term: after
      every OIL alignment each joint also moves `weight` of the way toward
      this camera-frame pose (e.g. the previous frame's fit).
    pose_bank: [M, J, 3] prior samples (metres, `initial_pose_bank`): with
      `cfg.init_pose='bank'` the initial pose is the entry this key picks.

  Returns:
    FitResult without batch axes: pose [J, 3], translation [3], rotation
    [3, 3], reproj_error [] (px), trajectory [F, J, 3] or None.
  """
  hp = cfg.hparams() if hparams is None else hparams
  num_joints = keypoints.shape[0]
  root = list(skeleton.get_layout(cfg.layout).root_joints)
  keypoints = jnp.asarray(keypoints, jnp.float32)
  K = jnp.asarray(K, jnp.float32)
  keypoints, w = _sanitize(keypoints, jnp.asarray(confidence, jnp.float32))
  init_rng, oil_rng = jax.random.split(rng)

  ray = camera.rays(keypoints, K)  # [J, 3]
  # Root ray: through the 2D root, or the weighted mean keypoint if missing.
  root_ok = jnp.min(w[jnp.array(root)]) > 0
  mean_uv = jnp.sum(keypoints * w[:, None], 0) / jnp.maximum(jnp.sum(w), 1e-8)
  root_uv = jnp.where(root_ok, keypoints[jnp.array(root)].mean(0), mean_uv)
  root_ray = camera.rays(root_uv[None], K)[0]
  t0 = cfg.init_t * root_ray

  if init is None and cfg.init_pose == 'bank':
    if pose_bank is None:
      raise ValueError("fit.init_pose='bank' needs pose_bank "
                       '(initial_pose_bank)')
    x0 = pose_bank[jax.random.randint(init_rng, (), 0, pose_bank.shape[0])]
  elif init is None:
    x0 = _prior_samples(init_rng, params, 1, score_fn=score_fn, sde=sde,
                        scale=scale, cfg=cfg, num_joints=num_joints)[0]
  else:
    x0 = jnp.asarray(init['pose'], jnp.float32)
    t0 = jnp.linalg.norm(init['translation']) * root_ray
  x0 = x0 - x0[jnp.array(root)].mean(0)
  if cfg.init_depth == 'size' and init is None:
    t0 = _depth_from_size(x0, keypoints, w, K, root_ray, cfg.init_t)

  rot, trans = _ipo(x0, t0, keypoints, w, K, hp, cfg)
  pose = _reinit(x0 @ rot.T, trans, rot, ray, root_ray, w, cfg, root)
  pose, trans, trajectory = _oil(
      oil_rng, pose, trans, ray, w, params, hp, cfg, root, anchor,
      score_fn=score_fn, sde=sde, scale=scale)
  if cfg.solve_t_last:
    # The last diffusion step moved the joints: re-fit T to the final pose.
    trans = solve_translation(pose, ray, w, trans)
  err = reprojection_error(pose + trans, keypoints, w, K)
  if init is not None:
    rot = rot @ init['rotation']
  return FitResult(pose=pose, translation=trans, rotation=rot,
                   reproj_error=err, trajectory=trajectory)


def _ipo(x0, t0, keypoints, w, K, hp, cfg):
  """IPO: Adam on the rotation (restricted to `rot_axes`) and the scale of
  the translation, minimising the weighted L1 reprojection error.

  Returns:
    (rotation [3, 3], translation [3]).
  """
  axis_mask = jnp.array([float(a in cfg.rot_axes) for a in 'xyz'])

  def ipo_loss(p):
    rot = rotation_matrix(p['rotvec'] * axis_mask)
    cam = x0 @ rot.T + t0 * p['scale']
    l1 = jnp.sum(jnp.abs(_project(cam, K) - keypoints), -1)
    return _weighted_mean(l1, w)

  opt = optax.adam(hp['ipo_lr'])
  p0 = {'rotvec': jnp.zeros(3), 'scale': jnp.ones(())}

  def ipo_step(carry, _):
    p, state = carry
    grads = jax.grad(ipo_loss)(p)
    updates, state = opt.update(grads, state, p)
    p = optax.apply_updates(p, updates)
    p = dict(p, scale=jnp.clip(p['scale'], cfg.min_scale_t, cfg.max_scale_t))
    return (p, state), None

  (p, _), _ = jax.lax.scan(ipo_step, (p0, opt.init(p0)), None,
                           length=cfg.ipo_steps)
  return rotation_matrix(p['rotvec'] * axis_mask), t0 * p['scale']


def _reinit(posed, trans, rot, ray, root_ray, w, cfg, root):
  """The pose OIL starts from (`cfg.reinit`), root-relative: the IPO-posed
  sample `posed` with its visible joints moved onto their rays."""
  visible = (w > 0)[:, None]
  if cfg.reinit == 'flat':
    d = ray / ray[:, 2:]  # z = 1
    depth = trans[2]
    flat = d * depth
    flat = flat - root_ray / root_ray[2] * depth
    pose = jnp.where(visible, flat @ rot.T, posed)
  elif cfg.reinit == 'ipo_depth':
    d = ray / ray[:, 2:]
    on_ray = d * (posed + trans)[:, 2:] - trans
    pose = jnp.where(visible, on_ray, posed)
  else:
    pose = posed
  return pose - pose[jnp.array(root)].mean(0)


def _oil(oil_rng, pose, trans, ray, w, params, hp, cfg, root, anchor, *,
         score_fn, sde, scale):
  """OIL: a fixed-translation phase, then a translation-solving phase,
  each its own scan (no per-step select evaluating both branches).

  Returns:
    (pose [J, 3], translation [3], trajectory [F, J, 3] or None).
  """
  n = cfg.oil_steps
  solve_from = n - cfg.solve_t_last
  root_idx = jnp.array(root)

  def make_oil_step(solve):
    def oil_step(carry, i):
      pose, trans = carry
      t = hp['t_max'] + (hp['t_min'] - hp['t_max']) * i / max(n - 1, 1)
      if solve:
        trans = solve_translation(pose, ray, w, trans)
      cam = pose + trans
      cam = cam + hp['align_step'] * w[:, None] * _toward_rays(cam, ray)
      if anchor is not None:
        cam = cam + anchor[1] * (anchor[0] - cam)
      root_pos = cam[root_idx].mean(0)
      # Fixed phase: the root sits on its ray (or is missing) and does not
      # move; re-centring keeps the pose root-relative with T unchanged.
      if solve:
        trans = root_pos
      pose = cam - root_pos
      pose = _diffuse(jax.random.fold_in(oil_rng, i), pose, t, params, hp,
                      score_fn=score_fn, sde=sde, scale=scale, cfg=cfg)
      pose = pose - pose[root_idx].mean(0)
      return (pose, trans), None
    return oil_step

  steps = {False: make_oil_step(False), True: make_oil_step(True)}
  # Trajectory frames: the pose after each of these (static) step indices.
  frames = cfg.trajectory_frames
  if frames:
    chunk = n // frames
    lead = n - chunk * frames
    frame_ends = [lead + chunk * (k + 1) - 1 for k in range(frames)]
  else:
    chunk, frame_ends = 0, []
  carry = (pose, trans)
  kept = []
  for solve, (a, b) in ((False, (0, solve_from)), (True, (solve_from, n))):
    carry, got = _oil_phase(steps[solve], carry, a, b, frame_ends, chunk)
    kept.extend(got)
  pose, trans = carry
  return pose, trans, (jnp.concatenate(kept, 0) if frames else None)


# ------------------------------------------------------------ batches


def hypothesis_keys(rng: jax.Array, sample_id: jax.Array,
                    num_hypotheses: int) -> jax.Array:
  """[S] keys of one sample's hypotheses: fold_in(fold_in(rng, id), h).

  Keys come from the sample's id, not its place in the batch, so a result
  does not depend on how rows are batched, chunked or sharded.
  """
  key = jax.random.fold_in(rng, sample_id)
  return jax.vmap(lambda h: jax.random.fold_in(key, h))(
      jnp.arange(num_hypotheses))


def make_fit_fn(*, score_fn: ScoreFn, sde: sde_lib.VPSDE, scale: float,
                cfg: FitConfig, mesh: jax.sharding.Mesh | None = None):
  """Builds the compiled batch fit.

  Args:
    score_fn: the prior's pure score function.
    sde: its SDE.
    scale: metres per model unit.
    cfg: fit settings (static parts are baked in; the sweepable ones in
      `cfg.hparams()` are the default of the `hparams` argument).
    mesh: optional mesh with axis 'data': the batch axis is sharded over it
      and the parameters replicated. Batch sizes must then be multiples of
      the mesh size (`fit_batch.batch_multiple`).

  Returns:
    `fit_batch(rng, batch, params, hparams=None) -> FitResult` with leading
    [B, S] axes, where `batch` = {'keypoints' [B, J, 2] px, 'confidence'
    [B, J], 'K' [B, 3, 3], 'id' [B] int32, 'mask' [B] bool} in the model
    layout. Sample b's key is fold_in(rng, id[b]) and its hypothesis h's
    fold_in(that, h), so results do not depend on batch composition.
    `fit_batch.num_traces()` counts compilations (tests);
    `fit_batch.batch_multiple` is the divisor batch sizes need;
    `fit_batch.jitted` / `.default_hparams` allow ahead-of-time lowering.
  """
  traces = [0]
  num_hyp = cfg.num_hypotheses
  one = functools.partial(fit_one, score_fn=score_fn, sde=sde, scale=scale,
                          cfg=cfg)

  def batched(rng, batch, params, hparams):
    traces[0] += 1  # Python side effect: runs once per trace.
    keypoints = jnp.asarray(batch['keypoints'], jnp.float32)
    confidence = jnp.asarray(batch['confidence'], jnp.float32)
    # Padded rows are computed (fixed shapes) but fitted to nothing.
    confidence = jnp.where(jnp.asarray(batch['mask'])[:, None], confidence,
                           0.0)
    bank = initial_pose_bank(rng, params, score_fn=score_fn, sde=sde,
                             scale=scale, cfg=cfg,
                             num_joints=keypoints.shape[1])

    def per_sample(kp, conf, K, sample_id):
      keys = hypothesis_keys(rng, sample_id, num_hyp)
      return jax.vmap(lambda k: one(k, kp, conf, K, params, hparams=hparams,
                                    pose_bank=bank))(keys)

    return jax.vmap(per_sample)(keypoints, confidence, batch['K'],
                                batch['id'])

  if mesh is None:
    jitted = jax.jit(batched)
    multiple = 1
  else:
    if 'data' not in mesh.axis_names:
      raise ValueError(f"mesh needs an axis 'data', has {mesh.axis_names}")
    data = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data'))
    rep = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    jitted = jax.jit(batched, in_shardings=(rep, data, rep, rep),
                     out_shardings=data)
    multiple = int(mesh.shape['data'])
  default_hp = cfg.hparams()

  def fit_batch(rng, batch, params, hparams=None):
    b = np.shape(batch['keypoints'])[0]
    if b % multiple:
      raise ValueError(f'batch size {b} is not a multiple of the mesh size '
                       f'{multiple}')
    return jitted(rng, batch, params,
                  default_hp if hparams is None else hparams)

  fit_batch.num_traces = lambda: traces[0]
  fit_batch.batch_multiple = multiple
  fit_batch.mesh = mesh
  fit_batch.config = cfg
  # For ahead-of-time compilation (benchmarks): jitted(rng, batch, params,
  # hparams).lower(...).compile().
  fit_batch.jitted = jitted
  fit_batch.default_hparams = default_hp
  return fit_batch


def prepare_inputs(keypoints, confidence=None, K=None, *, layout: str,
                   model_layout: str = 'h36m17', source: str = 'input',
                   ids=None) -> dict[str, np.ndarray]:
  """Host-side checks and conversion of 2D inputs into the model layout.

  NaN / infinite keypoints become 0 with confidence 0 (logged with their
  count); joints the input layout lacks get confidence 0 (via
  `skeleton.convert_confidence`).

  Args:
    keypoints: [N, J, 2] pixels, or [N, J, 3] with confidence as the last
      column (then `confidence` must be None).
    confidence: [N, J] or None (all 1).
    K: [3, 3] or [N, 3, 3] intrinsics.
    layout: the input's joint layout name.
    model_layout: the model's layout.
    source: the input's file name, for errors.
    ids: [N] sample ids (default 0..N-1).

  Returns:
    {'keypoints' [N, J_model, 2] float32, 'confidence' [N, J_model],
    'K' [N, 3, 3], 'id' [N] int32, 'num_nan' int}.

  Raises:
    InputError: naming `source` and the field, for a bad shape or layout.
  """
  src = skeleton.get_layout(layout, source=source, field='layout')
  kp = np.asarray(keypoints, np.float64)
  if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
    raise InputError(f'keypoints must be [N, J, 2] or [N, J, 3], got shape '
                     f'{kp.shape}', source=source, field='keypoints')
  if kp.shape[1] != src.num_joints:
    raise InputError(f'layout {src.name!r} has {src.num_joints} joints but '
                     f'the keypoints have {kp.shape[1]} (shape {kp.shape}); '
                     'set the right layout', source=source, field='keypoints')
  if kp.shape[-1] == 3:
    if confidence is not None:
      raise InputError('confidence given twice (third column and argument)',
                       source=source, field='confidence')
    kp, confidence = kp[..., :2], kp[..., 2]
  n = kp.shape[0]
  if confidence is None:
    conf = np.ones(kp.shape[:2])
  else:
    conf = np.asarray(confidence, np.float64)
    if conf.shape != kp.shape[:2]:
      raise InputError(f'confidence must be {kp.shape[:2]}, got {conf.shape}',
                       source=source, field='confidence')
  bad = ~(np.isfinite(kp).all(-1) & np.isfinite(conf))
  num_nan = int(bad.sum())
  if num_nan:
    logging.warning('%s: %d of %d keypoints are NaN/inf; treated as missing '
                    '(confidence 0)', source, num_nan, bad.size)
  kp = np.where(bad[..., None], 0.0, kp)
  conf = np.where(bad, 0.0, np.clip(conf, 0.0, 1.0))
  if K is None:
    raise InputError('camera intrinsics K are required', source=source,
                     field='K')
  k = camera.validate_K(K, source=source)
  if k.ndim == 2:
    k = np.broadcast_to(k, (n, 3, 3))
  elif k.shape[0] != n:
    raise InputError(f'{k.shape[0]} cameras for {n} poses', source=source,
                     field='K')
  kp_m = skeleton.convert(kp, src, model_layout)
  conf_m = skeleton.convert_confidence(conf, src, model_layout)
  # A derived joint (e.g. a midpoint) with a missing source has confidence 0;
  # its coordinates are meaningless, so zero them too.
  kp_m = np.where(conf_m[..., None] > 0, kp_m, 0.0)
  ids = np.arange(n) if ids is None else np.asarray(ids)
  return {'keypoints': kp_m.astype(np.float32),
          'confidence': conf_m.astype(np.float32),
          'K': np.ascontiguousarray(k, np.float32),
          'id': ids.astype(np.int32), 'num_nan': num_nan}


def _pad_rows(x: np.ndarray, size: int) -> np.ndarray:
  if x.shape[0] == size:
    return x
  pad = np.repeat(x[-1:], size - x.shape[0], axis=0)
  return np.concatenate([x, pad], axis=0)


def select_hypotheses(pose: np.ndarray, translation: np.ndarray,
                      reproj_error: np.ndarray, root_joints=(0,)
                      ) -> dict[str, np.ndarray]:
  """Non-oracle single poses from S hypotheses (no ground truth used).

  Args:
    pose: [N, S, J, 3]; translation [N, S, 3]; reproj_error [N, S] px.
    root_joints: the layout's root joints.

  Returns:
    {'best_hypothesis' [N] (lowest reprojection error), 'pose_min_reproj'
    [N, J, 3], 'translation_min_reproj' [N, 3], 'pose_mean' [N, J, 3]
    (joint-wise mean of the root-centred hypotheses), 'translation_mean'
    [N, 3] (mean of the hypotheses' root positions)}. On SyRIP the mean is
    the better non-oracle pick when S > 1 (experiments/RESULTS.md).
  """
  best = np.argmin(np.nan_to_num(reproj_error, nan=np.inf), axis=1)
  rows = np.arange(pose.shape[0])
  centred = pose - pose[:, :, list(root_joints)].mean(2, keepdims=True)
  return {'best_hypothesis': best.astype(np.int32),
          'pose_min_reproj': pose[rows, best],
          'translation_min_reproj': translation[rows, best],
          'pose_mean': centred.mean(1),
          'translation_mean': translation.mean(1)}


def fit_dataset(fit_batch, arrays: Mapping[str, np.ndarray], *,
                batch_size: int, rng: jax.Array, params: Any,
                hparams: Mapping[str, jax.Array] | None = None,
                progress=None, pad_to_batch: bool = False
                ) -> dict[str, np.ndarray]:
  """Fits every pose of a dataset in fixed-shape batches.

  The last batch is padded (repeating its last row, masked) so it reuses
  the compiled function; padded rows are dropped from the output. The batch
  size is rounded up to a multiple of `fit_batch.batch_multiple` (the mesh
  size), and down to the data size when the data is smaller (unless
  `pad_to_batch`).

  With several processes (`jax.process_count() > 1`, a `fit_batch` built
  with a mesh over all global devices) every process must call this with
  the same `arrays`: each process feeds its contiguous share of every batch
  (`parallel.process_rows`) to the global array, and every process gets the
  full result back (`parallel.to_host`).

  Args:
    fit_batch: from `make_fit_fn`.
    arrays: {'keypoints' [N, J, 2], 'confidence' [N, J], 'K' [N, 3, 3],
      optional 'id' [N]} in the model layout (see `prepare_inputs`).
    batch_size: poses per batch.
    rng: root fit key (each sample's key is fold_in(rng, id)).
    params: the score model's parameters.
    hparams: optional sweepable knobs (see `FitConfig.hparams`).
    progress: optional `progress.Progress` (updated in poses).
    pad_to_batch: keep `batch_size` (rounded up to the mesh size) even for
      fewer poses, so that calls with different pose counts (the chunks of
      a big job, independent shards) share one compiled shape and give
      bit-identical per-pose results.

  Returns:
    numpy dict: 'pose' [N, S, J, 3], 'translation' [N, S, 3], 'rotation'
    [N, S, 3, 3], 'reproj_error' [N, S], 'trajectory' [N, S, F, J, 3] when
    kept, 'id' [N], the `select_hypotheses` entries, and 'first_batch_s'
    (includes compilation) and 'total_s' (seconds).
  """
  n = int(np.shape(arrays['keypoints'])[0])
  if n == 0:
    raise ValueError('fit_dataset: no poses to fit')
  multiple = getattr(fit_batch, 'batch_multiple', 1)
  if not pad_to_batch:
    batch_size = min(int(batch_size), n)
  batch_size = int(math.ceil(batch_size / multiple) * multiple)
  mesh = getattr(fit_batch, 'mesh', None)
  multi = mesh is not None and jax.process_count() > 1
  if multi:
    # Imported here: only multi-process runs need it.
    from zedoi_jax import parallel  # pylint: disable=g-import-not-at-top
    local = parallel.process_rows(batch_size)
    if hparams is None:
      hparams = fit_batch.default_hparams
    rng, params, hparams = parallel.replicate((rng, params, hparams), mesh)
  ids = np.asarray(arrays.get('id', np.arange(n)), np.int32)
  fields = {k: np.asarray(arrays[k], np.float32)
            for k in ('keypoints', 'confidence', 'K')}
  outputs: dict[str, list[np.ndarray]] = {}
  t0 = time.perf_counter()
  first_s = 0.0
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    batch = {k: _pad_rows(v[start:stop], batch_size)
             for k, v in fields.items()}
    batch['id'] = _pad_rows(ids[start:stop], batch_size)
    batch['mask'] = np.arange(batch_size) < stop - start
    if multi:
      batch = parallel.to_global({k: v[local] for k, v in batch.items()},
                                 mesh)
      result = parallel.to_host(fit_batch(rng, batch, params, hparams))
    else:
      result = jax.tree.map(np.asarray,
                            fit_batch(rng, batch, params, hparams))
    for name in ('pose', 'translation', 'rotation', 'reproj_error',
                 'trajectory'):
      value = getattr(result, name)
      if value is not None:
        outputs.setdefault(name, []).append(value[:stop - start])
    if start == 0:
      first_s = time.perf_counter() - t0
    if progress is not None:
      progress.update(stop)
  out = {k: np.concatenate(v, 0) for k, v in outputs.items()}
  root = skeleton.get_layout(
      getattr(fit_batch, 'config', FitConfig()).layout).root_joints
  out.update(select_hypotheses(out['pose'], out['translation'],
                               out['reproj_error'], root))
  out['id'] = ids
  out['first_batch_s'] = np.float64(first_s)
  out['total_s'] = np.float64(time.perf_counter() - t0)
  return out
