"""Tests for zedoi_jax.progress: metrics.jsonl rows and rate/ETA."""

import math
import tempfile

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


if __name__ == '__main__':
  absltest.main()
