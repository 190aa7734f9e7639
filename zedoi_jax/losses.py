"""Denoising score matching loss and train-step factories.

The DSM loss trains a noise predictor: for clean poses x0 [B, J, 3] (model
units), t ~ U(eps, T), z ~ N(0, I) and x_t = alpha_t x0 + std_t z,

  loss = mean_B,J,3 (eps_hat(x_t, t) - z)^2.

With score = -eps_hat / std_t this is denoising score matching with the
weighting lambda(t) = std_t^2 (Song et al. 2021): std_t^2 ||s(x_t, t) -
grad log p(x_t | x0)||^2 = ||eps_hat - z||^2, the usual choice that keeps all
noise levels on the same scale. Mean reduction over batch, joints and
coordinates.

Factories (pure closures, built once per run):

- `make_dsm_loss(eps_fn, sde)`: loss_fn(trainable, frozen, x0, rng) ->
  (loss, aux); `eps_fn(trainable, frozen, x_t, t, rng) -> eps_hat` decides
  what is trained. For the prior: `frozen` is unused. For a control branch
  (next stage): `trainable` = control params, `frozen` = prior params, and
  eps_fn runs the controlled network; only `trainable` is differentiated.
- `make_update_fn(loss_fn, tx, ema_rate)`: one optimiser + EMA step on the
  train state dict(step, params, ema_params, opt_state), with a NaN guard.
- `make_train_step(...)`: the full step for prior training or adaptation:
  draws the batch from a pose array with `fold_in(base_rng, step)`, augments
  it, and calls the update. Pass `model` for the plain prior, or `eps_fn`
  (and then `frozen` at call time) for anything else.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from zedoi_jax import sde as sde_lib

State = dict[str, Any]
EpsFn = Callable[[Any, Any, jax.Array, jax.Array, jax.Array], jax.Array]
LossFn = Callable[[Any, Any, jax.Array, jax.Array],
                  tuple[jax.Array, dict[str, jax.Array]]]


def init_state(params: Any, tx: optax.GradientTransformation) -> State:
  """The train state: a plain dict pytree (what TrainCheckpointer saves)."""
  return {
      'step': jnp.zeros((), jnp.int32),
      'params': params,
      'ema_params': jax.tree.map(jnp.array, params),
      'opt_state': tx.init(params),
  }


def make_dsm_loss(eps_fn: EpsFn, sde: sde_lib.VPSDE) -> LossFn:
  """Denoising score matching with noise prediction (see module docstring).

  Args:
    eps_fn: `eps_fn(trainable, frozen, x_t [B, J, 3], t [B], rng) ->
      eps_hat [B, J, 3]`; `rng` is for dropout.
    sde: the forward SDE.

  Returns:
    `loss_fn(trainable, frozen, x0 [B, J, 3], rng) -> (loss scalar, aux)`.
  """

  def loss_fn(trainable, frozen, x0, rng):
    t_rng, z_rng, d_rng = jax.random.split(rng, 3)
    b = x0.shape[0]
    t = jax.random.uniform(t_rng, (b,), minval=sde.eps, maxval=sde.T)
    z = jax.random.normal(z_rng, x0.shape, x0.dtype)
    mean, std = sde.marginal_prob(x0, t)
    x_t = mean + std[:, None, None] * z
    eps_hat = eps_fn(trainable, frozen, x_t, t, d_rng)
    loss = jnp.mean(jnp.square(eps_hat - z))
    return loss, {}

  return loss_fn


def ema_decay(step: jax.Array, ema_rate: float) -> jax.Array:
  """EMA decay min(ema_rate, (1 + step) / (10 + step)).

  The warm-up (as in TF's ExponentialMovingAverage with num_updates) keeps
  the EMA from being dominated by the random initialisation in short runs.
  """
  step = step.astype(jnp.float32)
  return jnp.minimum(ema_rate, (1.0 + step) / (10.0 + step))


def make_update_fn(loss_fn: LossFn, tx: optax.GradientTransformation,
                   ema_rate: float) -> Callable[..., tuple[State, dict]]:
  """One gradient step on `state['params']` with EMA and a NaN guard.

  Args:
    loss_fn: `loss_fn(trainable, frozen, batch, rng) -> (loss, aux)`.
    tx: the optax optimiser.
    ema_rate: EMA decay (after warm-up, see `ema_decay`), in [0, 1).

  Returns:
    Pure `update(state, frozen, batch, rng) -> (state, metrics)`. When the
    loss or the gradient is not finite, the state is returned unchanged
    (also its step) and metrics['finite'] is False: the caller must stop.
    metrics = {'loss', 'grad_norm', 'finite', **aux}.

  The EMA is `optax.incremental_update` with step size 1 - `ema_decay`. The
  guard selects the old state with `optax.tree.where` rather than wrapping
  `tx` in `optax.apply_if_finite`, which would not keep this contract: it
  checks only the gradient (not the loss), it counts rejected steps in its
  own state (so opt_state would change on a NaN step), the step counter and
  the EMA (which would move towards the unchanged params) would need this
  guard anyway, and its `ApplyIfFiniteState` wrapper would change the
  opt_state tree, so that in-progress training checkpoints could no longer
  be restored.
  """
  if not 0.0 <= ema_rate < 1.0:
    raise ValueError(f'ema_rate must be in [0, 1), got {ema_rate}')
  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

  def update(state, frozen, batch, rng):
    (loss, aux), grads = grad_fn(state['params'], frozen, batch, rng)
    grad_norm = optax.tree.norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
    updates, opt_state = tx.update(grads, state['opt_state'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    ema = optax.incremental_update(
        params, state['ema_params'],
        step_size=1.0 - ema_decay(state['step'], ema_rate))
    new = {'step': state['step'] + 1, 'params': params, 'ema_params': ema,
           'opt_state': opt_state}
    new = optax.tree.where(finite, new, state)
    metrics = {'loss': loss, 'grad_norm': grad_norm, 'finite': finite, **aux}
    return new, metrics

  return update


def make_batch_fn(*, augment_fn: Callable[[jax.Array, jax.Array], jax.Array]
                  | None, batch_size: int
                 ) -> Callable[[jax.Array, jax.Array], jax.Array]:
  """`batch_fn(poses [N, J, 3], rng) -> [batch_size, J, 3]`.

  Draws indices uniformly with replacement (no epochs, so a resumed run
  continues the same stream: the key depends only on the step) and applies
  `augment_fn` per pose (vmapped) when given.
  """
  if batch_size < 1:
    raise ValueError(f'batch_size must be >= 1, got {batch_size}')

  def batch_fn(poses, rng):
    i_rng, a_rng = jax.random.split(rng)
    idx = jax.random.randint(i_rng, (batch_size,), 0, poses.shape[0])
    x0 = poses[idx]
    if augment_fn is not None:
      x0 = jax.vmap(augment_fn)(jax.random.split(a_rng, batch_size), x0)
    return x0

  return batch_fn


def make_train_step(*, sde: sde_lib.VPSDE, tx: optax.GradientTransformation,
                    ema_rate: float, batch_size: int,
                    augment_fn=None, model=None, eps_fn: EpsFn | None = None,
                    batch_fn=None, batch_sharding=None
                    ) -> Callable[..., tuple[State, dict]]:
  """The DSM train step for the prior (or, with `eps_fn`, an adaptation).

  Args:
    sde: the forward SDE.
    tx: optimiser (e.g. `train.make_optimizer`).
    ema_rate: EMA decay rate.
    batch_size: poses per step.
    augment_fn: `(rng, pose [J, 3]) -> pose`, or None.
    model: a ScoreNet; trains all its parameters (state['params'] is the
      inner parameter tree). Exactly one of `model` / `eps_fn`.
    eps_fn: `eps_fn(trainable, frozen, x_t, t, rng) -> eps_hat`, e.g. a
      control branch over a frozen prior.
    batch_fn: overrides the default sampler `make_batch_fn(augment_fn,
      batch_size)`: `batch_fn(poses, rng) -> x0 [B, J, 3]` (e.g. to mix two
      pose sets; `poses` may then be any pytree).
    batch_sharding: optional `jax.sharding.Sharding` of the drawn batch
      (data parallelism: the batch axis split over a ('data',) mesh, the
      state replicated; jit then all-reduces the gradients).

  Returns:
    Pure `train_step(state, poses, base_rng, frozen=None) -> (state,
    metrics)`: rng = fold_in(base_rng, state['step']) drives the batch, the
    augmentation, t, z and dropout, so a resumed run continues identically.
    `poses` [N, J, 3] model units; `frozen` is passed to `eps_fn` and never
    differentiated.
  """
  if (model is None) == (eps_fn is None):
    raise ValueError('pass exactly one of model and eps_fn')
  if eps_fn is None:
    def model_eps_fn(trainable, frozen, x_t, t, rng):
      del frozen
      return model.apply({'params': trainable}, x_t, t, train=True,
                         rngs={'dropout': rng})
    eps_fn = model_eps_fn
  if batch_fn is None:
    batch_fn = make_batch_fn(augment_fn=augment_fn, batch_size=batch_size)
  update = make_update_fn(make_dsm_loss(eps_fn, sde), tx, ema_rate)

  def train_step(state, poses, base_rng, frozen=None):
    rng = jax.random.fold_in(base_rng, state['step'])
    b_rng, l_rng = jax.random.split(rng)
    x0 = batch_fn(poses, b_rng)
    if batch_sharding is not None:
      x0 = jax.lax.with_sharding_constraint(x0, batch_sharding)
    return update(state, frozen, x0, l_rng)

  return train_step


def make_eval_loss(*, sde: sde_lib.VPSDE, model=None,
                   eps_fn: EpsFn | None = None, augment_fn=None,
                   num_draws: int = 4) -> Callable[..., jax.Array]:
  """The DSM loss on held-out poses, deterministic given its key.

  Every held-out pose is augmented as in training and noised `num_draws`
  times (t, z and the augmentation from `rng` alone), with dropout off, so
  the same key gives the same number across steps and runs: a validation
  curve, not a noisy sample of one.

  Returns:
    `eval_loss(params, poses [N, J, 3] model units, rng, frozen=None) ->
    scalar` (jit it).
  """
  if (model is None) == (eps_fn is None):
    raise ValueError('pass exactly one of model and eps_fn')
  if eps_fn is None:
    def model_eps_fn(trainable, frozen, x_t, t, rng):
      del frozen, rng
      return model.apply({'params': trainable}, x_t, t, train=False)
    eps_fn = model_eps_fn
  loss_fn = make_dsm_loss(eps_fn, sde)

  def eval_loss(params, poses, rng, frozen=None):
    def one(draw_rng):
      a_rng, l_rng = jax.random.split(draw_rng)
      x0 = poses
      if augment_fn is not None:
        x0 = jax.vmap(augment_fn)(jax.random.split(a_rng, poses.shape[0]),
                                  poses)
      return loss_fn(params, frozen, x0, l_rng)[0]
    return jnp.mean(jax.lax.map(one, jax.random.split(rng, num_draws)))

  return eval_loss
