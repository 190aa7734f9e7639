"""The training loop shared by prior training and adaptation.

Used by `--config.mode=train_prior` (zedoi_jax/modes/train_prior.py) and
`--config.mode=adapt` (zedoi_jax/modes/adapt.py):
- `make_optimizer(...)`: clip_by_global_norm + Adam(W) with linear warm-up
  and cosine decay; returns (tx, schedule).
- `restore_or_init(checkpointer, init_fn)`: resume the latest checkpoint or
  initialise (shape-first restore through `jax.eval_shape`).
- `data_parallel_mesh`, `place_for_training`: the batch over every device.
- `run_training_loop(...)`: steps, progress/ETA, metrics.jsonl rows,
  periodic and final checkpoints, NaN guard (raises FloatingPointError).
- `load_training_poses`, `load_validation_poses`, `make_heldout_eval`: the
  prior's poses (`zedoi_jax.data.prior_data`) and its held-out DSM loss.
- `command()`: the run's command line, recorded in model.json.

Resuming: every step's key is `fold_in(step_rng, step)`, and batches are
drawn with replacement from that key, so a run killed after a checkpoint and
restarted in the same workdir continues with exactly the same batches, noise
and parameters as an uninterrupted run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
import optax

from zedoi_jax import checkpoint
from zedoi_jax import errors
from zedoi_jax import losses
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import data as data_lib
from zedoi_jax.data import prior_data

# Poses in the synthetic training set (config.data.name = 'synthetic').
SYNTHETIC_POSES = 512


def make_optimizer(*, learning_rate: float, num_steps: int,
                   warmup_steps: int = 0, final_lr_fraction: float = 0.0,
                   grad_clip: float = 0.0, weight_decay: float = 0.0
                   ) -> tuple[optax.GradientTransformation,
                              Callable[[Any], Any]]:
  """Clipped Adam(W) with linear warm-up and cosine decay.

  Args:
    learning_rate: peak learning rate.
    num_steps: total steps (the cosine reaches its end here).
    warmup_steps: linear warm-up from 0 (clipped to num_steps).
    final_lr_fraction: the decay ends at learning_rate * this.
    grad_clip: global-norm clip (0 = none).
    weight_decay: decoupled weight decay (0 = plain Adam).

  Returns:
    (tx, schedule) with schedule(step) -> learning rate.
  """
  if learning_rate <= 0 or num_steps < 1:
    raise ValueError('need learning_rate > 0 and num_steps >= 1')
  warmup = int(min(max(warmup_steps, 0), num_steps))
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=learning_rate, warmup_steps=warmup,
      decay_steps=max(num_steps, warmup + 1),
      end_value=learning_rate * final_lr_fraction)
  parts = []
  if grad_clip > 0:
    parts.append(optax.clip_by_global_norm(grad_clip))
  if weight_decay > 0:
    parts.append(optax.adamw(schedule, weight_decay=weight_decay))
  else:
    parts.append(optax.adam(schedule))
  return optax.chain(*parts), schedule


def restore_or_init(checkpointer: checkpoint.TrainCheckpointer,
                    init_fn: Callable[[], Any]) -> tuple[Any, dict | None]:
  """The latest checkpoint's state, or `init_fn()` when there is none.

  Args:
    checkpointer: the run's TrainCheckpointer.
    init_fn: builds the initial state (a pytree of arrays).

  Returns:
    (state, record) where record is the checkpoint's JSON record or None for
    a fresh start.
  """
  latest = checkpointer.latest_step()
  if latest is None:
    return init_fn(), None
  abstract = jax.eval_shape(init_fn)
  state, record = checkpointer.restore(latest, abstract)
  logging.info('resumed from %s step %d', checkpointer.directory, latest)
  return state, record


def data_parallel_mesh(batch_size: int) -> jax.sharding.Mesh | None:
  """The ('data',) mesh to split training batches over, or None.

  None on one device, or when `batch_size` does not split evenly over the
  devices (with a warning): the run then stays on one device.
  """
  n = jax.device_count()
  if n == 1:
    return None
  if batch_size % n:
    logging.warning('batch size %d does not split over %d devices; '
                    'training on one device', batch_size, n)
    return None
  return parallel.data_mesh()


def place_for_training(mesh: jax.sharding.Mesh | None, *trees):
  """Replicates state / data over `mesh` (no-op without a mesh)."""
  if mesh is None:
    return trees
  return tuple(jax.device_put(t, parallel.replicated(mesh)) for t in trees)


def run_training_loop(*, step_fn: Callable[[Any], tuple[Any, dict]],
                      state: Any, num_steps: int,
                      checkpointer: checkpoint.TrainCheckpointer | None = None,
                      checkpoint_every: int = 0,
                      writer: progress.MetricWriter | None = None,
                      log_every: int = 100,
                      lr_fn: Callable[[int], Any] | None = None,
                      record: dict | None = None,
                      show_progress: bool | None = None,
                      stop_at: int | None = None,
                      name: str = 'train',
                      eval_fn: Callable[[Any], dict] | None = None
                      ) -> tuple[Any, dict]:
  """Runs `step_fn` from state['step'] to `num_steps`.

  Args:
    step_fn: `state -> (state, metrics)` (jitted; closes over data and keys);
      metrics hold 'loss', 'grad_norm' and 'finite'.
    state: train state dict with an int 'step'.
    num_steps: the run's total steps.
    checkpointer: saves every `checkpoint_every` steps and at the end.
    checkpoint_every: steps between checkpoints (0 = only at the end).
    writer: metrics.jsonl writer; rows '{name}/loss', '{name}/grad_norm',
      '{name}/lr', 'steps_per_s' every `log_every` steps and at the end.
    log_every: steps between log lines and rows.
    lr_fn: step -> learning rate, for the rows.
    record: JSON record saved beside each checkpoint.
    show_progress: Progress enabled flag (None/True: a bar on a tty, log
      lines elsewhere; False: silent).
    stop_at: stop after this step without the final save (tests use it to
      simulate a killed run; periodic checkpoints are written as usual).
    name: metric prefix.
    eval_fn: `state -> {metric: float}` (e.g. the held-out loss), added to
      the rows at every log step.

  Returns:
    (final state, {'loss': last loss, 'steps_per_s': rate of this call,
    and the last `eval_fn` metrics}).

  Raises:
    FloatingPointError: a step produced a non-finite loss or gradient.
  """
  start = int(jax.device_get(state['step']))
  end = num_steps if stop_at is None else min(num_steps, stop_at)
  prog = progress.Progress(num_steps, name=name, start=start,
                           enabled=show_progress)
  record = dict(record or {})
  last_loss = float('nan')
  last_eval: dict = {}
  pending = None  # the previous step's metrics: checked one step late so
  # the host does not wait for each step before dispatching the next.
  t_log, s_log = time.perf_counter(), start

  def check(step, metrics):
    if not bool(jax.device_get(metrics['finite'])):
      raise FloatingPointError(
          f'{name}: non-finite loss {float(metrics["loss"])} or gradient '
          f'norm {float(metrics["grad_norm"])} at step {step}; lower the '
          'learning rate or check the data')

  step = start
  while step < end:
    if step == start:
      logging.info('%s: compiling the step function...', name)
    state, metrics = step_fn(state)
    if pending is not None:
      check(*pending)
    pending = (step + 1, metrics)
    step += 1
    if step == start + 1:
      jax.block_until_ready(metrics['loss'])
      logging.info('%s: compiled; running steps %d..%d', name, start + 1,
                   num_steps)
      t_log, s_log = time.perf_counter(), step
      prog.update(step)  # starts the clock: rate and ETA exclude compile
    if step % log_every == 0 or step == end:
      check(*pending)
      last_loss = float(metrics['loss'])
      now = time.perf_counter()
      rate = (step - s_log) / (now - t_log) if step > s_log else 0.0
      t_log, s_log = now, step
      row = {f'{name}/loss': last_loss,
             f'{name}/grad_norm': float(metrics['grad_norm']),
             'steps_per_s': rate}
      if lr_fn is not None:
        row[f'{name}/lr'] = float(lr_fn(step - 1))
      if eval_fn is not None:
        last_eval = eval_fn(state)
        row.update(last_eval)
      if writer is not None:
        writer.write(step, **row)
      prog.update(step, loss=last_loss)
      if not prog.enabled:
        logging.log_every_n_seconds(
            logging.INFO, '%s: step %d/%d loss %.4f, %.2f steps/s', 30,
            name, step, num_steps, last_loss, rate)
    if (checkpointer is not None and checkpoint_every > 0
        and step % checkpoint_every == 0 and step < num_steps):
      checkpointer.save(step, state, dict(record, step=step))
  if pending is not None:
    check(*pending)
    last_loss = float(pending[1]['loss'])
  if checkpointer is not None and stop_at is None:
    checkpointer.save(step, state, dict(record, step=step, loss=last_loss),
                      force=True)
  if checkpointer is not None:
    checkpointer.wait_until_finished()
  return state, dict(last_eval, loss=last_loss, steps_per_s=prog.rate)


def load_training_poses(data_cfg: dict) -> tuple[np.ndarray, dict]:
  """Training poses [N, 17, 3] metres (camera-style, root-relative).

  Args:
    data_cfg: config.data as a dict. 'name': 'synthetic' (random body-like
      poses, no files), 'h36m' (only `h36m_npz`), anything else (e.g. 'cmu')
      the mocap takes: `mocap_files`, or every take in `root`/cmu, plus
      `h36m_npz` when set. Also 'subsample', 'min_pose_distance',
      'h36m_subjects', and 'max_poses' (0 = all; else that many evenly
      spaced poses).

  Returns:
    (poses, summary).
  """
  name = data_cfg.get('name', 'cmu')
  if name == 'synthetic':
    poses = prior_data.synthetic_poses(SYNTHETIC_POSES, seed=0)
    summary = {'synthetic': SYNTHETIC_POSES}
  else:
    kwargs = dict(subsample=data_cfg.get('subsample', 4),
                  sample_hz=float(data_cfg.get('sample_hz') or 0.0),
                  split=data_cfg.get('prior_split') or 'all',
                  min_pose_distance=data_cfg.get('min_pose_distance', 0.01),
                  h36m_npz=data_cfg.get('h36m_npz') or None,
                  h36m_subjects=data_cfg.get('h36m_subjects') or 'S1',
                  allow_pickle=bool(data_cfg.get('allow_pickle', False)))
    if name == 'h36m':
      if not kwargs['h36m_npz']:
        raise errors.InputError('data.name=h36m needs data.h36m_npz',
                                source='config', field='data.h36m_npz')
      poses, summary = prior_data.load_prior_poses(return_summary=True,
                                                   **kwargs)
    else:
      if name != 'cmu':
        logging.warning('train_prior: data.name=%r is not a prior data set; '
                        'using the mocap takes (data.mocap_files or '
                        'data.root/cmu)', name)
      poses, summary = prior_data.load_prior_poses(
          mocap_files=data_cfg.get('mocap_files') or None,
          data_root=data_lib.data_root(data_cfg.get('root')),
          return_summary=True, **kwargs)
  max_poses = int(data_cfg.get('max_poses') or 0)
  if 0 < max_poses < len(poses):
    idx = np.unique(np.linspace(0, len(poses) - 1, max_poses).round()
                    .astype(int))
    poses = poses[idx]
    summary['max_poses'] = max_poses
  summary['num_poses'] = int(len(poses))
  return poses, summary


# Fixed key of the held-out loss: the same draws at every step and in every
# run, so validation curves compare.
VAL_SEED = 1234
# Held-out poses the validation loss uses at most (evenly spaced).
MAX_VAL_POSES = 2048


def load_validation_poses(data_cfg: dict) -> np.ndarray | None:
  """The held-out subjects' poses (metres) when training on 'train', else
  None (nothing is held out, or none of the takes is a held-out subject's)."""
  if data_cfg.get('prior_split') != 'train' or data_cfg.get('name') in (
      'synthetic', 'h36m'):
    return None
  try:
    poses, _ = load_training_poses(dict(data_cfg, prior_split='val',
                                        max_poses=MAX_VAL_POSES,
                                        h36m_npz=None))
  except (errors.InputError, FileNotFoundError) as e:
    logging.warning('no held-out validation poses (%s): training without a '
                    'validation loss', e)
    return None
  return poses


def make_heldout_eval(*, model, sde, augment_fn, poses, rng,
                      num_draws: int = 4) -> Callable[[Any], dict]:
  """`state -> {'val/loss': EMA params, 'val/loss_raw': raw params}`: the DSM
  loss on held-out poses (model units), with fixed draws (`rng`)."""
  loss = jax.jit(losses.make_eval_loss(sde=sde, model=model,
                                       augment_fn=augment_fn,
                                       num_draws=num_draws))
  x = jnp.asarray(poses, jnp.float32)

  def eval_fn(state):
    return {'val/loss': float(loss(state['ema_params'], x, rng)),
            'val/loss_raw': float(loss(state['params'], x, rng))}

  return eval_fn


def command() -> str:
  """The command line of this run, as the user typed it (for model.json)."""
  argv = list(sys.argv)
  if argv and argv[0].endswith(os.path.join('zedoi_jax', 'main.py')):
    argv[0] = 'python -m zedoi_jax.main'
  return ' '.join(argv)


