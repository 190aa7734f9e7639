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
randomly initialised ScoreNet of the shipped prior's architecture and SDE
(read from zedoi_jax/checkpoints/cmu_prior/model.json: same cost).

FLOPs are counted as computed: XLA's cost analysis of one score-network
call vmapped over B poses with the shared time (as the fit calls it) at two
batch sizes gives a per-pose part and a per-step part (the time embedding,
computed once per step, not per pose). The matmul roofline is the best of
`--roofline_runs` timed runs in this process, right after the fit.

Scaling mode (`--devices`): one subprocess per device count (fake CPU
devices via XLA_FLAGS=--xla_force_host_platform_device_count=D), batch
sharded over a ('data',) mesh. Paper step counts make 65,536 poses take
hours on a small CPU, so `--step_scale=k` runs IPO/OIL/init-sampler steps at
500/k, 1000/k, 100/k (the paper's proportions) and again at twice that,
fits time = fixed + per_unit * steps, and EXTRAPOLATES LINEARLY to the
paper's counts (rows say so: 'extrapolated': true). Memory per pose: the
compiled program's temporaries (XLA memory_analysis) / batch, and the
subprocess's peak RSS.

  python experiments/bench_fit.py --prior=random --devices=1,2,4,8 \
      --n=1024,8192,65536 --step_scale=100 --out=/tmp/scale.jsonl
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import subprocess
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
from zedoi_jax import camera
from zedoi_jax import jsonio
from zedoi_jax import zedo
from zedoi_jax.data import prior_data
# pylint: enable=g-import-not-at-top,wrong-import-position

_N = flags.DEFINE_list('n', ['1', '64', '512'], 'Pose counts to time.')
_PRIOR = flags.DEFINE_string('prior', '', "'' shipped, a path, or 'random'.")
_ADAPTED = flags.DEFINE_string('adapted', '', "Adaptation on top of the "
                               "prior ('' = none; e.g. syrip_control).")
_IPO = flags.DEFINE_integer('ipo_steps', 500, 'IPO steps.')
_OIL = flags.DEFINE_integer('oil_steps', 1000, 'OIL steps.')
_INIT = flags.DEFINE_integer('init_sample_steps', 100,
                             'Reverse-SDE steps of the initial pose.')
_HYP = flags.DEFINE_integer('num_hypotheses', 1, 'Hypotheses per pose.')
_INIT_POSE = flags.DEFINE_enum('init_pose', 'sample',
                               list(zedo.INIT_POSE_RULES), 'fit.init_pose.')
_BANK = flags.DEFINE_integer('init_bank_size', 64, 'fit.init_bank_size.')
_DENOISE = flags.DEFINE_enum('denoise', zedo.FitConfig.denoise,
                             zedo.DENOISE_RULES,
                             'OIL diffusion rule.')
_OUT = flags.DEFINE_string('out', '', 'Append JSON lines here.')
_SHARD = flags.DEFINE_bool('shard', True,
                           'Shard the batch over all devices when > 1.')
_DEVICES = flags.DEFINE_list(
    'devices', [], 'Scaling mode: fake CPU device counts, one subprocess '
    'each (e.g. 1,2,4,8).')
_STEP_SCALE = flags.DEFINE_integer(
    'step_scale', 0, 'Scaling mode: run the paper step counts / this (and '
    'twice that) and extrapolate linearly; 0 = run --ipo/--oil/--init as '
    'given.')
_ROOFLINE_RUNS = flags.DEFINE_integer(
    'roofline_runs', 10, 'Timed runs of the matmul roofline (best kept).')
_MAX_BATCH = flags.DEFINE_integer(
    'max_batch', 65536, 'Poses per compiled call (N is split into calls).')


def _model():
  """(score_fn, params, sde, scale, model_kwargs, source)."""
  if _PRIOR.value == 'random':
    # pylint: disable=g-import-not-at-top
    from zedoi_jax.models import load
    from zedoi_jax.models import score_net
    # pylint: enable=g-import-not-at-top
    shipped = load.resolve('', load.SHIPPED_PRIOR) / 'model.json'
    meta = json.loads(shipped.read_text())
    kwargs = dict(meta['model'])
    net = score_net.ScoreNet(**kwargs)
    params = score_net.init_params(net, jax.random.key(0))
    sde = load.sde_from_meta(meta)
    return (score_net.make_score_fn(net, sde), params, sde,
            float(meta.get('scale', 1.0)), kwargs,
            f'random init, architecture of {shipped}')
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  m = load.load_pose_model(_PRIOR.value, _ADAPTED.value)
  source = str(load.resolve(_PRIOR.value, load.SHIPPED_PRIOR))
  if _ADAPTED.value:
    source += ' + ' + str(load.resolve(_ADAPTED.value, ''))
  return (m.score_fn, m.params, m.sde, m.scale, m.meta['model'], source)


def flops_as_computed(score_fn, params, num_joints: int,
                      batch: int = 8) -> tuple[float, float]:
  """(per-pose FLOPs, per-step shared FLOPs) of one score-network call.

  XLA's cost analysis of the call vmapped over `batch` and `2 * batch`
  poses with one shared time t (as OIL and the initial-pose sampler call
  it, so the time embedding is computed once per step): the slope is the
  per-pose cost, the intercept the shared time-embedding cost.
  """
  def call(p, x, t):
    return jax.vmap(lambda xi: score_fn(p, xi[None], t[None])[0])(x)

  flops = []
  for b in (batch, 2 * batch):
    compiled = jax.jit(call).lower(
        params, jnp.zeros((b, num_joints, 3), jnp.float32),
        jnp.float32(0.1)).compile()
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per module
      cost = cost[0]
    flops.append(float(cost['flops']))
  per_pose = (flops[1] - flops[0]) / batch
  return per_pose, max(flops[0] - batch * per_pose, 0.0)


def matmul_gflops(rows: int, hidden: int, reps: int = 50, runs: int = 5,
                  dtype=jnp.float32, accumulate=jnp.float32) -> float:
  """Best-of-`runs` GFLOP/s of a chain of [rows, hidden] @ [hidden, hidden].

  `dtype` is the operands' type, `accumulate` the dot's
  preferred_element_type (bf16 x bf16 -> f32 = mixed precision).
  """
  x = jnp.ones((rows, hidden), dtype)
  w = (jnp.eye(hidden, dtype=jnp.float32) * 0.999).astype(dtype)

  @jax.jit
  def chain(x, w):
    step = lambda _, y: jax.lax.dot(
        y, w, preferred_element_type=accumulate).astype(dtype)
    return jax.lax.fori_loop(0, reps, step, x)

  chain(x, w).block_until_ready()
  best = float('inf')
  for _ in range(max(runs, 1)):
    t0 = time.perf_counter()
    chain(x, w).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2.0 * rows * hidden * hidden * reps / best / 1e9


def _inputs(n: int):
  poses = prior_data.synthetic_poses(n, seed=0)
  trans = np.array([0.0, 0.0, 3.5], np.float32)
  K = np.asarray(camera.intrinsics(1000.0, 1000.0, 500.0, 500.0), np.float32)
  kp = np.asarray(camera.project(poses + trans, K), np.float32)
  return {'keypoints': kp, 'confidence': np.ones((n, 17), np.float32),
          'K': np.broadcast_to(K, (n, 3, 3)).copy(),
          'id': np.arange(n, dtype=np.int32), 'mask': np.ones(n, bool)}


def _spawn_devices(argv) -> None:
  """Reruns this script once per device count, in fresh processes."""
  rest = list(argv[1:])
  flags_in = [a for a in sys.argv[1:] if not a.startswith('--devices')]
  for d in _DEVICES.value:
    env = dict(os.environ, JAX_PLATFORMS='cpu', XLA_FLAGS=(
        f'--xla_force_host_platform_device_count={int(d)}'))
    print(f'# {d} device(s)', flush=True)
    subprocess.run([sys.executable, __file__, *flags_in, *rest], env=env,
                   check=True)


def _timed_run(fit_batch, params, n: int, rng):
  """Compiles and runs N poses (in calls of <= max_batch); returns
  (compile_s, run_s, temp_bytes, batch, reproj_error)."""
  b = min(n, _MAX_BATCH.value)
  b = int(np.ceil(b / fit_batch.batch_multiple) * fit_batch.batch_multiple)
  inputs = _inputs(b)
  t0 = time.perf_counter()
  compiled = fit_batch.jitted.lower(rng, inputs, params,
                                    fit_batch.default_hparams).compile()
  compile_s = time.perf_counter() - t0
  temp = None
  try:
    mem = compiled.memory_analysis()
    temp = int(mem.temp_size_in_bytes + mem.output_size_in_bytes +
               mem.argument_size_in_bytes)
  except (AttributeError, NotImplementedError):  # backend without it
    pass
  calls = -(-n // b)
  # Best of a few repeats for short runs (timer noise); one for long ones.
  run_s = float('inf')
  for _ in range(3 if n <= 8192 else 1):
    t0 = time.perf_counter()
    for _ in range(calls):
      out = compiled(rng, inputs, params, fit_batch.default_hparams)
      jax.block_until_ready(out)
    run_s = min(run_s, time.perf_counter() - t0)
  return compile_s, run_s, temp, b, float(np.mean(np.asarray(
      out.reproj_error)))


def _scaling(score_fn, params, sde, scale, source, flops, shared_flops):
  """Per-step cost at reduced step counts, extrapolated to the paper's."""
  k = _STEP_SCALE.value
  devices = jax.device_count()
  mesh = (jax.sharding.Mesh(np.array(jax.devices()), ('data',))
          if devices > 1 else None)
  rng = jax.random.key(0)
  paper = {'ipo': 500, 'oil': 1000, 'init': 100}
  for n_str in _N.value:
    n = int(n_str)
    runs = []
    for mult in (1, 2):
      steps = {name: max(1, v * mult // k) for name, v in paper.items()}
      cfg = zedo.FitConfig(ipo_steps=steps['ipo'], oil_steps=steps['oil'],
                          solve_t_last=min(50, steps['oil']),
                          init_sample_steps=steps['init'],
                          num_hypotheses=_HYP.value,
                          denoise=_DENOISE.value)
      fit_batch = zedo.make_fit_fn(score_fn=score_fn, sde=sde, scale=scale,
                                  cfg=cfg, mesh=mesh)
      runs.append((steps, _timed_run(fit_batch, params, n, rng)))
    (s1, r1), (s2, r2) = runs
    units = [s['oil'] for s in (s1, s2)]  # proportional to every count
    per_unit = (r2[1] - r1[1]) / (units[1] - units[0])
    fixed = max(r1[1] - per_unit * units[0], 0.0)
    paper_s = fixed + per_unit * paper['oil']
    calls = paper['oil'] + paper['init']
    work = calls * (n * _HYP.value * flops + shared_flops)
    row = {
        'n': n, 'devices': devices, 'batch_per_call': r1[3],
        'num_hypotheses': _HYP.value,
        'measured_steps': [s1, s2], 'measured_run_s': [round(r1[1], 3),
                                                         round(r2[1], 3)],
        'compile_s': [round(r1[0], 2), round(r2[0], 2)],
        'extrapolated': True,
        'note': ('poses_per_s at paper step counts (IPO 500, OIL 1000, '
                 'init 100), extrapolated linearly from the two measured '
                 'step counts'),
        'seconds_per_oil_step': per_unit, 'fixed_s': fixed,
        'paper_run_s': paper_s, 'poses_per_s': n / paper_s,
        'score_net_flops_per_pose': flops,
        'score_net_flops_shared_per_step': shared_flops,
        'achieved_gflops': work / paper_s / 1e9,
        # memory_analysis describes one device's program (SPMD): x devices.
        'xla_bytes_per_pose': (r2[2] * devices / r1[3] if r2[2] else None),
        'peak_rss_mb': resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024,
        'reproj_error_px': r2[4], 'prior': source,
        'device': str(jax.devices()[0].platform),
    }
    print(jsonio.append_line(_OUT.value, row), flush=True)


def main(argv):
  if _DEVICES.value:
    _spawn_devices(argv)
    return
  score_fn, params, sde, scale, kwargs, source = _model()
  flops, shared_flops = flops_as_computed(score_fn, params,
                                          int(kwargs['num_joints']))
  if _STEP_SCALE.value:
    _scaling(score_fn, params, sde, scale, source, flops, shared_flops)
    return
  cfg = zedo.FitConfig(ipo_steps=_IPO.value, oil_steps=_OIL.value,
                      solve_t_last=max(1, round(0.05 * _OIL.value)),
                      init_sample_steps=_INIT.value,
                      num_hypotheses=_HYP.value, denoise=_DENOISE.value,
                      init_pose=_INIT_POSE.value,
                      init_bank_size=_BANK.value)
  devices = jax.device_count()
  mesh = (jax.sharding.Mesh(np.array(jax.devices()), ('data',))
          if _SHARD.value and devices > 1 else None)
  fit_batch = zedo.make_fit_fn(score_fn=score_fn, sde=sde, scale=scale,
                               cfg=cfg, mesh=mesh)
  rng = jax.random.key(0)
  for n_str in _N.value:
    n = int(n_str)
    b = int(np.ceil(n / fit_batch.batch_multiple) * fit_batch.batch_multiple)
    batch = {k: np.concatenate([v, np.repeat(v[-1:], b - n, 0)])
             for k, v in _inputs(n).items()}
    batch['mask'] = np.arange(b) < n
    t0, c0 = time.perf_counter(), time.process_time()
    compiled = fit_batch.jitted.lower(rng, batch, params,
                                      fit_batch.default_hparams).compile()
    compile_s = time.perf_counter() - t0
    compile_cpu_s = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    out = compiled(rng, batch, params, fit_batch.default_hparams)
    jax.block_until_ready(out)
    run_s = time.perf_counter() - t0
    # CPU seconds per wall second: ~2 when XLA's intra-op threads keep both
    # cores busy (less on a loaded machine).
    cpu_per_wall = (time.process_time() - c0) / run_s
    rows = max(b * cfg.num_hypotheses, 8)
    hidden = int(kwargs['hidden'])
    calls = cfg.oil_steps + cfg.init_sample_steps  # score calls per fit
    # Per pose per call, plus the time embedding once per step; the
    # initial-pose sampler runs over the bank (init_pose 'bank') or over
    # every hypothesis ('sample').
    sampled = (cfg.init_bank_size if cfg.init_pose == 'bank'
               else b * cfg.num_hypotheses)
    work = (cfg.oil_steps * (b * cfg.num_hypotheses * flops + shared_flops)
            + cfg.init_sample_steps * (sampled * flops + shared_flops))
    row = {
        'n': n, 'batch': b, 'num_hypotheses': cfg.num_hypotheses,
        'poses_per_s': n / run_s, 'compile_s': round(compile_s, 3),
        'compile_cpu_s': round(compile_cpu_s, 3),
        'run_s': round(run_s, 3), 'steps': cfg.ipo_steps + cfg.oil_steps,
        'score_calls_per_fit': calls,
        'score_net_flops_per_pose': flops,
        'score_net_flops_shared_per_step': shared_flops,
        'achieved_gflops': work / run_s / 1e9,
        'cpu_per_wall': round(cpu_per_wall, 3),
        'matmul_gflops': matmul_gflops(rows, hidden,
                                       runs=_ROOFLINE_RUNS.value),
        # The same chain in bf16 with f32 accumulation, and all-bf16: does
        # XLA reach faster bf16 units on this CPU (AMX / AVX512-BF16)?
        'matmul_gflops_bf16_f32acc': matmul_gflops(
            rows, hidden, runs=_ROOFLINE_RUNS.value, dtype=jnp.bfloat16),
        'matmul_gflops_bf16': matmul_gflops(
            rows, hidden, runs=_ROOFLINE_RUNS.value, dtype=jnp.bfloat16,
            accumulate=jnp.bfloat16),
        'roofline_runs': _ROOFLINE_RUNS.value,
        'loadavg_1m': round(os.getloadavg()[0], 2),
        'reproj_error_px': float(np.mean(np.asarray(out.reproj_error)[:n])),
        'denoise': cfg.denoise, 'prior': source,
        'device': str(jax.devices()[0].platform), 'devices': devices,
    }
    print(jsonio.append_line(_OUT.value, row), flush=True)


if __name__ == '__main__':
  app.run(main)
