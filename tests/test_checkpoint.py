"""Tests for zedoi_jax.checkpoint: exports, training checkpoints, bad files."""

import json
import pathlib
import tempfile

from absl.testing import absltest
import chex
import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import checkpoint
from zedoi_jax import errors


def _params():
  return {'dense': {'kernel': np.arange(12, dtype=np.float32).reshape(3, 4),
                    'bias': np.zeros(4, np.float32)},
          'out': {'kernel': np.ones((4, 2), np.float32)}}


_META = {'kind': 'prior', 'model': {'hidden': 4}, 'sde': {'name': 'subvp'}}


class ExportTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(tempfile.mkdtemp()) / 'model'

  def test_round_trip(self):
    checkpoint.export_model(self.dir, _params(), _META)
    params, meta = checkpoint.load_model(self.dir)
    chex.assert_trees_all_equal(params, _params())
    self.assertEqual(meta['kind'], 'prior')
    self.assertEqual(meta['fingerprint'], checkpoint.fingerprint(_params()))

  def test_fingerprint_sees_values_and_names(self):
    p = _params()
    q = _params()
    q['out']['kernel'][0, 0] = 2.0
    self.assertNotEqual(checkpoint.fingerprint(p), checkpoint.fingerprint(q))
    r = {'other': p['dense'], 'out': p['out']}
    self.assertNotEqual(checkpoint.fingerprint(p), checkpoint.fingerprint(r))

  def test_missing_folder(self):
    with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
      checkpoint.load_model(self.dir.parent / 'nowhere')

  def test_not_an_export(self):
    self.dir.mkdir(parents=True)
    with self.assertRaisesRegex(FileNotFoundError, 'model.json'):
      checkpoint.load_model(self.dir)

  def test_corrupt_json(self):
    checkpoint.export_model(self.dir, _params(), _META)
    (self.dir / 'model.json').write_text('{"kind": "prior", ')
    with self.assertRaisesRegex(errors.InputError, 'model.json.*corrupt'):
      checkpoint.load_model(self.dir)

  def test_wrong_kind(self):
    checkpoint.export_model(self.dir, _params(), _META)
    with self.assertRaisesRegex(errors.InputError, "field 'kind'"):
      checkpoint.load_model(self.dir, kind='control')

  def test_replaced_parameters_are_detected(self):
    checkpoint.export_model(self.dir, _params(), _META)
    other = self.dir.parent / 'other'
    p = _params()
    p['out']['kernel'] = p['out']['kernel'] * 3
    checkpoint.export_model(other, p, _META)
    meta = json.loads((self.dir / 'model.json').read_text())
    (other / 'model.json').write_text(json.dumps(meta))
    with self.assertRaisesRegex(errors.InputError, 'fingerprint'):
      checkpoint.load_model(other)

  def test_missing_meta_entry(self):
    with self.assertRaisesRegex(ValueError, 'sde'):
      checkpoint.export_model(self.dir, _params(), {'kind': 'prior',
                                                    'model': {}})


class TrainCheckpointerTest(absltest.TestCase):

  def test_save_restore_and_mismatch(self):
    workdir = tempfile.mkdtemp()
    state = {'step': jnp.int32(3),
             'params': jax.tree.map(jnp.asarray, _params())}
    ckpt = checkpoint.TrainCheckpointer(workdir, save_interval_steps=1)
    ckpt.save(3, state, {'note': 'x'}, force=True)
    ckpt.wait_until_finished()
    self.assertEqual(ckpt.latest_step(), 3)
    restored, record = ckpt.restore(3, jax.eval_shape(lambda: state))
    chex.assert_trees_all_equal(restored, state)
    self.assertEqual(record, {'note': 'x'})
    wrong = {'step': jnp.int32(0),
             'params': {'dense': {'kernel': jnp.zeros((5, 4))}}}
    with self.assertRaisesRegex(errors.InputError, 'checkpoints'):
      ckpt.restore(3, jax.eval_shape(lambda: wrong))
    ckpt.close()


if __name__ == '__main__':
  absltest.main()
