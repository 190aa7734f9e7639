"""The README's recipes, run as written in their quick form.

Each recipe below must appear verbatim in one of README.md's ```bash blocks
(continuation lines joined, comments dropped): when the README changes a
command, this test fails until the recipe here follows. Each is then run
through `python -m zedoi_jax.main` with two changes only: the config gets
its 'quick' variant (`configs/x.py:quick`: few steps, same code path) and
relative paths (workdirs, input files) live in a temp folder. Recipes that
need a dataset use `data_required` (skip or, under CI, fail).
"""

import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
import tempfile

from absl.testing import absltest
import numpy as np

import data_required  # pylint: disable=g-bad-import-order
from test_lift import coco_fixture  # pylint: disable=g-bad-import-order

REPO = pathlib.Path(__file__).resolve().parents[1]
PATH_FLAGS = ('--workdir', '--config.lift.input', '--config.lift.camera',
              '--config.init.adapted', '--config.init.prior')

DEMO = ('python -m zedoi_jax.main --config=configs/demo.py '
        '--workdir=/tmp/zedoi_demo')
LIFT_JSON = ('python -m zedoi_jax.main --config=configs/lift.py --workdir=out '
             '--config.lift.input=keypoints.json')
LIFT_NPY = ('python -m zedoi_jax.main --config=configs/lift.py '
            '--workdir=out_npy '
            '--config.lift.input=poses2d.npy --config.lift.layout=coco17 '
            '--config.lift.camera=K.npy')
ADAPT = ('python -m zedoi_jax.main --config=configs/syrip.py '
         '--config.mode=adapt --workdir=ctrl')
EVAL_ADAPTED = ('python -m zedoi_jax.main --config=configs/syrip.py '
                '--workdir=eval --config.init.adapted=ctrl/model')


def readme_commands() -> list[str]:
  """Every command of README.md's bash blocks, one line each."""
  text = (REPO / 'README.md').read_text()
  commands = []
  for block in re.findall(r'```(?:bash|sh)\n(.*?)```', text, re.S):
    joined = re.sub(r'\\\n\s*', ' ', block)
    for line in joined.splitlines():
      line = line.split(' #')[0].strip()
      if line and not line.startswith('#'):
        commands.extend(c.strip() for c in line.split('&&'))
  return [' '.join(c.split()) for c in commands]


def quick_argv(command: str, tmp: pathlib.Path) -> list[str]:
  """The recipe's arguments with the quick config and paths under tmp."""
  words = shlex.split(command)
  assert words[:3] == ['python', '-m', 'zedoi_jax.main'], command
  argv = []
  for w in words[3:]:
    flag, _, value = w.partition('=')
    if flag == '--config':
      w = f'--config={value}:quick'
    elif flag in PATH_FLAGS and value and not os.path.isabs(value):
      w = f'{flag}={tmp / value}'
    elif flag == '--workdir':
      w = f'{flag}={tmp / pathlib.Path(value).name}'
    argv.append(w)
  return argv


def run(command: str, tmp: pathlib.Path) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  proc = subprocess.run(
      [sys.executable, '-m', 'zedoi_jax.main', *quick_argv(command, tmp)],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
      check=False)
  if proc.returncode:
    raise AssertionError(f'README recipe failed (exit {proc.returncode}): '
                         f'{command}\n{proc.stderr[-3000:]}')
  return proc


class RecipesTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self._tmp = tempfile.TemporaryDirectory()
    self.addCleanup(self._tmp.cleanup)
    self.tmp = pathlib.Path(self._tmp.name)

  def test_recipes_are_in_the_readme(self):
    commands = readme_commands()
    for recipe in (DEMO, LIFT_JSON, LIFT_NPY, ADAPT, EVAL_ADAPTED):
      self.assertIn(recipe, commands)
    # The first command of the first block is the offline default run.
    self.assertEqual(commands[:2], ['pip install -e .', DEMO])

  def test_quick_argv(self):
    argv = quick_argv(EVAL_ADAPTED, self.tmp)
    self.assertEqual(argv, ['--config=configs/syrip.py:quick',
                            f'--workdir={self.tmp / "eval"}',
                            f'--config.init.adapted={self.tmp}/ctrl/model'])

  def test_demo(self):
    proc = run(DEMO, self.tmp)
    out = self.tmp / 'zedoi_demo'
    results = json.loads((out / 'results.json').read_text())
    self.assertEqual(results['dataset'], 'demo')
    self.assertTrue(results['baseline']['available'])
    self.assertGreater(results['baseline']['mpjpe_mm'], 0)
    self.assertTrue(np.isfinite(results['mpjpe_mm']))
    doc = json.loads((out / 'poses_3d.json').read_text())
    self.assertLen(doc['poses'], results['num_poses'])
    for name in ('gt_vs_pred.png', 'reprojection.png'):
      self.assertTrue((out / 'pictures' / name).is_file(), name)
    self.assertTrue((out / 'predictions.npz').is_file())
    self.assertIn(str(out), proc.stdout)
    self.assertIn('configs/lift.py', proc.stdout)
    self.assertIn('zedoi_jax.prepare syrip', proc.stdout)
    # A rerun after an update (another clone, new models) recomputes.
    stale = out / 'chunks' / 'manifest.json'
    stale.write_text(json.dumps({'identity': 'an older run'}))
    run(DEMO, self.tmp)

  def test_lift_json_and_npy(self):
    coco_fixture(self.tmp / 'keypoints.json', n=2)
    run(LIFT_JSON, self.tmp)
    self.assertTrue((self.tmp / 'out' / 'lifted.npz').is_file())
    kp = np.random.default_rng(0).uniform(200, 400, (2, 17, 2))
    np.save(self.tmp / 'poses2d.npy', kp)
    np.save(self.tmp / 'K.npy', np.array([[600.0, 0, 320], [0, 600, 240],
                                          [0, 0, 1]]))
    run(LIFT_NPY, self.tmp)
    with np.load(self.tmp / 'out_npy' / 'lifted.npz') as z:
      self.assertEqual(z['poses_3d'].shape, (2, 17, 3))

  @data_required.needs('syrip')
  def test_adapt_then_evaluate(self):
    run(ADAPT, self.tmp)
    self.assertTrue((self.tmp / 'ctrl' / 'model' / 'model.json').is_file())
    run(EVAL_ADAPTED, self.tmp)
    results = json.loads((self.tmp / 'eval' / 'results.json').read_text())
    self.assertEqual(results['model']['adapted'],
                     str(self.tmp / 'ctrl' / 'model'))


if __name__ == '__main__':
  absltest.main()
