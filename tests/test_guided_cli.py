"""End-to-end test of `config.mode=augment` (zedoi_jax.modes.augment).

Runs the generator on a handful of real CMU poses with the shipped prior
and SyRIP control branch, then checks that its output is what adaptation
(`adapt.augment_with`) reads: infant-sized, root-centred H36M-17 poses.
"""

import json
import pathlib
import tempfile

from absl.testing import absltest
import chex
import numpy as np

from configs import syrip as syrip_config
from zedoi_jax.modes import augment as augment_mode
from zedoi_jax import skeleton
from zedoi_jax.data import infant_data

REPO = pathlib.Path(__file__).resolve().parents[1]
import data_required

DATA = data_required.root()


@data_required.needs('syrip')
@data_required.needs('cmu')
class AugmentCliTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.workdir = pathlib.Path(tempfile.mkdtemp())
    config = syrip_config.get_config()
    config.mode = 'augment'
    config.data.root = str(DATA)
    config.guided.num_poses = 6
    config.guided.num_steps = 10
    config.fit.batch_size = 4  # 6 poses: one full and one padded batch
    config.progress = False
    config.eval.pictures = False
    cls.stats = augment_mode.augment(config, cls.workdir)
    cls.npz = cls.workdir / 'generated.npz'

  def test_writes_the_documented_files(self):
    self.assertTrue(self.npz.is_file())
    on_disk = json.loads((self.workdir / 'augment_stats.json').read_text())
    self.assertEqual(on_disk['num_poses'], 6)
    for key in ('bone_ratios', 'nearest_infant_mm', 'to_source_mm',
                'symmetry_error'):
      self.assertIn(key, on_disk)
    self.assertGreater(on_disk['nearest_infant_mm']['infant_test_to_train'],
                       0.0)

  def test_output_is_what_adaptation_reads(self):
    poses = infant_data.load_generated_poses(self.npz)
    chex.assert_shape(poses, (6, 17, 3))
    chex.assert_tree_all_finite(poses)
    with np.load(self.npz) as f:
      ids = f['source_index']
      raw = f['poses']
      factors = f['rescale_factor']
    # Distinct, sorted CMU indices; the saved poses are already root-centred.
    self.assertEqual(len(np.unique(ids)), 6)
    np.testing.assert_array_equal(ids, np.sort(ids))
    np.testing.assert_allclose(raw, poses, atol=1e-6)
    # Adults are shrunk to infant size (the factor is about 0.4).
    self.assertTrue(np.all((factors > 0.2) & (factors < 0.7)), factors)

  def test_generated_poses_are_infant_sized(self):
    with np.load(self.npz) as f:
      poses, sources = f['poses'], f['source_poses']
    total = np.asarray(skeleton.bone_lengths(poses, 'h36m17')).sum(-1)
    target = np.asarray(skeleton.bone_lengths(sources, 'h36m17')).sum(-1)
    # Sources sit exactly on the infant mean size; the denoised poses stay
    # within a factor of two of it (an adult-sized output would be ~2.5x).
    np.testing.assert_allclose(target, target[0], rtol=1e-4)
    self.assertTrue(np.all((total > 0.5 * target) & (total < 2.0 * target)),
                    (total, target))


if __name__ == '__main__':
  absltest.main()
