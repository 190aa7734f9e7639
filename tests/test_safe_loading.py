"""Safe loading (issue 13): guarded loaders for every user file, no
unpickling without an explicit switch."""

import pathlib
import tempfile
import zipfile

from absl.testing import absltest
import numpy as np

from configs import default
from zedoi_jax import lift_inputs
from zedoi_jax.data import h36m
from zedoi_jax.data import prior_data
from zedoi_jax.errors import InputError


class _Marker:
  """Unpickling this creates a file: proof that code from the file ran."""

  def __init__(self, path):
    self.path = str(path)

  def __reduce__(self):
    return (pathlib.Path.touch, (pathlib.Path(self.path),))


class SafeLoadingTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(tempfile.mkdtemp())

  def test_huge_npy_header_is_a_one_line_error(self):
    # A valid header claiming 21.8 TiB, followed by a few bytes.
    path = self.tmp / 'huge.npy'
    with open(path, 'wb') as f:
      np.lib.format.write_array_header_1_0(
          f, {'descr': '<f8', 'fortran_order': False,
              'shape': (10**6, 10**6, 3)})
      f.write(b'\0' * 64)
    for fn in (lambda: lift_inputs.load_input(str(path), 'h36m17'),
               lambda: lift_inputs.load_camera(str(path))):
      with self.assertRaisesRegex(InputError, r'huge.npy.*header says shape'
                                  r' \(1000000, 1000000, 3\)') as cm:
        fn()
      self.assertNotIn('\n', str(cm.exception))
    npz = self.tmp / 'huge.npz'
    with zipfile.ZipFile(npz, 'w') as z:
      z.writestr('keypoints.npy', path.read_bytes())
    with self.assertRaisesRegex(InputError, r'huge.npz.*keypoints.*header'):
      lift_inputs.load_input(str(npz), 'h36m17')

  def test_a_directory_is_reported_as_a_directory(self):
    folder = self.tmp / 'folder.npy'
    folder.mkdir()
    # A folder can be a detector's output (OpenPose, MMPose): one with no
    # JSON in it is named as a folder whose format is unknown.
    with self.assertRaisesRegex(InputError, r'folder\.npy.*a folder without'):
      lift_inputs.load_input(str(folder), 'h36m17')
    with self.assertRaisesRegex(FileNotFoundError, 'is a directory.*folder'):
      lift_inputs.load_camera(str(folder))

  def test_pickled_h36m_is_not_read_without_the_switch(self):
    marker = self.tmp / 'code_ran'
    path = self.tmp / 'data_3d_h36m.npz'
    np.savez(path, positions_3d=np.array({'S1': _Marker(marker)},
                                         dtype=object))
    for fn in (lambda: h36m.load_h36m_3d(path),
               lambda: h36m.load_h36m_2d(path),
               lambda: h36m.load_custom_2d(path),
               lambda: prior_data.load_prior_poses(h36m_npz=path)):
      with self.assertRaisesRegex(
          InputError, r"data_3d_h36m.npz: field 'data.allow_pickle': .*"
          'executes code'):
        fn()
    self.assertFalse(marker.exists())
    self.assertFalse(default.get_config().data.allow_pickle)
    # With the switch the file is read (and here, its code runs).
    with self.assertRaises(InputError):
      h36m.load_h36m_3d(path, allow_pickle=True)
    self.assertTrue(marker.exists())


if __name__ == '__main__':
  absltest.main()
