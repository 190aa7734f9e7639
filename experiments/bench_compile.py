r"""Compile time of the shipped infant fit, without and with the disk cache.

Each measurement is a fresh Python process (nothing compiled in memory)
that builds the shipped infant fit (configs/syrip.py's `fit` settings, the
shipped prior + control branch, `fit_jobs.make_mesh_fit_fn` as fit mode
builds it) and times `lower` + `compile` for a batch of N poses. With
`--cache`, JAX's persistent compilation cache is on in a folder this script
empties first, so the first process compiles ("cold") and the next ones
load the program from disk ("warm"): what a rerun of the same fit, a sweep
over `fit.t_max` / `em_dt` (arguments of the compiled function) or a second
lift of the same settings pays. One JSON line per process.

  python experiments/bench_compile.py --out=experiments/results/compile.jsonl
  python experiments/bench_compile.py --n=64 --repeat=3 --candidates='bank'

`--candidates`: `fit.init_pose` values timed (default: both).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pylint: disable=g-import-not-at-top,wrong-import-position
from zedoi_jax import jsonio
# pylint: enable=g-import-not-at-top,wrong-import-position

_N = flags.DEFINE_integer('n', 64, 'Poses per compiled batch.')
_REPEAT = flags.DEFINE_integer('repeat', 3, 'Warm processes per setting.')
_CANDIDATES = flags.DEFINE_list('candidates', ['sample', 'bank'],
                                'fit.init_pose values.')
_OUT = flags.DEFINE_string('out', '', 'Append JSON lines here.')

_CHILD_CODE = r'''
import json, os, sys, time
t_start = time.perf_counter()
sys.path.insert(0, {root!r})
import jax
import numpy as np
from configs import syrip
from zedoi_jax import fit_jobs, runs
from zedoi_jax.modes import common
cache = {cache!r}
if cache:
  runs.use_compilation_cache(cache)
config = syrip.get_config()
config.fit.init_pose = {init_pose!r}
t_import = time.perf_counter() - t_start
model, layout = common.load_model(config)
cfg = common.fit_config(config, layout, trajectory_frames=0)
fit_batch = fit_jobs.make_mesh_fit_fn(model, cfg)
n = {n}
batch = {{'keypoints': np.zeros((n, 17, 2), np.float32) + 500.0,
          'confidence': np.ones((n, 17), np.float32),
          'K': np.broadcast_to(np.array([[2000., 0, 500], [0, 2000., 500],
                                         [0, 0, 1]], np.float32),
                               (n, 3, 3)).copy(),
          'id': np.arange(n, dtype=np.int32), 'mask': np.ones(n, bool)}}
rng = jax.random.key(0)
c0, p0 = time.perf_counter(), time.process_time()
lowered = fit_batch.jitted.lower(rng, batch, model.params,
                                 fit_batch.default_hparams)
t_lower = time.perf_counter() - c0
lowered.compile()
print(json.dumps({{'lower_s': t_lower,
                   'compile_s': time.perf_counter() - c0,
                   'compile_cpu_s': time.process_time() - p0,
                   'import_and_setup_s': t_import}}))
'''


def _measure(init_pose: str, cache: str) -> dict:
  code = _CHILD_CODE.format(root=str(ROOT), cache=cache, init_pose=init_pose,
                            n=_N.value)
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  env.pop('JAX_COMPILATION_CACHE_DIR', None)
  got = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True, env=env)
  return json.loads([l for l in got.stdout.splitlines()
                     if l.startswith('{')][-1])


def _emit(row: dict) -> None:
  row = dict(row, loadavg_1m=round(os.getloadavg()[0], 2),
             time_utc=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  print(jsonio.append_line(_OUT.value, row), flush=True)


def main(argv):
  del argv
  for init_pose in _CANDIDATES.value:
    _emit(dict(_measure(init_pose, ''), init_pose=init_pose, n=_N.value,
               cache='off'))
    folder = tempfile.mkdtemp(prefix='zedoi_compile_cache_')
    try:
      for rep in range(1 + _REPEAT.value):
        _emit(dict(_measure(init_pose, folder), init_pose=init_pose,
                   n=_N.value, cache='cold' if rep == 0 else 'warm',
                   rep=rep))
    finally:
      shutil.rmtree(folder, ignore_errors=True)


if __name__ == '__main__':
  app.run(main)
