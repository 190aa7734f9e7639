"""Tests for zedoi_jax.chunks and the single-process parts of parallel."""

import pathlib
import tempfile

from absl.testing import absltest
import jax
import numpy as np

from zedoi_jax import chunks
from zedoi_jax import errors
from zedoi_jax import parallel


class ChunkStoreTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = pathlib.Path(tempfile.mkdtemp()) / 'chunks'

  def _store(self, **kw):
    args = dict(num_rows=10, chunk_size=4, identity={'input': 'a'})
    args.update(kw)
    return chunks.ChunkStore(self.dir, **args)

  def test_write_resume_gather(self):
    store = self._store()
    self.assertEqual(store.num_chunks, 3)
    self.assertEqual(store.rows(2), slice(8, 10))
    store.write(0, {'x': np.arange(4)})
    # A restarted job sees chunk 0 done and only computes the rest.
    again = self._store()
    self.assertEqual(again.pending(), [1, 2])
    with self.assertRaisesRegex(ValueError, 'not finished'):
      again.gather()
    again.write(1, {'x': np.arange(4, 8)})
    again.write(2, {'x': np.arange(8, 10)})
    np.testing.assert_array_equal(again.gather()['x'], np.arange(10))
    self.assertEqual(list(self.dir.glob('.tmp_*')), [])

  def test_other_job_refused(self):
    self._store()
    with self.assertRaisesRegex(errors.InputError, 'another job'):
      self._store(identity={'input': 'b'})
    with self.assertRaisesRegex(errors.InputError, 'another job'):
      self._store(chunk_size=5)

  def test_wrong_rows_and_corrupt_chunk(self):
    store = self._store()
    with self.assertRaisesRegex(ValueError, 'leading size'):
      store.write(0, {'x': np.arange(3)})
    store.path(1).write_bytes(b'PK\x03\x04 truncated')
    with self.assertRaisesRegex(errors.InputError, 'chunk_00001'):
      store.read(1)


class ParallelTest(absltest.TestCase):

  def test_shard_rows_cover_once(self):
    rows = np.concatenate([parallel.shard_rows(11, i, 3) for i in range(3)])
    np.testing.assert_array_equal(np.sort(rows), np.arange(11))
    with self.assertRaises(ValueError):
      parallel.shard_rows(11, 3, 3)

  def test_round_up(self):
    self.assertEqual(parallel.round_up(5, 8), 8)
    self.assertEqual(parallel.round_up(17, 8), 24)
    self.assertEqual(parallel.round_up(0, 8), 8)

  def test_global_array_over_fake_devices(self):
    mesh = parallel.data_mesh()
    self.assertEqual(mesh.devices.size, jax.device_count())
    n = 2 * jax.device_count()
    x = parallel.to_global({'a': np.arange(n, dtype=np.float32)}, mesh)
    self.assertEqual(len(x['a'].sharding.device_set), jax.device_count())
    y = parallel.to_host(jax.jit(lambda t: t['a'] * 2)(x))
    np.testing.assert_array_equal(y, 2 * np.arange(n))
    self.assertEqual(parallel.process_rows(n), slice(0, n))

  def test_explicit_initialize_checks_arguments(self):
    with self.assertRaisesRegex(ValueError, 'process_id'):
      parallel.initialize(coordinator_address='localhost:1', num_processes=2,
                          process_id=2)
    self.assertFalse(parallel.initialize())


if __name__ == '__main__':
  absltest.main()
