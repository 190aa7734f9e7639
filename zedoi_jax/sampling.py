"""Samplers for a score model, and statistics of sampled poses.

All samplers integrate the reverse-time SDE (or its probability-flow ODE)
from t_start down to sde.eps on a uniform time grid, with `jax.lax.scan`
(`num_steps` and `method` are static: jit with them as static arguments or
close over them). They only see a pure `score_fn(params, x [B, J, 3], t [B])`
and its params, so the same code samples the prior, a fine-tuned prior, a
controlled prior or a guided mixture. Poses are in model units.

- 'em':  Euler-Maruyama on the reverse SDE; the last step adds no noise.
- 'ode': Euler on the probability-flow ODE (deterministic given x_T).
- 'pc':  predictor-corrector: an EM predictor followed by one Langevin
         corrector step (signal-to-noise ratio `snr`) per time step.

The statistics helpers (numpy, host side) compare samples with training
data: bone lengths, left/right symmetry and nearest-training-pose distance
(a memorisation check).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import sde as sde_lib
from zedoi_jax import skeleton

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]
METHODS = ('em', 'ode', 'pc')


def _integrate(rng, score_fn, params, sde, x, t_start, num_steps, method,
               snr):
  """Reverse integration of x [B, J, 3] from t_start to sde.eps."""
  if num_steps < 1:
    raise ValueError(f'num_steps must be >= 1, got {num_steps}')
  if method not in METHODS:
    raise ValueError(f'unknown method {method!r}; known {METHODS}')
  b = x.shape[0]
  ts = jnp.linspace(t_start, sde.eps, num_steps + 1)
  last = jnp.arange(num_steps) == num_steps - 1

  def body(x, inputs):
    t_now, t_next, is_last, key = inputs
    p_rng, c_rng = jax.random.split(key)
    t = jnp.full((b,), t_now, x.dtype)
    dt = t_now - t_next
    score = score_fn(params, x, t)
    if method == 'ode':
      x_new = x - sde.reverse_drift(x, t, score, probability_flow=True) * dt
    else:
      noisy = sde_lib.euler_maruyama_step(sde, p_rng, x, t, dt, score)
      mean = sde_lib.euler_maruyama_step(sde, p_rng, x, t, dt, score,
                                         add_noise=False)
      x_new = jnp.where(is_last, mean, noisy)
      if method == 'pc':
        x_new = jnp.where(is_last, x_new,
                          _langevin(c_rng, score_fn, params, sde, x_new,
                                    t_next, snr))
    return x_new, None

  keys = jax.random.split(rng, num_steps)
  x, _ = jax.lax.scan(body, x, (ts[:-1], ts[1:], last, keys))
  return x


def _langevin(rng, score_fn, params, sde, x, t_scalar, snr):
  """One Langevin corrector step at time t (score_sde's step size rule)."""
  b = x.shape[0]
  t = jnp.full((b,), t_scalar, x.dtype)
  del sde  # the step size rule needs no SDE quantity (see below)
  score = score_fn(params, x, t)
  noise = jax.random.normal(rng, x.shape, x.dtype)
  g_norm = jnp.linalg.norm(score.reshape(b, -1), axis=-1).mean()
  n_norm = jnp.linalg.norm(noise.reshape(b, -1), axis=-1).mean()
  # score_sde scales this by the discrete DDPM alpha = 1 - beta / N, which
  # is ~1 for fine grids; we drop it.
  step = 2.0 * jnp.square(snr * n_norm / (g_norm + 1e-12))
  return x + step * score + jnp.sqrt(2.0 * step) * noise


def sample(rng: jax.Array, score_fn: ScoreFn, params: Any,
           sde: sde_lib.VPSDE, *, num_samples: int, num_joints: int,
           num_steps: int, method: str = 'em',
           snr: float = 0.16) -> jax.Array:
  """Draws poses from the model by reverse-time integration from T.

  Args:
    rng: typed key.
    score_fn: `score_fn(params, x [B, J, 3], t [B]) -> [B, J, 3]`.
    params: its parameters.
    sde: the SDE the model was trained with.
    num_samples: N (static).
    num_joints: J (static).
    num_steps: integration steps (static).
    method: 'em' | 'ode' | 'pc' (static).
    snr: Langevin corrector signal-to-noise ratio ('pc' only).

  Returns:
    [N, J, 3] poses in model units (multiply by the model's scale for
    metres).
  """
  x_rng, s_rng = jax.random.split(rng)
  x = sde.prior_sampling(x_rng, (num_samples, num_joints, 3))
  return _integrate(s_rng, score_fn, params, sde, x, sde.T, num_steps,
                    method, snr)


def denoise_from(rng: jax.Array, score_fn: ScoreFn, params: Any,
                 sde: sde_lib.VPSDE, x0: jax.Array, t_start: float,
                 num_steps: int, *, method: str = 'em',
                 snr: float = 0.16) -> jax.Array:
  """Noises x0 to t_start with the forward process, then integrates back.

  Used for guided augmentation (noise an adult pose part-way, denoise with
  an infant-guided score) and to probe what a model does to a given pose.

  Args:
    rng: typed key.
    score_fn: as in `sample`.
    params: its parameters.
    sde: the SDE.
    x0: [B, J, 3] start poses, model units.
    t_start: diffusion time in (sde.eps, sde.T] to noise to.
    num_steps: reverse steps from t_start to sde.eps (static).
    method: 'em' | 'ode' | 'pc' (static).
    snr: corrector SNR ('pc' only).

  Returns:
    [B, J, 3] denoised poses, model units.
  """
  n_rng, s_rng = jax.random.split(rng)
  t = jnp.full(x0.shape[:1], t_start, x0.dtype)
  mean, std = sde.marginal_prob(x0, t)
  x = mean + std[:, None, None] * jax.random.normal(n_rng, x0.shape, x0.dtype)
  return _integrate(s_rng, score_fn, params, sde, x, t_start, num_steps,
                    method, snr)


# ------------------------------------------------------- sample statistics


def bone_stats(poses, layout: str | skeleton.Layout = 'h36m17'
               ) -> dict[str, np.ndarray]:
  """Per-bone length mean and std.

  Args:
    poses: [N, J, 3] (any length unit).
    layout: joint layout.

  Returns:
    {'mean': [num_bones], 'std': [num_bones]} in the unit of `poses`,
    bones ordered as `layout.bones`.
  """
  lengths = np.asarray(skeleton.bone_lengths(np.asarray(poses), layout))
  return {'mean': lengths.mean(0), 'std': lengths.std(0)}


def symmetry_error(poses, layout: str | skeleton.Layout = 'h36m17'
                   ) -> dict[str, Any]:
  """Relative left/right bone-length difference.

  Args:
    poses: [N, J, 3].
    layout: joint layout.

  Returns:
    {'pairs': [(left_bone_name, right_bone_name)], 'per_pair': [P] mean over
    poses of |l - r| / ((l + r) / 2), 'mean': scalar}.
  """
  layout = skeleton.get_layout(layout)
  flip = layout.flip_index
  bones = list(layout.bones)
  lengths = np.asarray(skeleton.bone_lengths(np.asarray(poses), layout))
  pairs, per_pair = [], []
  for i, (c, p) in enumerate(bones):
    mirror = (flip[c], flip[p])
    if c in layout.left_joints and mirror in bones:
      j = bones.index(mirror)
      l, r = lengths[:, i], lengths[:, j]
      per_pair.append(float(np.mean(np.abs(l - r) / ((l + r) / 2 + 1e-12))))
      pairs.append((f'{layout.joint_names[p]}-{layout.joint_names[c]}',
                    f'{layout.joint_names[flip[p]]}-'
                    f'{layout.joint_names[flip[c]]}'))
  return {'pairs': pairs, 'per_pair': per_pair,
          'mean': float(np.mean(per_pair)) if per_pair else 0.0}


def nearest_distance(samples, data, *, chunk: int = 256) -> np.ndarray:
  """Mean-joint distance of each sample to its nearest data pose.

  Args:
    samples: [N, J, 3].
    data: [M, J, 3], same units.
    chunk: samples per block (bounds memory at chunk * M * J).

  Returns:
    [N] min over data of the mean joint distance (unit of the inputs).
  """
  samples = np.asarray(samples, np.float32)
  data = np.asarray(data, np.float32)
  out = np.empty(len(samples), np.float32)
  for s in range(0, len(samples), chunk):
    block = samples[s:s + chunk]
    d = np.linalg.norm(block[:, None] - data[None], axis=-1).mean(-1)
    out[s:s + chunk] = d.min(1)
  return out
