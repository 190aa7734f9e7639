"""Resuming killed fit/lift runs from their chunks, and merging shards.

A run stopped after some chunks (`stop_after_chunks`, the same state a kill
leaves: finished chunks on disk, perhaps a half-written temporary file) and
restarted must end with the same results.json (apart from 'timing') and
predictions as an uninterrupted run; independent shards merged with
`zedoi_jax.merge` must equal one unsharded run.
"""

import json
import pathlib
import tempfile

from absl.testing import absltest
import numpy as np

from configs import lift as lift_config
from zedoi_jax import chunks
from zedoi_jax.modes import fit as fit_mode
from zedoi_jax import scoring
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax import merge
from zedoi_jax.errors import InputError
# Shared fixtures: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase, export_tiny_prior, tiny_config
from test_lift import coco_fixture
import data_required

NUM_POSES = 7


def _config(prior, **parallel):
  config = tiny_config(prior, name='syrip', split='test', input_2d='fidip',
                       max_poses=NUM_POSES)
  config.fit.batch_size = 4
  config.eval.pictures = False
  config.parallel.chunk_size = 3
  for k, v in parallel.items():
    setattr(config.parallel, k, v)
  return config


def _results(workdir):
  doc = json.loads((pathlib.Path(workdir) / 'results.json').read_text())
  doc.pop(scoring.TIMING_KEY)
  return doc


def _arrays(path):
  with np.load(path) as z:
    return {k: z[k] for k in z.files}


class ResumeAndMergeTest(absltest.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    data_required.require('syrip')
    cls._tmpdir = tempfile.TemporaryDirectory()
    cls.tmp = pathlib.Path(cls._tmpdir.name)
    cls.prior = export_tiny_prior(cls.tmp / 'prior')
    # The uninterrupted, unsharded reference.
    cls.ref = cls.tmp / 'ref'
    fit_mode.fit(_config(cls.prior), cls.ref)

  @classmethod
  def tearDownClass(cls):
    cls._tmpdir.cleanup()
    super().tearDownClass()

  def test_killed_fit_resumes_to_the_same_results(self):
    workdir = self.tmp / 'killed'
    with self.assertRaises(chunks.Interrupted):
      fit_mode.fit(_config(self.prior), workdir,
                                stop_after_chunks=2)
    done = sorted(p.name for p in (workdir / 'chunks').glob('chunk_*.npz'))
    self.assertEqual(done, ['chunk_00000.npz', 'chunk_00001.npz'])
    self.assertFalse((workdir / 'results.json').exists())
    # A kill during the third write leaves a partial temporary file.
    (workdir / 'chunks' / '.tmp_chunk_00002.npz').write_bytes(b'PK\x03')
    # Restarting with other settings must not mix in the old chunks.
    changed = _config(self.prior)
    changed.seed = 1
    with self.assertRaisesRegex(InputError, 'another job'):
      fit_mode.fit(changed, workdir)
    fit_mode.fit(_config(self.prior), workdir)
    timing = json.loads((workdir / 'results.json').read_text())['timing']
    self.assertEqual(timing['chunks_total'], 3)
    self.assertEqual(timing['chunks_resumed'], 2)
    self.assertEqual(timing['chunks_computed'], 1)
    self.assertEqual(_results(workdir), _results(self.ref))
    _assert_same_arrays(self, workdir / 'predictions.npz',
                        self.ref / 'predictions.npz')
    np.testing.assert_array_equal(_arrays(workdir / 'predictions.npz')['rows'],
                                  np.arange(NUM_POSES))

  def test_merged_shards_equal_one_run(self):
    dirs = []
    for i in range(2):
      dirs.append(self.tmp / f'shard{i}')
      results = fit_mode.fit(
          _config(self.prior, shard_index=i, num_shards=2), dirs[-1])
      self.assertEqual(results['shard'], {'index': i, 'count': 2})
      self.assertEqual(results['num_poses'], len(range(i, NUM_POSES, 2)))
    np.testing.assert_array_equal(
        _arrays(dirs[1] / 'predictions.npz')['rows'], [1, 3, 5])
    out = self.tmp / 'merged'
    merge.merge(out, [dirs[1], dirs[0]])  # any order
    self.assertEqual(_results(out), _results(self.ref))
    _assert_same_arrays(self, out / 'predictions.npz',
                        self.ref / 'predictions.npz')

    bad = self.tmp / 'bad'
    part = _only_rows(dirs[1], [1, 5], self.tmp / 'part')
    with self.assertRaisesRegex(ValueError, r'1 row\(s\) missing, e.g. \[3\]'):
      merge.merge(bad, [dirs[0], part])
    with self.assertRaisesRegex(ValueError, 'more than once'):
      merge.merge(bad, dirs + [dirs[0]])
    with self.assertRaisesRegex(ValueError, 'more than once'):
      merge.merge(bad, dirs + [self.ref])
    with self.assertRaisesRegex(FileNotFoundError, 'nope'):
      merge.merge(bad, [dirs[0], self.tmp / 'nope'])
    other = _only_rows(dirs[1], [1, 3, 5], self.tmp / 'other_job')
    doc = json.loads((other / 'results.json').read_text())
    doc['seed'] = 7
    (other / 'results.json').write_text(json.dumps(doc))
    with self.assertRaisesRegex(InputError, r'other_job.*different jobs'):
      merge.merge(bad, [dirs[0], other])
    self.assertFalse((bad / 'results.json').exists())


class LiftResumeTest(TinyPriorTestCase):
  """Lift needs no dataset: it runs on a fixture the test writes."""

  def test_lift_resume_equals_merged_shards(self):
    src = coco_fixture(self.tmp / 'kp.json', n=5)

    def config(**parallel):
      c = lift_config.get_config()
      c.init.prior = str(self.prior)
      c.init.adapted = ''  # the tiny prior has no adaptation
      c.lift.input = str(src)
      c.lift.pictures = False
      c.fit.ipo_steps, c.fit.oil_steps, c.fit.solve_t_last = 4, 5, 2
      c.fit.init_sample_steps, c.fit.num_hypotheses = 3, 2
      c.fit.batch_size = 2
      c.parallel.chunk_size = 2
      for k, v in parallel.items():
        setattr(c.parallel, k, v)
      return c

    killed = self.tmp / 'lift_killed'
    with self.assertRaises(chunks.Interrupted):
      lift_mode.lift(config(), killed, stop_after_chunks=1)
    self.assertLen(list((killed / 'chunks').glob('chunk_*.npz')), 1)
    lift_mode.lift(config(), killed)
    for i in range(2):
      lift_mode.lift(config(shard_index=i, num_shards=2), self.tmp / f'lift{i}')
    merged = self.tmp / 'lift_merged'
    merge.merge(merged, [self.tmp / 'lift1', self.tmp / 'lift0'])
    _assert_same_arrays(self, merged / 'lifted.npz', killed / 'lifted.npz')
    np.testing.assert_array_equal(_arrays(merged / 'lifted.npz')['rows'],
                                  np.arange(5))
    docs = []
    for d in (killed, merged):
      doc = json.loads((d / 'lifted.json').read_text())
      doc.pop('timing')
      docs.append(doc)
    self.assertEqual(docs[0], docs[1])
    self.assertEqual([p['row'] for p in docs[1]['poses']], list(range(5)))


def _assert_same_arrays(test, path, ref_path):
  got, want = _arrays(path), _arrays(ref_path)
  test.assertEqual(sorted(got), sorted(want))
  for k in want:
    np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def _only_rows(shard_dir, rows, out_dir):
  """A copy of a fit shard keeping only global rows `rows`."""
  out_dir = pathlib.Path(out_dir)
  out_dir.mkdir(exist_ok=True)
  arrays = _arrays(shard_dir / 'predictions.npz')
  keep = np.isin(arrays['rows'], rows)
  np.savez(out_dir / 'predictions.npz',
           **{k: (v if k in merge.SHARED_ARRAYS else v[keep])
              for k, v in arrays.items()})
  (out_dir / 'results.json').write_text(
      (shard_dir / 'results.json').read_text())
  return out_dir


if __name__ == '__main__':
  absltest.main()
