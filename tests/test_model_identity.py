"""Models identify themselves completely (issue 13).

The complete fingerprint covers model.json's architecture, SDE and
normalisation fields: editing any of them, or pairing an adaptation with a
prior that differs in any of them, is an error naming the folder and the
field; parameters that do not fit the architecture are an InputError naming
the folder, not a raw Flax error. The shipped models load and verify.
"""

import json
import shutil

from absl.testing import absltest
from absl.testing import parameterized
import numpy as np

from zedoi_jax import checkpoint
from zedoi_jax.errors import InputError
from zedoi_jax.models import load
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase


def _edit(directory, fn):
  path = directory / checkpoint.MODEL_JSON
  meta = json.loads(path.read_text())
  fn(meta)
  path.write_text(json.dumps(meta))


class ModelIdentityTest(TinyPriorTestCase, parameterized.TestCase):

  def _copy(self, name):
    dst = self.tmp / name
    if dst.exists():
      shutil.rmtree(dst)
    shutil.copytree(self.prior, dst)
    return dst

  def test_export_writes_the_complete_fingerprint(self):
    meta = checkpoint.read_meta(self.prior)
    self.assertEqual(meta['format_version'], checkpoint.FORMAT_VERSION)
    self.assertIn('sde.beta_max', meta['identity'])
    self.assertIn('model.num_blocks', meta['identity'])
    self.assertLen(meta['model_fingerprint'], 64)
    load.load_pose_model(str(self.prior))

  @parameterized.parameters(
      ('model', 'num_blocks', 2), ('model', 'embedding', 'positional'),
      ('sde', 'beta_max', 10.0), (None, 'scale', 2.0),
      (None, 'layout', 'coco17'))
  def test_hand_edited_fields_are_named(self, group, key, value):
    d = self._copy(f'edit_{key}')

    def fn(meta):
      (meta[group] if group else meta)[key] = value
    _edit(d, fn)
    dotted = f'{group}.{key}' if group else key
    with self.assertRaisesRegex(
        InputError, rf"{d}.*model.json: field '{dotted}': was changed"):
      load.load_pose_model(str(d))

  def test_forged_model_fingerprint(self):
    d = self._copy('forged')
    _edit(d, lambda m: m.update(model_fingerprint='0' * 64))
    with self.assertRaisesRegex(InputError, "forged.*'model_fingerprint'"):
      load.load_pose_model(str(d))

  def test_shape_mismatch_names_the_folder(self):
    # A format-1 export (no complete fingerprint) with an edited 'hidden':
    # the shape check, not Flax, reports it.
    d = self._copy('hidden')

    def fn(meta):
      meta['model']['hidden'] = 48
      del meta['identity'], meta['model_fingerprint']
      meta['format_version'] = 1
    _edit(d, fn)
    with self.assertLogs(level='WARNING') as logs:
      with self.assertRaisesRegex(
          InputError, rf"{d}: field 'model': parameter .* has shape"):
        load.load_pose_model(str(d))
    self.assertRegex(' '.join(logs.output), 'no model_fingerprint')

  def test_adaptation_of_an_other_sde_prior_is_refused(self):
    params, meta = checkpoint.load_model(self.prior)
    adapted = checkpoint.export_model(
        self.tmp / 'ft', params,
        {'kind': 'finetune', 'model': meta['model'], 'sde': meta['sde'],
         'scale': 1.0, 'layout': 'h36m17',
         'prior_fingerprint': meta['fingerprint'],
         'prior_model_fingerprint': meta['model_fingerprint']})
    load.load_pose_model(str(self.prior), str(adapted))
    # Same parameters, other SDE: only the complete fingerprint differs.
    other = checkpoint.export_model(
        self.tmp / 'other_prior', params,
        dict(meta, sde=dict(meta['sde'], beta_max=10.0)))
    with self.assertRaisesRegex(InputError,
                                "ft.*model.json: field 'prior_model_fing"):
      load.load_pose_model(str(other), str(adapted))


class ShippedModelsTest(absltest.TestCase):

  def test_shipped_models_load_and_verify(self):
    for prior, adapted in (('cmu_prior', ''), ('cmu_prior', 'syrip_control'),
                           ('cmu_prior', 'syrip_finetune'),
                           ('syrip_infant_prior', '')):
      with self.assertNoLogs(level='WARNING'):
        model = load.load_pose_model(prior, adapted)
      self.assertLen(model.meta['model_fingerprint'], 64)
      self.assertTrue(np.isfinite(model.scale))


if __name__ == '__main__':
  absltest.main()
