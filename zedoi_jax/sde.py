"""Variance-preserving SDEs for score-based diffusion, as pure functions.

The forward process is dx = f(x, t) dt + g(t) dw on t in [0, T] with a linear
noise rate beta(t) = beta_min + t (beta_max - beta_min). Two variants:

- VP:     f = -beta(t) x / 2,  g^2 = beta(t);
          p(x_t | x_0) = N(alpha_t x_0, (1 - alpha_t^2) I).
- sub-VP: f = -beta(t) x / 2,  g^2 = beta(t) (1 - exp(-2 int_0^t beta));
          p(x_t | x_0) = N(alpha_t x_0, (1 - alpha_t^2)^2 I),
  where alpha_t = exp(-int_0^t beta / 2). ZeDO uses sub-VP with beta_min = 0.1
  and beta_max = 20.

Every method is a pure jnp function of its array arguments, so an SDE (a
frozen dataclass) can be closed over inside jit/vmap/scan.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp


def _expand(v: jax.Array, x: jax.Array) -> jax.Array:
  """Broadcasts per-sample `v` [...] against `x` [..., *event]."""
  v = jnp.asarray(v, x.dtype)
  return v.reshape(v.shape + (1,) * (x.ndim - v.ndim))


@dataclasses.dataclass(frozen=True)
class VPSDE:
  """Variance-preserving SDE (DDPM in continuous time)."""

  beta_min: float = 0.1
  beta_max: float = 20.0
  T: float = 1.0
  eps: float = 1e-3

  def __post_init__(self):
    if not 0.0 <= self.beta_min < self.beta_max:
      raise ValueError(
          f'need 0 <= beta_min < beta_max, got {self.beta_min}, '
          f'{self.beta_max}')
    if not 0.0 < self.eps < self.T:
      raise ValueError(f'need 0 < eps < T, got eps={self.eps}, T={self.T}')

  def beta(self, t: jax.Array) -> jax.Array:
    """Noise rate beta(t)."""
    return self.beta_min + t * (self.beta_max - self.beta_min)

  def int_beta(self, t: jax.Array) -> jax.Array:
    """int_0^t beta(s) ds."""
    return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

  def alpha(self, t: jax.Array) -> jax.Array:
    """Mean coefficient alpha_t = exp(-int beta / 2) of p(x_t | x_0)."""
    return jnp.exp(-0.5 * self.int_beta(t))

  def std(self, t: jax.Array) -> jax.Array:
    """Standard deviation of p(x_t | x_0)."""
    return jnp.sqrt(-jnp.expm1(-self.int_beta(t)))

  def marginal_prob(self, x: jax.Array,
                    t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and std of p(x_t | x_0 = x).

    Args:
      x: [B, ...] clean data.
      t: [B] diffusion times.

    Returns:
      mean [B, ...] and std [B].
    """
    return _expand(self.alpha(t), x) * x, self.std(t)

  def diffusion_sq(self, t: jax.Array) -> jax.Array:
    """g(t)^2."""
    return self.beta(t)

  def sde(self, x: jax.Array, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Forward drift f(x, t) [B, ...] and diffusion g(t) [B]."""
    drift = -0.5 * _expand(self.beta(t), x) * x
    return drift, jnp.sqrt(self.diffusion_sq(t))

  def reverse_drift(self, x: jax.Array, t: jax.Array, score: jax.Array, *,
                    probability_flow: bool = False) -> jax.Array:
    """Drift of the reverse-time SDE (or probability-flow ODE) at (x, t).

    Integrating dx = reverse_drift dt backwards in time (dt < 0) denoises.

    Args:
      x: [B, ...] current state.
      t: [B] times.
      score: [B, ...] the score grad log p_t(x).
      probability_flow: if True, the ODE drift f - g^2 score / 2.

    Returns:
      [B, ...] drift f - g^2 score (SDE) or f - g^2 score / 2 (ODE).
    """
    drift, _ = self.sde(x, t)
    g2 = _expand(self.diffusion_sq(t), x)
    factor = 0.5 if probability_flow else 1.0
    return drift - factor * g2 * score

  def prior_sampling(self, rng: jax.Array, shape) -> jax.Array:
    """Samples x_T ~ N(0, std(T)^2 I)."""
    return self.std(jnp.asarray(self.T)) * jax.random.normal(rng, shape)


@dataclasses.dataclass(frozen=True)
class SubVPSDE(VPSDE):
  """Sub-VP SDE: the VP drift with a smaller diffusion (ZeDO's choice)."""

  def std(self, t: jax.Array) -> jax.Array:
    return -jnp.expm1(-self.int_beta(t))

  def diffusion_sq(self, t: jax.Array) -> jax.Array:
    return self.beta(t) * -jnp.expm1(-2.0 * self.int_beta(t))


_SDES = {'vp': VPSDE, 'subvp': SubVPSDE}


def get_sde(name: str, *, beta_min: float = 0.1, beta_max: float = 20.0,
            eps: float = 1e-3) -> VPSDE:
  """Returns the SDE named `name` ('vp' | 'subvp')."""
  if name not in _SDES:
    raise ValueError(f'unknown SDE {name!r}; known: {sorted(_SDES)}')
  return _SDES[name](beta_min=beta_min, beta_max=beta_max, eps=eps)


def euler_maruyama_step(sde: VPSDE, rng: jax.Array, x: jax.Array,
                        t: jax.Array, dt: jax.Array, score: jax.Array, *,
                        add_noise: bool = True) -> jax.Array:
  """One reverse-time Euler-Maruyama step from t to t - dt.

  Args:
    sde: the SDE.
    rng: key for the noise.
    x: [B, ...] state at time t.
    t: [B] current times.
    dt: [B] or scalar positive step size.
    score: [B, ...] score at (x, t).
    add_noise: whether to add the g sqrt(dt) z term (off for a final step).

  Returns:
    [B, ...] the state at t - dt.
  """
  dt = _expand(jnp.broadcast_to(dt, t.shape), x)
  x_mean = x - sde.reverse_drift(x, t, score) * dt
  if not add_noise:
    return x_mean
  g = _expand(jnp.sqrt(sde.diffusion_sq(t)), x)
  return x_mean + g * jnp.sqrt(dt) * jax.random.normal(rng, x.shape, x.dtype)


def tweedie_denoise(sde: VPSDE, x_t: jax.Array, t: jax.Array,
                    score: jax.Array) -> jax.Array:
  """Posterior mean E[x_0 | x_t] = (x_t + std^2 score) / alpha (Tweedie)."""
  std = _expand(sde.std(t), x_t)
  return (x_t + std**2 * score) / _expand(sde.alpha(t), x_t)
