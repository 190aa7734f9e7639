"""Adapting the adult prior to infants: `adapt(config, workdir)` (ZeDO-i).

The entry for `config.mode = 'adapt'`. It trains on infant poses
(`zedoi_jax.data.infant_data`: the SyRIP train split, 500 images, in the
model layout and the prior's normalisation) with the same DSM step, logging,
checkpoints and resume as `train.train_prior`, by one of three methods
(`config.adapt.method`):

- 'control': ZeDO-i's control branch (`zedoi_jax.models.control`). The prior
  (from `config.init.prior`, '' = the shipped adult prior) is a separate,
  non-differentiated argument of the jitted train step (the diffusers
  ControlNet trainer pattern); the train state, the optimiser state and the
  exported checkpoint hold only the branch. The export's model.json carries
  kind 'control', the prior's kwargs ('model'), the branch's ('control'), and
  'prior_fingerprint', so `models.load.load_pose_model(prior, adapted)`
  refuses to pair it with another prior.
- 'finetune': the whole prior is trained from its own weights. Freezing is
  expressed in the optimiser (big_vision style): regex rules over parameter
  paths ('block_0/dense_0/kernel') label every leaf 'freeze' or 'train', the
  first full match wins, and a leaf that no rule matches (or a rule that
  matches no leaf) is an error; frozen leaves get `optax.set_to_zero()` and
  no Adam moments (`optax.multi_transform`). Config: `adapt.freeze`
  (comma-separated regexes, '' = none frozen, i.e. plain fine-tuning) and
  `adapt.trainable` (the rule for everything else, '.*').
- 'scratch': a fresh prior trained on the infant poses only (ZeDO-i's
  "prior trained on infants only" row), with `config.model` kwargs and
  `config.data.scale`; exported as kind 'prior'.

Normalisation: by default the infant poses are divided by the prior's
`scale` (metres per model unit), so the adapted network sees infants at
their true size in the prior's units (about 0.37 times the adult poses'
spread). `adapt.data_scale` > 0 replaces this with the adaptation's own
scale, exported as its model.json 'scale' (the fit multiplies model units by
it): e.g. 0.37 shows the prior infant poses at adult size, so the branch
learns the infant shape rather than a 2.7x change of size. Measured in
experiments/RESULTS.md.

Training settings: `config.adapt` (method, num_steps, batch_size,
learning_rate, data options) and, shared with prior training,
`config.train` (warmup_steps, final_lr_fraction, grad_clip, weight_decay,
ema_rate, checkpoint_every, max_to_keep, export_dir) and `config.augment`.
The EMA parameters are exported.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
from typing import Any, Callable, Sequence

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from zedoi_jax import augment
from zedoi_jax import checkpoint
from zedoi_jax import data as data_lib
from zedoi_jax import errors
from zedoi_jax import losses
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import sde as sde_lib
from zedoi_jax import train
from zedoi_jax.data import infant_data
from zedoi_jax.data import prior_data
from zedoi_jax.models import control
from zedoi_jax.models import load
from zedoi_jax.models import score_net

METHODS = ('control', 'finetune', 'scratch')
LABELS = ('train', 'freeze')

Rules = Sequence[tuple[str, str]]


# ------------------------------------------------------------- freezing


def param_path(path: tuple[Any, ...]) -> str:
  """'block_0/dense_0/kernel' for a tree path of dict keys."""
  parts = []
  for k in path:
    parts.append(str(getattr(k, 'key', getattr(k, 'name', k))))
  return '/'.join(parts)


def partition_labels(params: Any, rules: Rules) -> Any:
  """Labels each leaf by the first rule whose regex fully matches its path.

  Args:
    params: parameter pytree (nested dicts).
    rules: [(regex, label)] with label in ('train', 'freeze'), tried in
      order against paths like 'block_0/dense_0/kernel'.

  Returns:
    A pytree of labels with `params`' structure.

  Raises:
    ValueError: a bad label or regex, a leaf matched by no rule (listing
      them), or a rule that matches no leaf (a typo would otherwise silently
      train everything).
  """
  compiled = []
  for pattern, label in rules:
    if label not in LABELS:
      raise ValueError(f'rule {pattern!r}: label must be one of {LABELS}, '
                       f'got {label!r}')
    try:
      compiled.append((re.compile(pattern), label, pattern))
    except re.error as e:
      raise ValueError(f'bad regex {pattern!r} in freezing rules: {e}') from e
  used = [False] * len(compiled)
  uncovered = []

  def label_of(path, _):
    name = param_path(path)
    for i, (rx, label, _) in enumerate(compiled):
      if rx.fullmatch(name):
        used[i] = True
        return label
    uncovered.append(name)
    return None

  labels = jax.tree_util.tree_map_with_path(label_of, params)
  if uncovered:
    raise ValueError(
        f'{len(uncovered)} parameter(s) match no freezing rule, e.g. '
        f'{uncovered[:5]}; rules: {[p for _, _, p in compiled]}. Add a '
        "catch-all rule such as ('.*', 'train').")
  unused = [p for (_, _, p), u in zip(compiled, used) if not u]
  if unused:
    raise ValueError(f'freezing rule(s) {unused} match no parameter; paths '
                     f'look like {param_path_examples(params)}')
  return labels


def param_path_examples(params: Any, n: int = 4) -> list[str]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(params)
  return [param_path(p) for p, _ in leaves[:n]]


def freeze_rules(freeze: str = '', trainable: str = '.*'
                 ) -> list[tuple[str, str]]:
  """Rules from config strings: each of `freeze` (comma-separated) frozen,
  then `trainable` trained. An empty `trainable` adds no catch-all."""
  rules = [(r.strip(), 'freeze') for r in freeze.split(',') if r.strip()]
  if trainable:
    rules.append((trainable, 'train'))
  return rules


def make_partitioned_optimizer(tx: optax.GradientTransformation,
                               params: Any, rules: Rules
                               ) -> tuple[optax.GradientTransformation, Any]:
  """`tx` on the 'train' leaves, zero updates and no state on 'freeze' ones.

  Args:
    tx: the optimiser for trained leaves (clipping inside it sees only them).
    params: the parameter tree (for the labels).
    rules: see `partition_labels`.

  Returns:
    (partitioned optimiser, label tree).
  """
  labels = partition_labels(params, rules)
  return optax.multi_transform({'train': tx, 'freeze': optax.set_to_zero()},
                               labels), labels


# ------------------------------------------------------------------ data


def make_mixed_batch_fn(*, augment_fn, batch_size: int, ratio: float
                        ) -> Callable[[Any, jax.Array], jax.Array]:
  """Batches drawn from (infant poses, generated poses) at a fixed share.

  Args:
    augment_fn: `(rng, pose) -> pose` or None.
    batch_size: B.
    ratio: share of each batch drawn from the generated poses, in [0, 1).

  Returns:
    `batch_fn((infant [N, J, 3], generated [M, J, 3]), rng) -> [B, J, 3]`:
    round(ratio * B) generated poses, the rest infant poses (each uniform
    with replacement), then augmented.
  """
  if not 0.0 <= ratio < 1.0:
    raise ValueError(f'augment_ratio must be in [0, 1), got {ratio}')
  n_gen = int(round(ratio * batch_size))
  n_inf = batch_size - n_gen

  def batch_fn(poses, rng):
    infant, generated = poses
    i_rng, g_rng, a_rng = jax.random.split(rng, 3)
    x0 = infant[jax.random.randint(i_rng, (n_inf,), 0, infant.shape[0])]
    if n_gen:
      g = generated[jax.random.randint(g_rng, (n_gen,), 0,
                                       generated.shape[0])]
      x0 = jnp.concatenate([x0, g], axis=0)
    if augment_fn is not None:
      x0 = jax.vmap(augment_fn)(jax.random.split(a_rng, batch_size), x0)
    return x0

  return batch_fn


def load_adaptation_data(config: ml_collections.ConfigDict
                         ) -> tuple[np.ndarray, np.ndarray | None, dict]:
  """(infant poses [N,17,3] m, generated poses [M,17,3] m or None, summary)."""
  adapt_cfg = config.adapt
  if adapt_cfg.get('data'):
    # A lab's own infant 3D instead of SyRIP.
    poses, summary = infant_data.load_own_poses(
        adapt_cfg.data, str(adapt_cfg.get('layout') or 'h36m17'))
  else:
    root = data_lib.data_root(config.data.root) / 'syrip'
    poses, summary = infant_data.load_infant_poses(
        root, split=str(adapt_cfg.split),
        num_train_poses=int(adapt_cfg.num_train_poses),
        seed=int(adapt_cfg.subset_seed))
  generated = None
  if adapt_cfg.augment_with:
    generated = infant_data.load_generated_poses(adapt_cfg.augment_with)
    summary = dict(summary, generated=str(adapt_cfg.augment_with),
                   num_generated=len(generated),
                   augment_ratio=float(adapt_cfg.augment_ratio))
  return poses, generated, summary


# ------------------------------------------------------------ the entry


def _load_prior(config) -> tuple[Any, dict, pathlib.Path]:
  prior_dir = load.resolve(config.init.prior, load.SHIPPED_PRIOR)
  params, meta = checkpoint.load_model(prior_dir, kind='prior')
  return jax.tree.map(jnp.asarray, params), meta, prior_dir


def adapt(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
          stop_at: int | None = None) -> dict[str, Any]:
  """Adapts the prior to infants (or trains an infant-only prior).

  Args:
    config: the run config (configs/syrip.py, syrip_finetune.py,
      syrip_infant_prior.py).
    workdir: run directory (checkpoints/, metrics.jsonl); the export goes to
      config.train.export_dir or workdir/model.
    stop_at: stop after this step without exporting (simulates a killed
      run; tests only).

  Returns:
    {'export_dir' (None when stopped early), 'method', 'final_loss',
    'num_steps', 'num_poses', 'num_trainable', 'steps_per_s'}.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  adapt_cfg = config.adapt
  method = adapt_cfg.method
  if method not in METHODS:
    raise errors.InputError(f'unknown method {method!r}; known {METHODS}',
                            source='config', field='adapt.method')
  train_cfg = config.train.to_dict()
  aug_kwargs = config.augment.to_dict()

  if method == 'scratch':
    prior_params, prior_meta, prior_dir = None, None, None
    model_kwargs = config.model.to_dict()
    sde_kwargs = {k: config.sde[k] for k in ('name', 'beta_min', 'beta_max',
                                             'eps')}
    scale = float(config.data.scale)
  else:
    prior_params, prior_meta, prior_dir = _load_prior(config)
    model_kwargs = dict(prior_meta['model'])
    sde_kwargs = dict(prior_meta['sde'])
    scale = float(prior_meta.get('scale', 1.0))
    data_scale = float(adapt_cfg.data_scale)
    if data_scale < 0:
      raise errors.InputError(f'must be >= 0, got {data_scale}',
                              source='config', field='adapt.data_scale')
    if data_scale > 0:
      # The adaptation's own normalisation (model.json 'scale'; the fit
      # uses it): infant poses / data_scale, e.g. sized like the adult
      # training poses, instead of the prior's metres per unit.
      scale = data_scale
  sde = load.sde_from_meta({'sde': sde_kwargs})

  poses_m, generated_m, data_summary = load_adaptation_data(config)
  poses = jnp.asarray(poses_m / scale, jnp.float32)
  generated = (None if generated_m is None
               else jnp.asarray(generated_m / scale, jnp.float32))
  logging.info('adapt (%s): %d infant poses (%s), scale %.3f m/unit',
               method, len(poses_m), data_summary['source'], scale)

  num_steps = int(adapt_cfg.num_steps)
  batch_size = int(adapt_cfg.batch_size)
  base_tx, schedule = train.make_optimizer(
      learning_rate=float(adapt_cfg.learning_rate), num_steps=num_steps,
      warmup_steps=train_cfg['warmup_steps'],
      final_lr_fraction=train_cfg['final_lr_fraction'],
      grad_clip=train_cfg['grad_clip'],
      weight_decay=train_cfg['weight_decay'])
  augment_fn = augment.make_augment_fn(layout='h36m17', **aug_kwargs)
  batch_fn = None
  data = poses
  if generated is not None:
    batch_fn = make_mixed_batch_fn(augment_fn=augment_fn,
                                   batch_size=batch_size,
                                   ratio=float(adapt_cfg.augment_ratio))
    data = (poses, generated)
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  mesh = train.data_parallel_mesh(batch_size)
  sharding = parallel.batch_sharding(mesh) if mesh else None

  control_kwargs = None
  rules = None
  if method == 'control':
    control_kwargs = control.control_kwargs_with_defaults(
        {'dropout': float(adapt_cfg.control_dropout)})
    eps_c = control.make_controlled_eps_fn(prior_model_kwargs=model_kwargs,
                                           control_kwargs=control_kwargs)
    tx = base_tx

    def eps_fn(trainable, frozen, x_t, t, rng):
      return eps_c({'prior': frozen, 'control': trainable}, x_t, t, rng=rng,
                   train=True)

    step = losses.make_train_step(sde=sde, tx=tx,
                                  ema_rate=train_cfg['ema_rate'],
                                  batch_size=batch_size,
                                  augment_fn=augment_fn, eps_fn=eps_fn,
                                  batch_fn=batch_fn, batch_sharding=sharding)

    def init_params():
      return control.init_control_params(prior_params, model_kwargs,
                                         control_kwargs)
  else:
    model = score_net.ScoreNet(**model_kwargs)
    if method == 'finetune':
      rules = freeze_rules(adapt_cfg.freeze,
                           adapt_cfg.trainable)
      tx, _ = make_partitioned_optimizer(base_tx, prior_params, rules)

      def init_params():
        return jax.tree.map(jnp.array, prior_params)
    else:
      tx = base_tx

      def init_params():
        return score_net.init_params(model, init_rng)
    step = losses.make_train_step(sde=sde, tx=tx,
                                  ema_rate=train_cfg['ema_rate'],
                                  batch_size=batch_size,
                                  augment_fn=augment_fn, model=model,
                                  batch_fn=batch_fn, batch_sharding=sharding)
  # The prior is an argument, not a closure constant: it is not baked into
  # the compiled step, and `frozen` is never differentiated.
  train_step = jax.jit(step)
  frozen = prior_params if method == 'control' else None

  def init_fn():
    return losses.init_state(init_params(), tx)

  prior_fp = prior_meta['fingerprint'] if prior_meta else None
  record = {'kind': f'adapt-{method}', 'prior_fingerprint': prior_fp,
            'model': model_kwargs}
  checkpointer = checkpoint.TrainCheckpointer(
      workdir, max_to_keep=train_cfg['max_to_keep'],
      save_interval_steps=max(1, int(train_cfg['checkpoint_every'])))
  try:
    state, saved = train.restore_or_init(checkpointer, init_fn)
    if saved is not None and saved.get('prior_fingerprint') != prior_fp:
      raise errors.InputError(
          f'the checkpoint in {workdir} adapts prior '
          f'{saved.get("prior_fingerprint")}, not {prior_fp} ({prior_dir}); '
          'use a fresh --workdir', source=str(checkpointer.directory),
          field='prior_fingerprint')
    state, data, frozen = train.place_for_training(mesh, state, data, frozen)
    num_trainable = score_net.count_params(state['params'])
    if rules is not None:
      labels = partition_labels(state['params'], rules)
      num_trainable = int(sum(
          np.size(p) for p, lbl in zip(jax.tree.leaves(state['params']),
                                       jax.tree.leaves(labels))
          if lbl == 'train'))
    logging.info('adapt (%s): %d trainable parameters; starting at step %d',
                 method, num_trainable, int(state['step']))
    writer = progress.MetricWriter(workdir,
                                   enabled=jax.process_index() == 0)
    state, loop = train.run_training_loop(
        step_fn=lambda s: train_step(s, data, step_rng, frozen),
        state=state, num_steps=num_steps, checkpointer=checkpointer,
        checkpoint_every=int(train_cfg['checkpoint_every']), writer=writer,
        log_every=int(config.log_every), lr_fn=schedule, record=record,
        show_progress=None if config.progress else False, stop_at=stop_at,
        name='adapt')
    writer.close()
  finally:
    checkpointer.close()
  summary = {'export_dir': None, 'method': method,
             'final_loss': loop['loss'], 'num_steps': int(state['step']),
             'num_poses': len(poses_m), 'num_trainable': num_trainable,
             'steps_per_s': loop['steps_per_s']}
  if stop_at is not None and stop_at < num_steps:
    return summary

  export_params = state['ema_params']
  if rules is not None:
    # Frozen leaves are bitwise unchanged in `params`; the EMA of an
    # unchanged value can drift by rounding, so export the exact values.
    labels = partition_labels(state['params'], rules)
    export_params = jax.tree.map(
        lambda lbl, e, p: p if lbl == 'freeze' else e, labels,
        state['ema_params'], state['params'])
  training = {
      'method': method,
      'steps': int(state['step']),
      'final_loss': loop['loss'],
      'data': data_summary,
      'augment': aug_kwargs,
      'adapt': adapt_cfg.to_dict(),
      'train': {k: train_cfg[k] for k in (
          'warmup_steps', 'final_lr_fraction', 'grad_clip', 'weight_decay',
          'ema_rate')},
      'num_trainable': num_trainable,
      'seed': int(config.seed),
      'command': ' '.join(sys.argv),
  }
  # The infant data's normalisation (and mean pose: the fit's trivial
  # baseline) for every method, not only a prior from scratch.
  meta = {'model': model_kwargs, 'sde': sde_kwargs, 'scale': scale,
          'layout': 'h36m17', 'training': training,
          'normalization': prior_data.normalization(poses_m, scale=scale)}
  if method == 'scratch':
    meta['kind'] = 'prior'
  else:
    meta['kind'] = method
    meta['prior_fingerprint'] = prior_fp
    # The prior's complete fingerprint (parameters, architecture, SDE,
    # normalisation): load_pose_model refuses any other prior.
    meta['prior_model_fingerprint'] = prior_meta.get('model_fingerprint')
    meta['prior'] = str(prior_dir)
    meta['prior_scale'] = float(prior_meta.get('scale', 1.0))
    if method == 'control':
      meta['control'] = control_kwargs
    else:
      meta['training']['freeze_rules'] = [list(r) for r in rules]
  export_dir = pathlib.Path(train_cfg['export_dir'] or workdir / 'model')
  checkpoint.export_model(export_dir, export_params, meta)
  logging.info('exported the %s model to %s (final loss %.4f)', meta['kind'],
               export_dir, loop['loss'])
  summary['export_dir'] = str(export_dir)
  return summary
