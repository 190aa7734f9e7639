"""End-to-end tests of the command line: `python -m zedoi_jax.main`."""

import json
import os
import pathlib
import subprocess
import sys
import shutil
import tempfile
from unittest import mock

from absl.testing import absltest
import numpy as np

import data_required
from test_evaluate import export_tiny_prior

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = data_required.root()


def _run(*args, check=True):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  proc = subprocess.run([sys.executable, '-m', 'zedoi_jax.main', *args],
                        cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600, check=False)
  if check and proc.returncode:
    raise AssertionError(f'exit {proc.returncode}\n{proc.stderr[-3000:]}')
  return proc


class CliErrorsTest(absltest.TestCase):

  def test_misspelt_override_fails(self):
    proc = _run('--config=configs/test.py', '--config.fit.oil_stepz=3',
                '--workdir=' + tempfile.mkdtemp(), check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('oil_stepz', proc.stderr)

  def test_unknown_mode_fails_naming_the_modes(self):
    proc = _run('--config=configs/test.py', '--config.mode=dance',
                '--workdir=' + tempfile.mkdtemp(), check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('train_prior', proc.stderr)


  def test_missing_data_is_one_line_and_exit_2(self):
    empty = tempfile.mkdtemp()
    proc = _run('--config=configs/test.py', '--config.mode=fit',
                '--config.data.name=syrip', f'--config.data.root={empty}',
                '--workdir=' + tempfile.mkdtemp(), check=False)
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertNotIn('Traceback', proc.stderr)
    errors = [l for l in proc.stderr.splitlines() if 'error:' in l]
    self.assertLen(errors, 1)
    for part in ('correct_3D.npy', 'fidip_pred2d_real700.json', empty,
                 'python -m zedoi_jax.prepare syrip', '--config.data.root',
                 'ZEDOI_DATA', 'lift'):
      self.assertIn(part, errors[0])

  def test_traceback_on_request(self):
    proc = _run('--config=configs/test.py', '--config.mode=lift',
                '--config.lift.input=/nonexistent/kp.json', '--verbosity=1',
                '--workdir=' + tempfile.mkdtemp(), check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('Traceback', proc.stderr)
    self.assertIn('/nonexistent/kp.json', proc.stderr)

  def test_bad_input_and_bad_checkpoint_exit_2(self):
    tmp = pathlib.Path(tempfile.mkdtemp())
    bad = tmp / 'kp.npy'
    bad.write_bytes(b'not an array')
    good = tmp / 'good.npy'
    np.save(good, np.full((2, 17, 2), 100.0))
    (tmp / 'model').mkdir()
    (tmp / 'model' / 'model.json').write_text('{not json')
    for flags, want in (
        ([f'--config.lift.input={bad}'], 'kp.npy'),
        ([f'--config.lift.input={good}', '--config.lift.image_width=640',
          '--config.lift.image_height=480',
          f'--config.init.prior={tmp / "model"}'], 'model.json')):
      proc = _run('--config=configs/test.py', '--config.mode=lift', *flags,
                  f'--workdir={tmp / "w"}', check=False)
      self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
      self.assertNotIn('Traceback', proc.stderr)
      self.assertIn(want, proc.stderr.strip().splitlines()[-1])


class EndToEndTest(absltest.TestCase):

  def test_train_then_fit(self):
    root = pathlib.Path(tempfile.mkdtemp())
    prior = root / 'prior'
    _run('--config=configs/test.py', '--config.mode=train_prior',
         '--config.data.name=synthetic', f'--workdir={prior}')
    self.assertTrue((prior / 'model' / 'model.json').is_file())
    config = json.loads((prior / 'config.json').read_text())
    self.assertEqual(config['mode'], 'train_prior')
    rows = [json.loads(l) for l in
            (prior / 'metrics.jsonl').read_text().splitlines()]
    self.assertEqual(rows[0]['run/event'], 'start')
    self.assertEqual(rows[-1]['run/status'], 'ok')
    self.assertTrue(any('train/loss' in r for r in rows))

    fitdir = root / 'fit'
    _run('--config=configs/test.py', '--config.mode=fit',
         f'--config.init.prior={prior / "model"}', '--config.init.adapted=',
         '--config.data.name=demo', '--config.data.max_poses=4',
         f'--workdir={fitdir}')
    results = json.loads((fitdir / 'results.json').read_text())
    for key in ('dataset', 'split', 'input_2d', 'num_poses',
                'num_hypotheses', 'mpjpe_mm', 'pa_mpjpe_mm',
                'per_joint_mpjpe_mm'):
      self.assertIn(key, results)
    self.assertEqual(results['num_poses'], 4)
    self.assertLen(results['per_joint_mpjpe_mm'], 12)
    self.assertTrue((fitdir / 'predictions.npz').is_file())
    self.assertEqual(results['num_flagged'], 0)


  @data_required.needs('syrip')
  def test_rerun_with_other_settings_is_refused(self):
    tmp = pathlib.Path(tempfile.mkdtemp())
    self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
    prior = export_tiny_prior(tmp / 'prior')
    fitdir = tmp / 'fit'
    args = ('--config=configs/test.py', '--config.mode=fit',
            f'--config.init.prior={prior}', '--config.init.adapted=',
            '--config.data.name=syrip', f'--config.data.root={DATA}',
            '--config.data.max_poses=4', f'--workdir={fitdir}')
    _run(*args)
    # A rerun with other settings is refused (the chunks belong to another
    # job) and leaves the finished run's config.json alone.
    proc = _run(*args, '--config.seed=7', check=False)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('another job', proc.stderr)
    self.assertEqual(json.loads((fitdir / 'config.json').read_text())['seed'],
                     0)
    leftovers = [p.name for p in fitdir.rglob('*') if '.tmp' in p.name]
    self.assertEqual(leftovers, [])



class CompilationCacheTest(absltest.TestCase):

  def test_setting(self):
    from zedoi_jax import runs  # pylint: disable=g-import-not-at-top
    self.assertIsNone(runs.compilation_cache_dir(''))
    self.assertEqual(runs.compilation_cache_dir('/x/y'), pathlib.Path('/x/y'))
    env = {k: v for k, v in os.environ.items()
           if k not in ('JAX_COMPILATION_CACHE_DIR', 'XDG_CACHE_HOME')}
    with mock.patch.dict(os.environ, env, clear=True):
      os.environ['XDG_CACHE_HOME'] = '/c'
      self.assertEqual(runs.compilation_cache_dir('auto'),
                       pathlib.Path('/c/zedoi_jax/jax_cache'))
      os.environ['JAX_COMPILATION_CACHE_DIR'] = '/j'
      self.assertEqual(runs.compilation_cache_dir('auto'), pathlib.Path('/j'))

  def test_rerun_loads_every_program_from_the_cache(self):
    tmp = pathlib.Path(tempfile.mkdtemp())
    self.addCleanup(shutil.rmtree, tmp, ignore_errors=True)
    cache = tmp / 'cache'
    # A tiny prior keeps the compile short; the demo set needs no data.
    prior = export_tiny_prior(tmp / 'prior')
    # Store every program, however fast it compiled.
    with mock.patch.dict(os.environ,
                         {'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}):
      results, entries = [], []
      for i in range(2):
        _run('--config=configs/demo.py:quick', f'--workdir={tmp / str(i)}',
             f'--config.init.prior={prior}', '--config.init.adapted=',
             f'--config.compilation_cache={cache}',
             '--config.eval.pictures=False')
        doc = json.loads((tmp / str(i) / 'results.json').read_text())
        doc.pop('timing')
        results.append(doc)
        entries.append(sorted(p.name for p in cache.rglob('*')
                              if p.is_file()))
    self.assertNotEmpty(entries[0])
    # The second run compiled nothing new, and its answer is the same.
    self.assertEqual(entries[1], entries[0])
    self.assertEqual(results[1], results[0])


if __name__ == '__main__':
  absltest.main()
