"""Tests for zedoi_jax.progress: metrics.jsonl rows and rate/ETA."""

import io
import math
import tempfile
import time

from absl.testing import absltest
import numpy as np

from zedoi_jax import progress


class MetricWriterTest(absltest.TestCase):

  def test_rows_append_and_convert(self):
    workdir = tempfile.mkdtemp()
    w = progress.MetricWriter(workdir, tensorboard=False)
    w.write(1, **{'train/loss': np.float32(0.5), 'v': np.arange(2)})
    w.write(2, **{'train/loss': float('nan')})
    rows = progress.read_metrics(workdir)
    self.assertEqual([r['step'] for r in rows], [1, 2])
    self.assertAlmostEqual(rows[0]['train/loss'], 0.5)
    self.assertEqual(rows[0]['v'], [0, 1])
    self.assertIsNone(rows[1]['train/loss'])

  def test_disabled_writes_nothing(self):
    workdir = tempfile.mkdtemp()
    progress.MetricWriter(workdir, enabled=False).write(1, x=1.0)
    self.assertEqual(progress.read_metrics(workdir), [])


class ProgressTest(absltest.TestCase):

  def test_rate_and_eta(self):
    p = progress.Progress(100, start=10, enabled=False)
    self.assertTrue(math.isinf(p.eta_s))
    p.update(20)
    self.assertGreater(p.rate, 0)
    self.assertGreater(p.eta_s, 0)
    self.assertTrue(math.isfinite(p.eta_s))


  def test_compile_time_is_excluded(self):
    p = progress.Progress(10, enabled=False)
    time.sleep(0.3)  # the first step: compilation
    p.update(1)
    time.sleep(0.01)
    p.update(5)
    # 4 units in ~0.01 s after the first update, not 5 in 0.31 s.
    self.assertGreater(p.rate, 4 / 0.2)

  def test_log_lines_when_not_a_terminal(self):
    stream = io.StringIO()  # not a tty
    p = progress.Progress(4, name='fit', unit='pose', stream=stream,
                          interval_s=0.0)
    with self.assertLogs(level='INFO') as logs:
      p.update(1)
      p.update(4, loss=0.5)
    self.assertEqual(stream.getvalue(), '')
    self.assertLen(logs.output, 2)
    self.assertIn('fit', logs.output[-1])
    self.assertIn('4/4', logs.output[-1])
    self.assertIn('pose/s', logs.output[-1])
    self.assertIn('loss=0.5', logs.output[-1])

  def test_bar_on_a_terminal(self):
    class Tty(io.StringIO):
      def isatty(self):
        return True
    stream = Tty()
    p = progress.Progress(3, name='lift', unit='pose', stream=stream)
    p.update(1)
    p.update(3)
    self.assertIn('lift', stream.getvalue())
    self.assertIn('3/3', stream.getvalue())

  def test_disabled_is_silent(self):
    stream = io.StringIO()
    p = progress.Progress(2, enabled=False, stream=stream)
    with self.assertNoLogs(level='INFO'):
      p.update(2)
    self.assertEqual(stream.getvalue(), '')


if __name__ == '__main__':
  absltest.main()
