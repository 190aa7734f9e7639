"""ControlNet-style control branch over a frozen pose prior (ZeDO-i).

ZeDO-i adapts the adult prior to infants by duplicating the prior's weights
into a *control branch*, freezing the prior, and feeding the branch's block
outputs into the prior's blocks through zero-initialised linear layers
(method.md section 4, after ControlNet). Here:

- `ControlBranch` runs a trainable copy of the prior's trunk (the same
  `ScoreNet`, submodule 'trunk', with `return_block_outputs=True`) on the
  same noisy pose and time, and maps each block output h_i [B, hidden]
  through its own Dense(hidden -> hidden) 'zero_{i}' whose kernel AND bias
  start at zero. The results are the `block_residuals` added to the frozen
  prior's blocks (`ScoreNet(block_residuals=...)`).
- At initialisation every residual is exactly 0.0, so the controlled network
  returns bit-for-bit the prior's output; training starts at the prior.
  (With both kernel and bias at zero, the first step's gradient reaches only
  the zero layers; the trunk copy starts moving from the second step, as in
  ControlNet.)
- The trunk copy is initialised FROM the prior's parameters with
  `merge_params`, which fails on any missing, unexpected or mis-shaped leaf.
  Its 'output' layer is part of the copy (the ScoreNet always builds it) but
  does not feed the residuals, so it gets zero gradient and never moves.

What the branch receives besides (x_t, t): nothing (`condition='none'`).
ControlNet's condition (an edge map, a pose image) has no counterpart here:
every adaptation pose is an infant, so a domain flag would be a constant
input that the zero layers' biases already represent. The domain switch is
instead *whether the branch is on*: the prior alone is the adult
("unconditional") model and prior + branch the infant one, which is what a
classifier-free-style guidance `out + w * (out - out_prior)` needs. The
'condition' entry of the control kwargs records this so a future branch with
a real condition is not confused with this one.

Parameter trees: the controlled model's params are
`{'prior': <ScoreNet params>, 'control': <ControlBranch params>}`, with
ControlBranch params `{'trunk': <ScoreNet params>, 'zero_0': {'kernel',
'bias'}, ...}`. Training differentiates only 'control' (`zedoi_jax.modes.adapt`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax.models import score_net

# Control kwargs the exported model.json carries (and their defaults).
CONTROL_DEFAULTS = {
    # What the branch sees besides (x_t, t): only 'none' is implemented
    # (see the module docstring).
    'condition': 'none',
    # Dropout inside the trunk copy while training (the prior never drops).
    'dropout': 0.0,
}
CONDITIONS = ('none',)


def control_kwargs_with_defaults(control_kwargs: Mapping[str, Any] | None
                                 ) -> dict[str, Any]:
  """Checks control kwargs and fills in defaults.

  Args:
    control_kwargs: {'condition', 'dropout'} (a subset), or None.

  Returns:
    The complete dict.

  Raises:
    ValueError: unknown keys or values.
  """
  kwargs = dict(CONTROL_DEFAULTS, **dict(control_kwargs or {}))
  unknown = sorted(set(kwargs) - set(CONTROL_DEFAULTS))
  if unknown:
    raise ValueError(f'unknown control kwargs {unknown}; known '
                     f'{sorted(CONTROL_DEFAULTS)}')
  if kwargs['condition'] not in CONDITIONS:
    raise ValueError(f'unknown control condition {kwargs["condition"]!r}; '
                     f'known {CONDITIONS}')
  if not 0.0 <= float(kwargs['dropout']) < 1.0:
    raise ValueError(f'control dropout must be in [0, 1), got '
                     f'{kwargs["dropout"]}')
  kwargs['dropout'] = float(kwargs['dropout'])
  return kwargs


class ControlBranch(nn.Module):
  """Trainable trunk copy + zero-initialised injection layers.

  Attributes:
    prior_kwargs: the prior's ScoreNet kwargs (the copy has the same
      architecture; its dropout comes from `dropout`).
    dropout: dropout rate in the copy while training.
  """
  prior_kwargs: Mapping[str, Any]
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, t: jax.Array, *,
               train: bool = False) -> list[jax.Array]:
    """Block residuals for the prior.

    Args:
      x: [B, J, 3] noisy poses, model units.
      t: [B] diffusion times.
      train: enables dropout in the copy (needs a 'dropout' rng).

    Returns:
      `num_blocks` arrays [B, hidden] to pass as the prior's
      `block_residuals`.
    """
    kwargs = dict(self.prior_kwargs, dropout=self.dropout)
    trunk = score_net.ScoreNet(**kwargs, name='trunk')
    _, outputs = trunk(x, t, train=train, return_block_outputs=True)
    hidden = trunk.hidden
    return [
        nn.Dense(hidden, kernel_init=nn.initializers.zeros,
                 bias_init=nn.initializers.zeros, name=f'zero_{i}')(h)
        for i, h in enumerate(outputs)
    ]


def _flat(tree: Any) -> dict[str, Any]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(p): leaf for p, leaf in leaves}


def merge_params(target: Any, source: Any, *, what: str = 'params') -> Any:
  """`source`'s values on `target`'s structure; fails on any mismatch.

  Args:
    target: the expected tree (arrays or `jax.ShapeDtypeStruct`s, e.g. from
      `jax.eval_shape`).
    source: the tree to copy from (e.g. the prior's parameters).
    what: a name for error messages.

  Returns:
    A tree with `target`'s structure holding `source`'s values as jnp arrays
    of `target`'s dtypes.

  Raises:
    ValueError: naming the keys missing from `source`, the keys `source`
      has in excess, and the leaves whose shapes differ.
  """
  t_flat, s_flat = _flat(target), _flat(source)
  missing = sorted(set(t_flat) - set(s_flat))
  extra = sorted(set(s_flat) - set(t_flat))
  shapes = sorted(
      f'{k}: {tuple(np.shape(s_flat[k]))} != {tuple(t_flat[k].shape)}'
      for k in set(t_flat) & set(s_flat)
      if tuple(np.shape(s_flat[k])) != tuple(t_flat[k].shape))
  if missing or extra or shapes:
    raise ValueError(
        f'cannot merge {what}: missing {missing[:8]}, unexpected '
        f'{extra[:8]}, shape mismatches {shapes[:8]} (is the source from '
        'another architecture?)')
  leaves, treedef = jax.tree_util.tree_flatten_with_path(target)
  values = [jnp.asarray(s_flat[jax.tree_util.keystr(p)], dtype=leaf.dtype)
            for p, leaf in leaves]
  return jax.tree_util.tree_unflatten(treedef, values)


def make_branch(prior_model_kwargs: Mapping[str, Any],
                control_kwargs: Mapping[str, Any] | None = None
                ) -> ControlBranch:
  """The ControlBranch for a prior with ScoreNet kwargs `prior_model_kwargs`."""
  ck = control_kwargs_with_defaults(control_kwargs)
  return ControlBranch(prior_kwargs=dict(prior_model_kwargs),
                       dropout=ck['dropout'])


def init_control_params(prior_params: Any,
                        prior_model_kwargs: Mapping[str, Any],
                        control_kwargs: Mapping[str, Any] | None = None
                        ) -> dict[str, Any]:
  """Control-branch parameters: trunk = a copy of the prior, zero layers = 0.

  Args:
    prior_params: the prior's ScoreNet parameter tree (inner params, or
      {'params': ...}).
    prior_model_kwargs: the prior's ScoreNet kwargs.
    control_kwargs: control kwargs (see `CONTROL_DEFAULTS`).

  Returns:
    {'trunk': copy of prior_params, 'zero_{i}': {'kernel': 0 [hidden,
    hidden], 'bias': 0 [hidden]}}.

  Raises:
    ValueError: the prior's parameters do not fit `prior_model_kwargs`.
  """
  branch = make_branch(prior_model_kwargs, control_kwargs)
  j = int(branch.prior_kwargs.get('num_joints', 17))
  x = jnp.zeros((1, j, 3), jnp.float32)
  t = jnp.ones((1,), jnp.float32)
  shapes = jax.eval_shape(
      lambda: branch.init(jax.random.key(0), x, t)['params'])
  prior_params = score_net.as_variables(prior_params)['params']
  params = {'trunk': merge_params(shapes['trunk'], prior_params,
                                  what='the prior into the control trunk')}
  for name, sub in shapes.items():
    if name != 'trunk':
      params[name] = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), sub)
  return params


EpsFn = Callable[..., jax.Array]


def make_controlled_eps_fn(*, prior_model_kwargs: Mapping[str, Any],
                           control_kwargs: Mapping[str, Any] | None = None
                           ) -> EpsFn:
  """Noise prediction of the prior with the control branch injected.

  Args:
    prior_model_kwargs: the prior's ScoreNet kwargs.
    control_kwargs: control kwargs (see `CONTROL_DEFAULTS`).

  Returns:
    Pure `eps_fn(params, x [B, J, 3], t [B], rng=None, train=False) ->
    eps_hat [B, J, 3]` with params = {'prior': ..., 'control': ...}. The
    prior always runs deterministically; `train` enables dropout in the
    branch only (with `rng`).
  """
  prior = score_net.ScoreNet(**dict(prior_model_kwargs))
  branch = make_branch(prior_model_kwargs, control_kwargs)

  def eps_fn(params, x, t, rng=None, train=False):
    rngs = {'dropout': rng} if (train and rng is not None) else None
    residuals = branch.apply({'params': params['control']}, x, t,
                             train=train, rngs=rngs)
    return prior.apply(score_net.as_variables(params['prior']), x, t,
                       train=False, block_residuals=residuals)

  return eps_fn


def make_controlled_score_fn(*, prior_model_kwargs: Mapping[str, Any],
                             control_kwargs: Mapping[str, Any] | None,
                             sde) -> score_net.ScoreFn:
  """The controlled model as a score function (what fitting uses).

  Args:
    prior_model_kwargs: the prior's ScoreNet kwargs (model.json 'model').
    control_kwargs: the branch's kwargs (model.json 'control').
    sde: the SDE (gives std(t)).

  Returns:
    Pure `score_fn(params, x [B, J, 3], t [B]) -> [B, J, 3]` =
    -eps_hat / std(t) in model units, params = {'prior': ..., 'control':
    ...}. With freshly initialised control params it equals the prior's
    score exactly.
  """
  eps_fn = make_controlled_eps_fn(prior_model_kwargs=prior_model_kwargs,
                                  control_kwargs=control_kwargs)

  def score_fn(params, x, t):
    return -eps_fn(params, x, t) / sde.std(t)[:, None, None]

  return score_fn
