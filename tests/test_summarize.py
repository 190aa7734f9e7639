"""Tests for experiments/summarize.py on fake sweep trees."""

import importlib.util
import json
import pathlib
import tempfile

from absl.testing import absltest
from absl.testing import parameterized

_PATH = (pathlib.Path(__file__).resolve().parents[1] / 'experiments' /
         'summarize.py')
_spec = importlib.util.spec_from_file_location('summarize', _PATH)
summarize = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summarize)


def _write_run(folder, *, t_max, steps, mpjpe, name=None, extra_config=None,
               n=100, batch=50, fit_s=10.0, first_s=6.0, config=True):
  run = folder / (name or f'tmax{t_max}_oil{steps}')
  run.mkdir(parents=True)
  cfg = {'mode': 'fit', 'seed': 0, 'progress': False,
         'data': {'name': 'syrip', 'max_poses': n},
         'fit': {'t_max': t_max, 'oil_steps': steps, 'batch_size': batch}}
  for key, value in (extra_config or {}).items():
    group, field = key.split('.')
    cfg[group][field] = value
  if config:
    (run / 'config.json').write_text(json.dumps(cfg))
  results = {'num_poses': n, 'mpjpe_mm': mpjpe, 'pa_mpjpe_mm': mpjpe / 2,
             'best_of_s_mpjpe_mm': mpjpe - 5,
             'variants': {'mean': {'mpjpe_mm': mpjpe + 1}},
             'fit_seconds': fit_s, 'first_batch_seconds': first_s,
             'devices': 1, 'fit_config': cfg['fit']}
  (run / 'results.json').write_text(json.dumps(results))
  return run


class SummarizeTest(parameterized.TestCase):

  def setUp(self):
    super().setUp()
    tmp = tempfile.TemporaryDirectory()
    self.addCleanup(tmp.cleanup)
    self.root = pathlib.Path(tmp.name) / 'sweep'
    # Written out of order so sorting is visible.
    for t_max, steps, mpjpe in [(0.2, 1000, 80.0), (0.05, 250, 70.0),
                                (0.2, 250, 90.0), (0.05, 1000, 60.0)]:
      _write_run(self.root, t_max=t_max, steps=steps, mpjpe=mpjpe)

  def test_varying_keys_detected(self):
    runs = summarize.load_runs([self.root])
    self.assertLen(runs, 4)
    self.assertEqual(summarize.varying_keys(runs),
                     ['fit.oil_steps', 'fit.t_max'])

  def test_ignored_and_missing_keys(self):
    _write_run(self.root, t_max=0.05, steps=250, mpjpe=1.0, name='odd',
               extra_config={'fit.denoise': 'tweedie'})
    runs = summarize.load_runs([self.root])
    # Present in one run only: varying (None elsewhere).
    self.assertIn('fit.denoise', summarize.varying_keys(runs))
    self.assertNotIn('fit.denoise',
                     summarize.varying_keys(runs, ignore=['fit.denoise']))

  def test_table_rows_sorted_and_plot_written(self):
    info = summarize.summarize([self.root], self.root / 'out' / 'summary.md',
                               x='fit.oil_steps', series=['fit.t_max'],
                               plot_metrics=['mpjpe_mm', 'ms_per_pose'],
                               title='noise x iters')
    self.assertEqual(info['runs'], ['tmax0.05_oil250', 'tmax0.05_oil1000',
                                    'tmax0.2_oil250', 'tmax0.2_oil1000'])
    md = info['markdown'].read_text()
    self.assertEqual(info['markdown'].name, 'summary.md')
    lines = [l for l in md.splitlines() if l.startswith('| tmax')]
    self.assertLen(lines, 4)
    self.assertIn('| 0.05 | 250 | 70.0 | 35.0 | 71.0 | 65.0 |', lines[0])
    self.assertIn('| fit.t_max | fit.oil_steps |', md)
    self.assertIn('![noise x iters](summary.png)', md)
    png = info['plot']
    self.assertEqual(png.read_bytes()[:4], b'\x89PNG')
    self.assertGreater(png.stat().st_size, 5000)

  def test_time_per_pose_after_compile(self):
    runs = {r['name']: r for r in summarize.load_runs([self.root])}
    res = runs['tmax0.05_oil250']['results']
    # (10 s - 6 s) over the second batch of 50 poses.
    self.assertAlmostEqual(res['ms_per_pose'], 80.0)
    self.assertTrue(res['ms_per_pose_after_compile'])
    self.assertAlmostEqual(res['ms_per_pose_incl_compile'], 100.0)

  def test_time_per_pose_chunked_timing(self):
    # The chunked results.json layout: seconds under 'timing', chunks of
    # parallel.chunk_size poses, the first one carrying the compilation.
    root = self.root.parent / 'chunked'
    for steps, chunk in ((10, 25), (20, 4096)):
      run = _write_run(root, t_max=0.1, steps=steps, mpjpe=1.0, n=100)
      cfg = json.loads((run / 'config.json').read_text())
      cfg['parallel'] = {'chunk_size': chunk}
      (run / 'config.json').write_text(json.dumps(cfg))
      res = json.loads((run / 'results.json').read_text())
      del res['fit_seconds'], res['first_batch_seconds']
      res['timing'] = {'compute_s': 13.0, 'first_chunk_s': 7.0,
                       'poses_computed': 100, 'fit_seconds': 13.5}
      (run / 'results.json').write_text(json.dumps(res))
    runs = {r['name']: r['results'] for r in summarize.load_runs([root])}
    # (13 s - 7 s) over the 75 poses of the later chunks.
    self.assertAlmostEqual(runs['tmax0.1_oil10']['ms_per_pose'], 80.0)
    self.assertTrue(runs['tmax0.1_oil10']['ms_per_pose_after_compile'])
    # One chunk: compilation included.
    self.assertAlmostEqual(runs['tmax0.1_oil20']['ms_per_pose'], 130.0)
    self.assertFalse(runs['tmax0.1_oil20']['ms_per_pose_after_compile'])

  def test_single_batch_time_includes_compile(self):
    root = self.root.parent / 'one_batch'
    _write_run(root, t_max=0.1, steps=10, mpjpe=1.0, n=40, batch=256)
    _write_run(root, t_max=0.2, steps=10, mpjpe=2.0, n=40, batch=256)
    res = summarize.load_runs([root])[0]['results']
    self.assertAlmostEqual(res['ms_per_pose'], 250.0)
    self.assertFalse(res['ms_per_pose_after_compile'])
    info = summarize.summarize([root], root / 's')
    self.assertIn('includes compilation', info['markdown'].read_text())

  def test_default_x_and_categorical_series(self):
    root = self.root.parent / 'occl'
    for k in (0, 2, 1):
      for use in (True, False):
        _write_run(root, t_max=0.1, steps=10, mpjpe=50.0 + k * (2 - use),
                   name=f'k{k}_{use}',
                   extra_config={'data.drop_joints': k,
                                 'data.use_confidence': use})
    info = summarize.summarize([root], root / 'sum')
    self.assertEqual(info['keys'], ['data.drop_joints',
                                    'data.use_confidence'])
    self.assertEqual(info['runs'], ['k0_False', 'k1_False', 'k2_False',
                                    'k0_True', 'k1_True', 'k2_True'])
    self.assertTrue(info['plot'].is_file())

  def test_results_without_config_json(self):
    root = self.root.parent / 'bare'
    _write_run(root, t_max=0.1, steps=10, mpjpe=1.0, config=False)
    _write_run(root, t_max=0.1, steps=20, mpjpe=2.0, config=False)
    runs = summarize.load_runs([root])
    self.assertEqual(summarize.varying_keys(runs), ['fit.oil_steps'])

  def test_errors(self):
    with self.assertRaises(FileNotFoundError):
      summarize.load_runs([self.root / 'missing'])
    empty = self.root.parent / 'empty'
    empty.mkdir()
    with self.assertRaisesRegex(ValueError, 'no results.json'):
      summarize.load_runs([empty])
    with self.assertRaisesRegex(ValueError, 'not a config key'):
      summarize.summarize([self.root], self.root / 'x', x='fit.nope')
    bad = self.root / 'broken'
    bad.mkdir()
    (bad / 'results.json').write_text('{')
    with self.assertRaisesRegex(ValueError, 'not valid JSON'):
      summarize.load_runs([self.root])

  def test_main_cli(self):
    out = self.root.parent / 'cli' / 'table'
    rc = summarize.main([str(self.root), f'--out={out}',
                         '--metrics=mpjpe_mm,variants.mean.mpjpe_mm',
                         '--series=', '--x=fit.t_max'])
    self.assertEqual(rc, 0)
    md = out.with_suffix('.md').read_text()
    self.assertIn('mean-of-S MPJPE mm', md)
    self.assertTrue(out.with_suffix('.png').is_file())
    self.assertEqual(summarize.main([str(self.root / 'nope'),
                                     f'--out={out}']), 1)


if __name__ == '__main__':
  absltest.main()
