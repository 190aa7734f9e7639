"""`--config.mode=train_prior`: train the adult pose prior.

`train_prior(config, workdir)` loads the training poses
(`zedoi_jax.data.prior_data`, through `training.load_training_poses`),
builds the ScoreNet, the optimiser and the jitted DSM step
(`zedoi_jax.losses`), resumes from the latest Orbax checkpoint in `workdir`
if there is one, trains (`training.run_training_loop`, logging the held-out
subjects' DSM loss when `config.data.prior_split` keeps some out), and
exports the EMA parameters with `model.json` for fitting, lifting and
adaptation.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections

from zedoi_jax import checkpoint
from zedoi_jax import losses
from zedoi_jax import parallel
from zedoi_jax import pose_augment
from zedoi_jax import progress
from zedoi_jax import sde as sde_lib
from zedoi_jax import training
from zedoi_jax.data import prior_data
from zedoi_jax.models import score_net
from zedoi_jax.modes import common


def train_prior(config: ml_collections.ConfigDict,
                workdir: str | os.PathLike, *,
                stop_at: int | None = None) -> dict[str, Any]:
  """Trains the pose prior and exports its EMA parameters.

  Args:
    config: the run config (see configs/default.py, configs/cmu_prior.py).
    workdir: run directory (checkpoints/, metrics.jsonl; the export goes to
      config.train.export_dir or workdir/model).
    stop_at: stop after this step without exporting (simulates a killed
      run; tests only).

  Returns:
    Summary {'export_dir', 'final_loss', 'num_steps', 'num_poses',
    'steps_per_s'}; export_dir is None when stopped early.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  train_cfg = config.train.to_dict()
  model_kwargs = config.model.to_dict()
  sde_kwargs = config.sde.to_dict()
  aug_kwargs = config.augment.to_dict()

  poses_m, data_summary = training.load_training_poses(config.data.to_dict())
  norm = prior_data.normalization(poses_m, scale=config.data.scale)
  poses = jnp.asarray(poses_m / norm['scale'], jnp.float32)
  logging.info('prior data: %d poses (%s)', len(poses_m), data_summary)
  val_m = training.load_validation_poses(config.data.to_dict())

  model = score_net.ScoreNet(**model_kwargs)
  sde = sde_lib.get_sde(sde_kwargs['name'], beta_min=sde_kwargs['beta_min'],
                        beta_max=sde_kwargs['beta_max'],
                        eps=sde_kwargs['eps'])
  num_steps = int(train_cfg['num_steps'])
  tx, schedule = training.make_optimizer(
      learning_rate=train_cfg['learning_rate'], num_steps=num_steps,
      warmup_steps=train_cfg['warmup_steps'],
      final_lr_fraction=train_cfg['final_lr_fraction'],
      grad_clip=train_cfg['grad_clip'],
      weight_decay=train_cfg['weight_decay'])
  augment_fn = pose_augment.make_augment_fn(layout='h36m17', **aug_kwargs)
  mesh = training.data_parallel_mesh(int(train_cfg['batch_size']))
  train_step = jax.jit(losses.make_train_step(
      model=model, sde=sde, tx=tx, ema_rate=train_cfg['ema_rate'],
      augment_fn=augment_fn, batch_size=int(train_cfg['batch_size']),
      batch_sharding=parallel.batch_sharding(mesh) if mesh else None))

  init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
  eval_fn = None
  if val_m is not None:
    eval_fn = training.make_heldout_eval(
        model=model, sde=sde, augment_fn=augment_fn,
        poses=val_m / norm['scale'], rng=jax.random.key(training.VAL_SEED))
    data_summary['val_poses'] = int(len(val_m))

  def init_fn():
    params = score_net.init_params(model, init_rng)
    return losses.init_state(params, tx)

  checkpointer = checkpoint.TrainCheckpointer(
      workdir, max_to_keep=train_cfg['max_to_keep'],
      save_interval_steps=max(1, int(train_cfg['checkpoint_every'])))
  try:
    state, _ = training.restore_or_init(checkpointer, init_fn)
    state, poses = training.place_for_training(mesh, state, poses)
    logging.info('ScoreNet %s: %d parameters; starting at step %d',
                 model_kwargs, score_net.count_params(state['params']),
                 int(state['step']))
    writer = progress.MetricWriter(workdir,
                                   enabled=jax.process_index() == 0)
    state, loop = training.run_training_loop(
        step_fn=lambda s: train_step(s, poses, step_rng), state=state,
        num_steps=num_steps, checkpointer=checkpointer,
        checkpoint_every=int(train_cfg['checkpoint_every']), writer=writer,
        log_every=int(config.log_every), lr_fn=schedule,
        record={'kind': 'prior', 'model': model_kwargs},
        show_progress=common.show_progress(config), stop_at=stop_at,
        eval_fn=eval_fn)
    writer.close()
  finally:
    checkpointer.close()
  summary = {'export_dir': None, 'final_loss': loop['loss'],
             'val_loss': loop.get('val/loss'),
             'val_loss_raw': loop.get('val/loss_raw'),
             'num_steps': int(state['step']), 'num_poses': len(poses_m),
             'steps_per_s': loop['steps_per_s']}
  if stop_at is not None and stop_at < num_steps:
    return summary
  export_dir = pathlib.Path(train_cfg['export_dir'] or workdir / 'model')
  meta = {
      'kind': 'prior',
      'model': model_kwargs,
      'sde': {k: sde_kwargs[k] for k in ('name', 'beta_min', 'beta_max',
                                         'eps')},
      'scale': norm['scale'],
      'normalization': norm,
      'layout': 'h36m17',
      'training': {
          'steps': int(state['step']),
          'final_loss': loop['loss'],
          'val_loss': loop.get('val/loss'),
          'val_loss_raw': loop.get('val/loss_raw'),
          'data': data_summary,
          'augment': aug_kwargs,
          'train': train_cfg,
          'seed': int(config.seed),
          'command': training.command(),
      },
  }
  checkpoint.export_model(export_dir, state['ema_params'], meta)
  logging.info('exported the prior to %s (final loss %.4f)', export_dir,
               loop['loss'])
  summary['export_dir'] = str(export_dir)
  return summary
