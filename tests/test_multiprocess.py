"""A real two-process (multi-controller) fit on this machine.

Two `python -m zedoi_jax.main` processes with an explicit coordinator on
localhost, one CPU device each (gloo collectives), fit a small SyRIP subset
together on the global ('data',) mesh: each feeds its half of every batch
and process 0 alone writes files. The predictions must match a
single-process run of the same job.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

from absl.testing import absltest
import chex
import numpy as np

from zedoi_jax import checkpoint
from zedoi_jax.modes import fit as fit_mode
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import export_tiny_prior, tiny_config, SHARED_DATA
import data_required

REPO = pathlib.Path(__file__).resolve().parents[1]
TIMEOUT_S = 150
NUM_POSES = 8


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _env() -> dict:
  env = {k: v for k, v in os.environ.items() if k != 'XLA_FLAGS'}
  # As tests/conftest.py: compile speed over run speed (and the same
  # compiled code as the single-process reference).
  env.update(JAX_PLATFORMS='cpu', PYTHONPATH=str(REPO),
             JAX_DISABLE_MOST_OPTIMIZATIONS='true')
  return env


def _run_two_processes(args, per_process, test) -> list[str]:
  """Runs `python -m zedoi_jax.main *args *per_process[i]` as 2 processes
  with a localhost coordinator; fails `test` unless both exit 0."""
  port = _free_port()
  procs, logs = [], []
  for i in range(2):
    logs.append(tempfile.TemporaryFile(mode='w+'))
    procs.append(subprocess.Popen(
        [sys.executable, '-m', 'zedoi_jax.main', *args, per_process[i],
         f'--config.parallel.coordinator_address=localhost:{port}',
         '--config.parallel.num_processes=2',
         f'--config.parallel.process_id={i}'],
        cwd=REPO, env=_env(), stdout=logs[i], stderr=subprocess.STDOUT))
  try:
    for p in procs:
      p.wait(timeout=TIMEOUT_S)
  except subprocess.TimeoutExpired:
    pass
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  outputs = []
  for f in logs:
    f.seek(0)
    outputs.append(f.read()[-3000:])
    f.close()
  for i, p in enumerate(procs):
    test.assertEqual(p.returncode, 0, f'process {i} failed:\n{outputs[i]}')
  return outputs


def _overrides(prior) -> dict:
  """The job, as config fields (shared by the children and the reference)."""
  return {'mode': 'fit', 'init.prior': str(prior),
          'data.root': str(SHARED_DATA), 'data.name': 'syrip',
          'data.split': 'test', 'data.input_2d': 'fidip',
          'data.max_poses': NUM_POSES, 'fit.ipo_steps': 5,
          'fit.oil_steps': 6, 'fit.solve_t_last': 2,
          'fit.init_sample_steps': 3, 'fit.num_hypotheses': 2,
          'fit.batch_size': 4, 'parallel.chunk_size': 4,
          'eval.pictures': False, 'progress': False}


class MultiProcessTest(absltest.TestCase):

  def test_two_processes_match_one(self):
    data_required.require('syrip')
    tmpdir = tempfile.TemporaryDirectory()
    self.addCleanup(tmpdir.cleanup)
    tmp = pathlib.Path(tmpdir.name)
    prior = export_tiny_prior(tmp / 'prior')
    flags = [f'--config.{k}={v}' for k, v in _overrides(prior).items()]
    outputs = _run_two_processes(
        ['--config=configs/default.py', *flags],
        [f'--workdir={tmp / f"proc{i}"}' for i in range(2)], self)
    self.assertIn('process 1 of 2', outputs[1])

    # Only process 0 writes: process 1's workdir holds no files.
    self.assertEqual([p for p in (tmp / 'proc1').rglob('*') if p.is_file()],
                     [])
    results = json.loads((tmp / 'proc0' / 'results.json').read_text())
    self.assertEqual(results['timing']['processes'], 2)
    self.assertEqual(results['timing']['devices'], 2)
    self.assertEqual(results['timing']['chunks_total'], 2)
    self.assertLen(list((tmp / 'proc0' / 'chunks').glob('chunk_*.npz')), 2)

    config = tiny_config(prior)
    for k, v in _overrides(prior).items():
      group, _, name = k.rpartition('.')
      setattr(config[group] if group else config, name, v)
    ref = fit_mode.fit(config, tmp / 'single')
    with np.load(tmp / 'proc0' / 'predictions.npz') as got, np.load(
        tmp / 'single' / 'predictions.npz') as want:
      self.assertEqual(sorted(got.files), sorted(want.files))
      for k in want.files:
        if want[k].dtype.kind in 'fc':
          # Different device layouts (2 x 1 CPU vs 8 fake devices) may round
          # differently in the last bits.
          np.testing.assert_allclose(got[k], want[k], rtol=1e-4, atol=1e-5,
                                     err_msg=k)
        else:
          np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    self.assertAlmostEqual(results['mpjpe_mm'], ref['mpjpe_mm'], places=1)
    self.assertEqual(results['num_poses'], NUM_POSES)


  def test_two_process_training_matches_one(self):
    # Both processes share one workdir, as on a cluster's shared file
    # system: Orbax coordinates the checkpoint and export saves.
    tmpdir = tempfile.TemporaryDirectory()
    self.addCleanup(tmpdir.cleanup)
    tmp = pathlib.Path(tmpdir.name)
    args = ['--config=configs/test.py', '--config.mode=train_prior',
            '--config.data.name=synthetic', '--config.progress=False']
    workdir = f'--workdir={tmp / "multi"}'
    _run_two_processes(args, [workdir, workdir], self)
    single = subprocess.run(
        [sys.executable, '-m', 'zedoi_jax.main', *args,
         f'--workdir={tmp / "single"}'], cwd=REPO, env=_env(),
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    self.assertEqual(single.returncode, 0, single.stderr[-3000:])
    got, meta = checkpoint.load_model(tmp / 'multi' / 'model')
    want, _ = checkpoint.load_model(tmp / 'single' / 'model')
    self.assertEqual(meta['training']['steps'], 4)
    chex.assert_trees_all_close(got, want, rtol=1e-4, atol=1e-5)
    self.assertIsNotNone(checkpoint.TrainCheckpointer(tmp / 'multi')
                         .latest_step())


if __name__ == '__main__':
  absltest.main()
