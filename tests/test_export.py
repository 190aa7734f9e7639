"""Exports: TRC, BVH (re-imported by the project's BVH loader), CSV, GIF."""

import csv
import os
import pathlib
import tempfile

import numpy as np
from absl.testing import absltest

from zedoi_jax import export
from zedoi_jax import skeleton
from zedoi_jax.data import mocap
from zedoi_jax.errors import InputError

CMU_REFERENCE = (pathlib.Path(__file__).resolve().parents[1].parent /
                 'shared' / 'data' / 'cmu' / 'cmu_h36m17_positions.npz')


def rigid_sequence(t: int = 12, seed: int = 0) -> np.ndarray:
  """[T, 17, 3] camera-frame H36M-17 poses with constant bone lengths, the
  hips symmetric about the pelvis (what a BVH skeleton can represent)."""
  rng = np.random.default_rng(seed)
  lay = skeleton.H36M17
  # Y-up rest directions and lengths (m).
  rest = {1: ((-1, 0, 0), 0.12), 2: ((0, -1, 0), 0.42), 3: ((0, -1, 0), 0.4),
          4: ((1, 0, 0), 0.12), 5: ((0, -1, 0), 0.42), 6: ((0, -1, 0), 0.4),
          7: ((0, 1, 0), 0.22), 8: ((0, 1, 0), 0.25), 9: ((0, 1, 0), 0.1),
          10: ((0, 1, 0), 0.12), 11: ((1, 0, 0), 0.15),
          12: ((1, 0, 0), 0.28), 13: ((1, 0, 0), 0.25),
          14: ((-1, 0, 0), 0.15), 15: ((-1, 0, 0), 0.28),
          16: ((-1, 0, 0), 0.25)}
  out = np.zeros((t, 17, 3))
  for k in range(t):
    p = np.zeros((17, 3))
    p[0] = (0.1 * k, 0.9, 3.0 + 0.05 * k)
    yaw = 0.3 * k
    hip_axis = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])
    for j in range(1, 17):
      d, length = rest[j]
      if j in (1, 4):
        v = hip_axis * d[0]
      else:
        v = np.asarray(d, float) + rng.normal(0, 0.5, 3)
        v /= np.linalg.norm(v)
      p[j] = p[lay.parents[j]] + length * v
    out[k] = p
  return export.y_up(out)  # Y up -> camera frame (the map is its inverse)


def require_cmu(test):
  if CMU_REFERENCE.is_file():
    return
  msg = (f'{CMU_REFERENCE} missing: the CMU data lives beside the project '
         'in ../shared/data/cmu (see its README)')
  if os.environ.get('CI') == 'true' or os.environ.get(
      'ZEDOI_REQUIRE_DATA') == '1':
    test.fail(msg)
  test.skipTest(msg)


class ExportTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(tempfile.mkdtemp())

  def test_trc_layout(self):
    poses = rigid_sequence(5)
    frames = np.array([0, 1, 2, 4, 5])  # frame 3 missed
    names = skeleton.H36M17.joint_names
    path = export.write_trc(self.tmp / 'x.trc', poses, names, frames, 25.0)
    lines = path.read_text().split('\n')
    self.assertEqual(lines[0], 'PathFileType\t4\t(X/Y/Z)\tx.trc')
    self.assertEqual(lines[1].split('\t'), [
        'DataRate', 'CameraRate', 'NumFrames', 'NumMarkers', 'Units',
        'OrigDataRate', 'OrigDataStartFrame', 'OrigNumFrames'])
    self.assertEqual(lines[2].split('\t'),
                     ['25', '25', '5', '17', 'm', '25', '1', '5'])
    self.assertEqual(lines[3].split('\t')[:6],
                     ['Frame#', 'Time', 'pelvis', '', '', 'r_hip'])
    self.assertEqual(lines[4].split('\t')[:5], ['', '', 'X1', 'Y1', 'Z1'])
    self.assertEqual(lines[5], '')
    got = export.read_trc(path)
    self.assertEqual(got['markers'], list(names))
    np.testing.assert_array_equal(got['frame'], frames + 1)
    np.testing.assert_allclose(got['time'], frames / 25.0)
    # Y up: y and z negated.
    np.testing.assert_allclose(got['positions'], poses * [1, -1, -1],
                               atol=1e-6)
    mm = export.read_trc(export.write_trc(self.tmp / 'mm.trc', poses, names,
                                          frames, 25.0, units='mm'))
    self.assertEqual(mm['header']['Units'], 'mm')
    np.testing.assert_allclose(mm['positions'], got['positions'] * 1000,
                               atol=1e-3)
    with self.assertRaisesRegex(InputError, 'lift.trc_units'):
      export.write_trc(self.tmp / 'y.trc', poses, names, frames, 25.0, 'cm')

  def test_bvh_round_trip_rigid(self):
    poses = rigid_sequence(12)
    path = export.write_bvh(self.tmp / 'x.bvh', poses, 30.0)
    motion = mocap.parse_bvh(path)
    self.assertAlmostEqual(motion.frame_time, 1 / 30.0, places=6)
    back = export.y_up(mocap.load_h36m17(path, scale=0.01))
    err_mm = np.linalg.norm(back - poses, axis=-1) * 1000
    self.assertLess(err_mm.max(), 0.5)

  def test_bvh_round_trip_cmu(self):
    require_cmu(self)
    with np.load(CMU_REFERENCE) as z:
      world = z['131_02_bvh'][::10]  # metres, Y up
    poses = export.y_up(world)
    path = export.write_bvh(self.tmp / 'cmu.bvh', poses, 12.0)
    back = export.y_up(mocap.load_h36m17(path, scale=0.01))
    err_mm = np.linalg.norm(back - poses, axis=-1) * 1000
    # Real mocap: the H36M joints are not exactly a rigid tree (spine ->
    # thorax spans two CMU bones), so a few mm at most.
    self.assertLess(float(err_mm.mean()), 5.0)
    self.assertLess(float(np.percentile(err_mm, 99)), 15.0)

  def test_bvh_needs_h36m17(self):
    with self.assertRaisesRegex(ValueError, r'\[T, 17, 3\]'):
      export.write_bvh(self.tmp / 'x.bvh', np.zeros((3, 12, 3)), 30.0)

  def test_csv(self):
    poses = rigid_sequence(3)
    spread = np.full((3, 17), 12.5)
    path = export.write_csv(self.tmp / 'x.csv', poses,
                            skeleton.H36M17.joint_names, np.arange(3),
                            np.zeros(3, int), spread)
    with open(path) as f:
      rows = list(csv.reader(f))
    self.assertEqual(rows[0][:5], ['frame', 'track', 'pelvis_x', 'pelvis_y',
                                   'pelvis_z'])
    self.assertEqual(rows[0][-1], 'r_wrist_spread_mm')
    self.assertLen(rows, 4)
    np.testing.assert_allclose([float(v) for v in rows[2][2:5]], poses[1, 0],
                               atol=1e-6)

  def test_export_all_tracks_and_gif(self):
    poses = np.concatenate([rigid_sequence(4), rigid_sequence(4, seed=1)])
    frames = np.array([0, 1, 2, 3] * 2)
    tracks = np.array([5] * 4 + [9] * 4)
    kp = np.random.default_rng(0).uniform(0, 600, (8, 17, 2))
    conf = np.ones((8, 17))
    conf[0, 3] = 0
    paths = export.export_all(
        self.tmp, export.parse_formats('csv,trc,bvh,gif'), poses_abs=poses,
        layout='h36m17', frames=frames, tracks=tracks, frame_rate=10.0,
        keypoints_2d=kp, confidence=conf, projected_2d=kp + 3,
        image_wh=np.tile([640, 480], (8, 1)))
    names = sorted(pathlib.Path(p).name for p in paths)
    self.assertEqual(names, [
        'lifted.csv', 'lifted_track5.bvh', 'lifted_track5.gif',
        'lifted_track5.trc', 'lifted_track9.bvh', 'lifted_track9.gif',
        'lifted_track9.trc'])
    from PIL import Image  # pylint: disable=g-import-not-at-top
    with Image.open(self.tmp / 'lifted_track5.gif') as im:
      self.assertEqual(im.n_frames, 4)
    with self.assertRaisesRegex(InputError, 'lift.export'):
      export.parse_formats('trc,fbx')


if __name__ == '__main__':
  absltest.main()
