"""One run per workdir (issue 13): the lock, temp names, config.json."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile

from absl.testing import absltest
import ml_collections

from zedoi_jax import chunks
from zedoi_jax import locks
from zedoi_jax import runs

REPO = pathlib.Path(__file__).resolve().parents[1]
_HOLDER = """
import sys, time
from zedoi_jax import locks
with locks.hold(sys.argv[1]):
  print('locked', flush=True)
  time.sleep(60)
"""


def _env():
  return dict(os.environ, PYTHONPATH=str(REPO), JAX_PLATFORMS='cpu')


class LockTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.workdir = pathlib.Path(tempfile.mkdtemp())

  def _holder(self):
    proc = subprocess.Popen([sys.executable, '-c', _HOLDER,
                             str(self.workdir)], stdout=subprocess.PIPE,
                            text=True, env=_env())
    self.addCleanup(proc.wait)
    self.addCleanup(proc.kill)
    self.assertEqual(proc.stdout.readline().strip(), 'locked')
    return proc

  def test_second_process_is_refused_naming_the_owner(self):
    proc = self._holder()
    with self.assertRaisesRegex(
        locks.WorkdirBusy, rf'{locks.LOCK_NAME}: workdir is in use by pid '
        rf'{proc.pid} on host'):
      with locks.hold(self.workdir):
        pass
    self.assertEqual(locks.owner(self.workdir)['pid'], proc.pid)

  def test_stale_lock_of_a_killed_process_is_taken_over(self):
    proc = self._holder()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with self.assertLogs(level='WARNING') as logs:
      with locks.hold(self.workdir):
        self.assertEqual(locks.owner(self.workdir)['pid'], os.getpid())
    self.assertRegex(' '.join(logs.output), f'stale lock of pid {proc.pid}')
    self.assertIsNone(locks.owner(self.workdir))  # released cleanly
    with locks.hold(self.workdir):  # and can be taken again
      pass

  def test_cli_refuses_a_busy_workdir_before_writing(self):
    self._holder()
    proc = subprocess.run(
        [sys.executable, '-m', 'zedoi_jax.main', '--config=configs/test.py',
         f'--workdir={self.workdir}', '--config.mode=train_prior'],
        capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('workdir is in use by pid', proc.stderr)
    self.assertFalse((self.workdir / 'config.json').exists())
    self.assertFalse((self.workdir / 'checkpoints').exists())

  def test_stale_temp_files_of_dead_processes_are_removed(self):
    dead = subprocess.run([sys.executable, '-c', 'import os; '
                           'print(os.getpid())'], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)
    store_dir = self.workdir / 'chunks'
    store_dir.mkdir()
    host = locks._host()  # pylint: disable=protected-access
    stale = store_dir / f'.tmp.{host}.{pid}.chunk_00000.npz'
    mine = locks.temp_name(store_dir / 'chunk_00001.npz')
    stale.write_bytes(b'half')
    mine.write_bytes(b'in flight')
    chunks.ChunkStore(store_dir, num_rows=2, chunk_size=1, identity={})
    self.assertFalse(stale.exists())
    self.assertTrue(mine.exists())
    self.assertIn(str(os.getpid()), mine.name)


class ConfigJsonTest(absltest.TestCase):

  def test_earlier_run_config_is_kept_until_success(self):
    workdir = pathlib.Path(tempfile.mkdtemp())
    a = ml_collections.ConfigDict({'mode': 'x', 'seed': 0})
    b = ml_collections.ConfigDict({'mode': 'x', 'seed': 1})
    self.assertTrue(runs.write_config(a, workdir, finished=False))
    self.assertFalse(runs.write_config(b, workdir, finished=False))
    self.assertEqual(json.loads((workdir / 'config.json').read_text()),
                     {'mode': 'x', 'seed': 0})
    self.assertTrue(runs.write_config(b, workdir, finished=True))
    self.assertEqual(json.loads((workdir / 'config.json').read_text()),
                     {'mode': 'x', 'seed': 1})
    self.assertEqual([p.name for p in workdir.iterdir()], ['config.json'])

  def test_bad_fit_settings_are_refused_before_config_json(self):
    workdir = pathlib.Path(tempfile.mkdtemp())
    config = ml_collections.ConfigDict(
        {'mode': 'fit', 'fit': {'reinit': 'sideways'}})
    with self.assertRaisesRegex(ValueError, 'reinit'):
      runs.start(config, workdir)
    self.assertFalse((workdir / 'config.json').exists())


if __name__ == '__main__':
  absltest.main()
