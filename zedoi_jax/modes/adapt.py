"""`--config.mode=adapt`: adapt the adult prior to infants (ZeDO-i).

`adapt(config, workdir)` trains on infant poses
(`zedoi_jax.data.infant_data`: the SyRIP 'adapt' split, 400 images, by default, in the
model layout and the prior's normalisation) with the same DSM step, logging,
checkpoints and resume as prior training (`zedoi_jax.training`), by one of three methods
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
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from zedoi_jax import adaptation
from zedoi_jax import checkpoint
from zedoi_jax import data as data_lib
from zedoi_jax import errors
from zedoi_jax import losses
from zedoi_jax import parallel
from zedoi_jax import pose_augment
from zedoi_jax import progress
from zedoi_jax import training
from zedoi_jax.data import infant_data
from zedoi_jax.data import prior_data
from zedoi_jax.models import control
from zedoi_jax.models import load
from zedoi_jax.models import score_net
from zedoi_jax.modes import common


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
  if method not in adaptation.METHODS:
    raise errors.InputError(
        f'unknown method {method!r}; known {adaptation.METHODS}',
        source='config', field='adapt.method')
  train_cfg = config.train.to_dict()
  start = _starting_model(config, method)
  sde = load.sde_from_meta({'sde': start['sde']})
  scale = start['scale']

  poses_m, generated_m, data_summary = load_adaptation_data(config)
  poses = jnp.asarray(poses_m / scale, jnp.float32)
  generated = (None if generated_m is None
               else jnp.asarray(generated_m / scale, jnp.float32))
  logging.info('adapt (%s): %d infant poses (%s), scale %.3f m/unit',
               method, len(poses_m), data_summary['source'], scale)

  num_steps = int(adapt_cfg.num_steps)
  batch_size = int(adapt_cfg.batch_size)
  base_tx, schedule = training.make_optimizer(
      learning_rate=float(adapt_cfg.learning_rate), num_steps=num_steps,
      warmup_steps=train_cfg['warmup_steps'],
      final_lr_fraction=train_cfg['final_lr_fraction'],
      grad_clip=train_cfg['grad_clip'],
      weight_decay=train_cfg['weight_decay'])
  augment_fn = pose_augment.make_augment_fn(layout='h36m17',
                                            **config.augment.to_dict())
  batch_fn = None
  data = poses
  if generated is not None:
    batch_fn = adaptation.make_mixed_batch_fn(
        augment_fn=augment_fn, batch_size=batch_size,
        ratio=float(adapt_cfg.augment_ratio))
    data = (poses, generated)
  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  mesh = training.data_parallel_mesh(batch_size)
  built = _build_step(
      method, adapt_cfg, start, sde=sde, base_tx=base_tx,
      ema_rate=train_cfg['ema_rate'], batch_size=batch_size,
      augment_fn=augment_fn, batch_fn=batch_fn, init_rng=init_rng,
      sharding=parallel.batch_sharding(mesh) if mesh else None)
  # The prior is an argument, not a closure constant: it is not baked into
  # the compiled step, and `frozen` is never differentiated.
  train_step = jax.jit(built['step'])
  frozen = start['params'] if method == 'control' else None
  tx, rules = built['tx'], built['rules']

  def init_fn():
    return losses.init_state(built['init_params'](), tx)

  prior_fp = start['meta']['fingerprint'] if start['meta'] else None
  record = {'kind': f'adapt-{method}', 'prior_fingerprint': prior_fp,
            'model': start['model']}
  checkpointer = checkpoint.TrainCheckpointer(
      workdir, max_to_keep=train_cfg['max_to_keep'],
      save_interval_steps=max(1, int(train_cfg['checkpoint_every'])))
  try:
    state, saved = training.restore_or_init(checkpointer, init_fn)
    if saved is not None and saved.get('prior_fingerprint') != prior_fp:
      raise errors.InputError(
          f'the checkpoint in {workdir} adapts prior '
          f'{saved.get("prior_fingerprint")}, not {prior_fp} '
          f'({start["dir"]}); use a fresh --workdir',
          source=str(checkpointer.directory), field='prior_fingerprint')
    state, data, frozen = training.place_for_training(mesh, state, data,
                                                      frozen)
    num_trainable = _count_trainable(state['params'], rules)
    logging.info('adapt (%s): %d trainable parameters; starting at step %d',
                 method, num_trainable, int(state['step']))
    writer = progress.MetricWriter(workdir,
                                   enabled=jax.process_index() == 0)
    state, loop = training.run_training_loop(
        step_fn=lambda s: train_step(s, data, step_rng, frozen),
        state=state, num_steps=num_steps, checkpointer=checkpointer,
        checkpoint_every=int(train_cfg['checkpoint_every']), writer=writer,
        log_every=int(config.log_every), lr_fn=schedule, record=record,
        show_progress=common.show_progress(config), stop_at=stop_at,
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
  training_info = {
      'method': method,
      'steps': int(state['step']),
      'final_loss': loop['loss'],
      'data': data_summary,
      'augment': config.augment.to_dict(),
      'adapt': adapt_cfg.to_dict(),
      'train': {k: train_cfg[k] for k in (
          'warmup_steps', 'final_lr_fraction', 'grad_clip', 'weight_decay',
          'ema_rate')},
      'num_trainable': num_trainable,
      'seed': int(config.seed),
      'command': training.command(),
  }
  export_dir = pathlib.Path(train_cfg['export_dir'] or workdir / 'model')
  meta = _export_meta(method, start, scale, training_info, poses_m,
                      built['control_kwargs'], rules)
  checkpoint.export_model(export_dir, _export_params(state, rules), meta)
  logging.info('exported the %s model to %s (final loss %.4f)', meta['kind'],
               export_dir, loop['loss'])
  summary['export_dir'] = str(export_dir)
  return summary


def _starting_model(config: ml_collections.ConfigDict, method: str
                    ) -> dict[str, Any]:
  """What the adaptation starts from: the prior's parameters, meta and
  folder (None for 'scratch'), the network and SDE kwargs and the scale
  (metres per model unit) the infant poses are divided by."""
  if method == 'scratch':
    return {'params': None, 'meta': None, 'dir': None,
            'model': config.model.to_dict(),
            'sde': {k: config.sde[k] for k in ('name', 'beta_min', 'beta_max',
                                               'eps')},
            'scale': float(config.data.scale)}
  params, meta, prior_dir = _load_prior(config)
  scale = float(meta.get('scale', 1.0))
  data_scale = float(config.adapt.data_scale)
  if data_scale < 0:
    raise errors.InputError(f'must be >= 0, got {data_scale}',
                            source='config', field='adapt.data_scale')
  if data_scale > 0:
    # The adaptation's own normalisation (model.json 'scale'; the fit
    # uses it): infant poses / data_scale, e.g. sized like the adult
    # training poses, instead of the prior's metres per unit.
    scale = data_scale
  return {'params': params, 'meta': meta, 'dir': prior_dir,
          'model': dict(meta['model']), 'sde': dict(meta['sde']),
          'scale': scale}


def _build_step(method, adapt_cfg, start, *, sde, base_tx, ema_rate,
                batch_size, augment_fn, batch_fn, init_rng, sharding
                ) -> dict[str, Any]:
  """The DSM train step of `method`, its optimiser and initial parameters.

  Returns:
    {'step' (unjitted: (state, data, rng, frozen) -> (state, metrics)),
    'tx', 'init_params' (a thunk), 'rules' (finetune's freeze rules, else
    None), 'control_kwargs' (control's branch kwargs, else None)}.
  """
  model_kwargs = start['model']
  common_kwargs = dict(sde=sde, ema_rate=ema_rate, batch_size=batch_size,
                       augment_fn=augment_fn, batch_fn=batch_fn,
                       batch_sharding=sharding)
  if method == 'control':
    control_kwargs = control.control_kwargs_with_defaults(
        {'dropout': float(adapt_cfg.control_dropout)})
    eps_c = control.make_controlled_eps_fn(prior_model_kwargs=model_kwargs,
                                           control_kwargs=control_kwargs)

    def eps_fn(trainable, frozen, x_t, t, rng):
      return eps_c({'prior': frozen, 'control': trainable}, x_t, t, rng=rng,
                   train=True)

    return {'step': losses.make_train_step(tx=base_tx, eps_fn=eps_fn,
                                           **common_kwargs),
            'tx': base_tx, 'rules': None, 'control_kwargs': control_kwargs,
            'init_params': lambda: control.init_control_params(
                start['params'], model_kwargs, control_kwargs)}
  model = score_net.ScoreNet(**model_kwargs)
  if method == 'finetune':
    rules = adaptation.freeze_rules(adapt_cfg.freeze, adapt_cfg.trainable)
    tx, _ = adaptation.make_partitioned_optimizer(base_tx, start['params'],
                                                  rules)
    init_params = lambda: jax.tree.map(jnp.array, start['params'])
  else:
    rules, tx = None, base_tx
    init_params = lambda: score_net.init_params(model, init_rng)
  return {'step': losses.make_train_step(tx=tx, model=model, **common_kwargs),
          'tx': tx, 'rules': rules, 'control_kwargs': None,
          'init_params': init_params}


def _count_trainable(params, rules) -> int:
  """Parameters the optimiser changes (all of them without freeze rules)."""
  if rules is None:
    return score_net.count_params(params)
  labels = adaptation.partition_labels(params, rules)
  return int(sum(np.size(p) for p, lbl in zip(jax.tree.leaves(params),
                                               jax.tree.leaves(labels))
                 if lbl == 'train'))


def _export_params(state, rules):
  """The EMA parameters; frozen leaves exactly as they are (they are
  bitwise unchanged in `params`, while the EMA of an unchanged value can
  drift by rounding)."""
  if rules is None:
    return state['ema_params']
  labels = adaptation.partition_labels(state['params'], rules)
  return jax.tree.map(lambda lbl, e, p: p if lbl == 'freeze' else e, labels,
                      state['ema_params'], state['params'])


def _export_meta(method, start, scale, training_info, poses_m,
                 control_kwargs, rules) -> dict[str, Any]:
  """model.json of the adapted model.

  The infant data's normalisation (and mean pose: the fit's trivial
  baseline) for every method, not only a prior from scratch; an adaptation
  records the prior's complete fingerprint (parameters, architecture, SDE,
  normalisation) so that `load_pose_model` refuses any other prior.
  """
  meta = {'model': start['model'], 'sde': start['sde'], 'scale': scale,
          'layout': 'h36m17', 'training': training_info,
          'normalization': prior_data.normalization(poses_m, scale=scale)}
  if method == 'scratch':
    meta['kind'] = 'prior'
    return meta
  prior_meta = start['meta']
  meta['kind'] = method
  meta['prior_fingerprint'] = prior_meta['fingerprint']
  meta['prior_model_fingerprint'] = prior_meta.get('model_fingerprint')
  meta['prior'] = str(start['dir'])
  meta['prior_scale'] = float(prior_meta.get('scale', 1.0))
  if method == 'control':
    meta['control'] = control_kwargs
  else:
    meta['training']['freeze_rules'] = [list(r) for r in rules]
  return meta


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


def _load_prior(config) -> tuple[Any, dict, pathlib.Path]:
  prior_dir = load.resolve(config.init.prior, load.SHIPPED_PRIOR)
  params, meta = checkpoint.load_model(prior_dir, kind='prior')
  return jax.tree.map(jnp.asarray, params), meta, prior_dir
