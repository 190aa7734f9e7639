r"""Throughput of the ZeDO fit: poses per second for N poses.

Fits N synthetic 2D poses (random body-like H36M-17 poses, 3.5 m in front of
a 1000x1000 px camera, f = 1000 px) with the paper's step counts (IPO 500,
OIL 1000) and prints one JSON line per N: n, poses_per_s, compile_s, run_s,
steps (ipo + oil), score-net FLOPs per call and the achieved GFLOP/s, beside
the GFLOP/s of a plain jnp matmul of the score net's size measured on the
same machine (an upper bound for this MLP).

  python experiments/bench_fit.py --n=1,64,512 --out=/tmp/bench_fit.jsonl
  python experiments/bench_fit.py --prior=random --n=64   # no shipped prior

`--prior`: '' = the shipped prior, a path = an exported prior, 'random' = a
randomly initialised ScoreNet of configs/default.py's size (same cost).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

# Run from anywhere: the repository root holds `configs` and `zedoi_jax`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
# pylint: disable=g-import-not-at-top,wrong-import-position
from configs import default
from zedoi_jax import camera
from zedoi_jax import fit
from zedoi_jax.data import prior_data
# pylint: enable=g-import-not-at-top,wrong-import-position

_N = flags.DEFINE_list('n', ['1', '64', '512'], 'Pose counts to time.')
_PRIOR = flags.DEFINE_string('prior', '', "'' shipped, a path, or 'random'.")
_IPO = flags.DEFINE_integer('ipo_steps', 500, 'IPO steps.')
_OIL = flags.DEFINE_integer('oil_steps', 1000, 'OIL steps.')
_INIT = flags.DEFINE_integer('init_sample_steps', 100,
                             'Reverse-SDE steps of the initial pose.')
_HYP = flags.DEFINE_integer('num_hypotheses', 1, 'Hypotheses per pose.')
_DENOISE = flags.DEFINE_enum('denoise', fit.FitConfig.denoise,
                             fit.DENOISE_RULES,
                             'OIL diffusion rule.')
_OUT = flags.DEFINE_string('out', '', 'Append JSON lines here.')
_SHARD = flags.DEFINE_bool('shard', True,
                           'Shard the batch over all devices when > 1.')


def _model():
  """(score_fn, params, sde, scale, model_kwargs, source)."""
  if _PRIOR.value == 'random':
    # pylint: disable=g-import-not-at-top
    from zedoi_jax import sde as sde_lib
    from zedoi_jax.models import score_net
    # pylint: enable=g-import-not-at-top
    config = default.get_config()
    kwargs = dict(config.model.to_dict())
    net = score_net.ScoreNet(**kwargs)
    params = score_net.init_params(net, jax.random.key(0))
    sde = sde_lib.get_sde(config.sde.name, beta_min=config.sde.beta_min,
                          beta_max=config.sde.beta_max, eps=config.sde.eps)
    return (score_net.make_score_fn(net, sde), params, sde, 1.0, kwargs,
            'random init')
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  m = load.load_pose_model(_PRIOR.value)
  return (m.score_fn, m.params, m.sde, m.scale, m.meta['model'],
          str(load.resolve(_PRIOR.value, load.SHIPPED_PRIOR)))


def _flops_per_call(kwargs) -> int:
  from zedoi_jax.models import score_net  # pylint: disable=g-import-not-at-top
  if hasattr(score_net, 'flops_per_call'):
    return int(score_net.flops_per_call(kwargs))
  j, h, b, e = (kwargs['num_joints'] * 3, kwargs['hidden'],
                kwargs['num_blocks'], kwargs['embed_dim'])
  return 2 * (e * e + 2 * j * h + b * (2 * h * h + e * h))


def _matmul_gflops(rows: int, hidden: int, reps: int = 50) -> float:
  """GFLOP/s of a chain of [rows, hidden] @ [hidden, hidden] matmuls."""
  x = jnp.ones((rows, hidden), jnp.float32)
  w = jnp.eye(hidden, dtype=jnp.float32) * 0.999

  @jax.jit
  def chain(x, w):
    return jax.lax.fori_loop(0, reps, lambda _, y: y @ w, x)

  chain(x, w).block_until_ready()
  t0 = time.perf_counter()
  chain(x, w).block_until_ready()
  dt = time.perf_counter() - t0
  return 2.0 * rows * hidden * hidden * reps / dt / 1e9


def _inputs(n: int):
  poses = prior_data.synthetic_poses(n, seed=0)
  trans = np.array([0.0, 0.0, 3.5], np.float32)
  K = np.asarray(camera.intrinsics(1000.0, 1000.0, 500.0, 500.0), np.float32)
  kp = np.asarray(camera.project(poses + trans, K), np.float32)
  return {'keypoints': kp, 'confidence': np.ones((n, 17), np.float32),
          'K': np.broadcast_to(K, (n, 3, 3)).copy(),
          'id': np.arange(n, dtype=np.int32), 'mask': np.ones(n, bool)}


def main(argv):
  del argv
  score_fn, params, sde, scale, kwargs, source = _model()
  flops = _flops_per_call(kwargs)
  cfg = fit.FitConfig(ipo_steps=_IPO.value, oil_steps=_OIL.value,
                      solve_t_last=min(50, _OIL.value),
                      init_sample_steps=_INIT.value,
                      num_hypotheses=_HYP.value, denoise=_DENOISE.value)
  devices = jax.device_count()
  mesh = (jax.sharding.Mesh(np.array(jax.devices()), ('data',))
          if _SHARD.value and devices > 1 else None)
  fit_batch = fit.make_fit_fn(score_fn=score_fn, sde=sde, scale=scale,
                              cfg=cfg, mesh=mesh)
  rng = jax.random.key(0)
  for n_str in _N.value:
    n = int(n_str)
    b = int(np.ceil(n / fit_batch.batch_multiple) * fit_batch.batch_multiple)
    batch = {k: np.concatenate([v, np.repeat(v[-1:], b - n, 0)])
             for k, v in _inputs(n).items()}
    batch['mask'] = np.arange(b) < n
    t0 = time.perf_counter()
    compiled = fit_batch.jitted.lower(rng, batch, params,
                                      fit_batch.default_hparams).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = compiled(rng, batch, params, fit_batch.default_hparams)
    jax.block_until_ready(out)
    run_s = time.perf_counter() - t0
    calls = cfg.oil_steps + cfg.init_sample_steps  # score calls per fit
    work = b * cfg.num_hypotheses * calls * flops
    row = {
        'n': n, 'batch': b, 'num_hypotheses': cfg.num_hypotheses,
        'poses_per_s': n / run_s, 'compile_s': round(compile_s, 3),
        'run_s': round(run_s, 3), 'steps': cfg.ipo_steps + cfg.oil_steps,
        'score_calls_per_fit': calls,
        'score_net_flops_per_step': flops,
        'achieved_gflops': work / run_s / 1e9,
        'matmul_gflops': _matmul_gflops(max(b * cfg.num_hypotheses, 8),
                                        int(kwargs['hidden'])),
        'reproj_error_px': float(np.mean(np.asarray(out.reproj_error)[:n])),
        'denoise': cfg.denoise, 'prior': source,
        'device': str(jax.devices()[0].platform), 'devices': devices,
    }
    line = json.dumps(row)
    print(line, flush=True)
    if _OUT.value:
      with open(_OUT.value, 'a') as f:
        f.write(line + '\n')


if __name__ == '__main__':
  app.run(main)
