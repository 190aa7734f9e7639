"""The pose prior network: a residual MLP that predicts diffusion noise.

`ScoreNet` maps a noisy root-relative pose x_t [B, J, 3] (model units) and a
diffusion time t [B] to a noise estimate eps_hat [B, J, 3]; the score is
-eps_hat / std(t) (`make_score_fn`). Predicting the noise rather than the
score keeps the output O(1) at every t, which is what the DSM loss in
`zedoi_jax.losses` trains.

Layout (method.md section 2), with stable parameter names so a ControlNet
copy (`zedoi_jax.models.control`) can mirror and inject into it:

  input:        flatten -> Dense(hidden) 'input' -> GroupNorm 'input_norm'
                -> SiLU
  time:         'fourier' (Gaussian Fourier features with fixed random
                frequencies) or 'positional' (sinusoidal of 1000 t) features
                -> Dense(embed_dim) 'temb_dense' -> SiLU
  block_{i}:    h = SiLU(GN(Dense(x))) + Dense(temb) ; dropout ;
                h = SiLU(GN(Dense(h))) ; out = x + h  (+ block_residuals[i])
  output:       Dense(J * 3) 'output', zero-initialised (eps_hat = 0 at init)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# Scale of the fixed Fourier frequencies for t in [0, 1]: 2 pi * 16 * N(0, 1)
# spans the slow and fast variations of the noise level over t.
FOURIER_SCALE = 16.0
# Seed of the fixed Fourier frequencies. numpy's legacy RandomState stream is
# guaranteed stable across versions (NEP 19), so an exported model stays
# valid without storing the frequencies among its parameters.
FOURIER_SEED = 0
EMBEDDINGS = ('fourier', 'positional')

ScoreFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def fourier_frequencies(embed_dim: int) -> np.ndarray:
  """The fixed random frequencies [embed_dim // 2] of the Fourier features."""
  rs = np.random.RandomState(FOURIER_SEED)
  return (rs.randn(embed_dim // 2) * FOURIER_SCALE).astype(np.float32)


def time_features(t: jax.Array, embed_dim: int, kind: str) -> jax.Array:
  """Raw time features [B, embed_dim] of diffusion times t [B] in [0, T]."""
  half = embed_dim // 2
  if kind == 'fourier':
    w = jnp.asarray(fourier_frequencies(embed_dim))
    arg = 2.0 * jnp.pi * t[:, None] * w[None, :]
  elif kind == 'positional':
    # DDPM-style sinusoids of 1000 t: t in [0, 1] spans a discrete-step range.
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half) / max(half - 1, 1))
    arg = 1000.0 * t[:, None] * freqs[None, :]
  else:
    raise ValueError(f'unknown time embedding {kind!r}; known {EMBEDDINGS}')
  return jnp.concatenate([jnp.sin(arg), jnp.cos(arg)], axis=-1)


class ResBlock(nn.Module):
  """Two Dense+GroupNorm+SiLU layers with the time embedding added, residual.

  Attributes:
    hidden: width.
    num_groups: GroupNorm groups.
    dropout: dropout rate (training only).
  """
  hidden: int
  num_groups: int
  dropout: float

  @nn.compact
  def __call__(self, x: jax.Array, temb: jax.Array, *,
               train: bool) -> jax.Array:
    h = nn.Dense(self.hidden, name='dense_0')(x)
    h = nn.silu(nn.GroupNorm(self.num_groups, name='norm_0')(h))
    h = h + nn.Dense(self.hidden, name='temb_proj')(temb)
    h = nn.Dropout(self.dropout, deterministic=not train)(h)
    h = nn.Dense(self.hidden, name='dense_1')(h)
    h = nn.silu(nn.GroupNorm(self.num_groups, name='norm_1')(h))
    return x + h


class ScoreNet(nn.Module):
  """Noise-prediction MLP for root-relative poses.

  Attributes:
    num_joints: J.
    hidden: hidden width.
    num_blocks: residual blocks.
    embed_dim: time-embedding width (even).
    num_groups: GroupNorm groups (must divide `hidden`).
    dropout: dropout rate inside blocks.
    embedding: 'fourier' | 'positional'.
  """
  num_joints: int = 17
  hidden: int = 512
  num_blocks: int = 4
  embed_dim: int = 128
  num_groups: int = 32
  dropout: float = 0.0
  embedding: str = 'fourier'

  def _check(self):
    if self.num_joints < 1 or self.hidden < 1 or self.num_blocks < 0:
      raise ValueError('num_joints, hidden must be >= 1 and num_blocks >= 0')
    if self.hidden % self.num_groups:
      raise ValueError(f'num_groups={self.num_groups} must divide '
                       f'hidden={self.hidden}')
    if self.embed_dim < 2 or self.embed_dim % 2:
      raise ValueError(f'embed_dim must be even, got {self.embed_dim}')
    if self.embedding not in EMBEDDINGS:
      raise ValueError(f'unknown embedding {self.embedding!r}; known '
                       f'{EMBEDDINGS}')
    if not 0.0 <= self.dropout < 1.0:
      raise ValueError(f'dropout must be in [0, 1), got {self.dropout}')

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, *, train: bool = False,
               block_residuals: Sequence[jax.Array] | None = None,
               return_block_outputs: bool = False):
    """Predicts the noise in x_t.

    Args:
      x: [B, J, 3] noisy poses, model units.
      t: [B] diffusion times.
      train: enables dropout (needs a 'dropout' rng).
      block_residuals: optional sequence of `num_blocks` arrays [B, hidden]
        added to the blocks' outputs (control-branch injection).
      return_block_outputs: also return the blocks' outputs.

    Returns:
      eps_hat [B, J, 3]; with `return_block_outputs`, (eps_hat, list of
      `num_blocks` arrays [B, hidden]).
    """
    self._check()
    if x.ndim != 3 or x.shape[1:] != (self.num_joints, 3):
      raise ValueError(f'x must be [B, {self.num_joints}, 3], got {x.shape}')
    if t.shape != x.shape[:1]:
      raise ValueError(f't must be [B]={x.shape[:1]}, got {t.shape}')
    if block_residuals is not None and len(block_residuals) != self.num_blocks:
      raise ValueError(f'need {self.num_blocks} block_residuals, got '
                       f'{len(block_residuals)}')
    b = x.shape[0]
    temb = time_features(t.astype(jnp.float32), self.embed_dim,
                         self.embedding)
    temb = nn.silu(nn.Dense(self.embed_dim, name='temb_dense')(temb))
    h = nn.Dense(self.hidden, name='input')(x.reshape(b, -1))
    h = nn.silu(nn.GroupNorm(self.num_groups, name='input_norm')(h))
    outputs = []
    for i in range(self.num_blocks):
      h = ResBlock(self.hidden, self.num_groups, self.dropout,
                   name=f'block_{i}')(h, temb, train=train)
      if block_residuals is not None:
        h = h + block_residuals[i]
      outputs.append(h)
    out = nn.Dense(self.num_joints * 3, kernel_init=nn.initializers.zeros,
                   name='output')(h)
    out = out.reshape(b, self.num_joints, 3)
    if return_block_outputs:
      return out, outputs
    return out


def as_variables(params: Any) -> dict[str, Any]:
  """Accepts a variables dict {'params': ...} or the inner params."""
  if isinstance(params, Mapping) and set(params.keys()) == {'params'}:
    return dict(params)
  return {'params': params}


def init_params(model: ScoreNet, rng: jax.Array,
                num_joints: int | None = None) -> dict[str, Any]:
  """Initial parameters (the inner tree, without the 'params' wrapper).

  Args:
    model: the network.
    rng: typed PRNG key.
    num_joints: J (defaults to `model.num_joints`).

  Returns:
    The parameter pytree {'input': ..., 'block_0': ..., 'output': ...}.
  """
  num_joints = model.num_joints if num_joints is None else num_joints
  x = jnp.zeros((1, num_joints, 3), jnp.float32)
  t = jnp.ones((1,), jnp.float32)
  return model.init(rng, x, t)['params']


def count_params(params: Any) -> int:
  """Number of scalar parameters in a pytree."""
  return int(sum(np.size(leaf) for leaf in jax.tree.leaves(params)))


def flops_per_call(model_kwargs: Mapping[str, Any]) -> int:
  """FLOPs (2 x multiply-adds) of the dense layers for ONE pose.

  Args:
    model_kwargs: the ScoreNet kwargs (config.model).

  Returns:
    Dense-layer FLOPs per pose per network call (norms and activations are
    left out: they are O(hidden), not O(hidden^2)).
  """
  m = ScoreNet(**dict(model_kwargs))
  d_in = m.num_joints * 3
  macs = m.embed_dim * m.embed_dim  # temb_dense
  macs += d_in * m.hidden  # input
  per_block = 2 * m.hidden * m.hidden + m.embed_dim * m.hidden
  macs += m.num_blocks * per_block
  macs += m.hidden * d_in  # output
  return 2 * macs


def make_score_fn(model: ScoreNet, sde) -> ScoreFn:
  """Wraps the noise predictor into a score function.

  Args:
    model: the ScoreNet.
    sde: the SDE it was trained with (gives std(t)).

  Returns:
    Pure `score_fn(params, x [B, J, 3], t [B]) -> [B, J, 3]` =
    -eps_hat / std(t), in model units. `params` may be the inner parameter
    tree (what `checkpoint.export_model` stores for priors) or the variables
    dict {'params': ...}.
  """

  def score_fn(params, x, t):
    eps = model.apply(as_variables(params), x, t, train=False)
    return -eps / sde.std(t)[:, None, None]

  return score_fn


def make_eps_fn(model: ScoreNet) -> Callable[..., jax.Array]:
  """`eps_fn(params, x, t, rng=None, train=False) -> eps_hat [B, J, 3]`."""

  def eps_fn(params, x, t, rng=None, train=False):
    rngs = {'dropout': rng} if (train and rng is not None) else None
    return model.apply(as_variables(params), x, t, train=train, rngs=rngs)

  return eps_fn
