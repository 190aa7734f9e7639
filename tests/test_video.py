"""Tests for video / image input (zedoi_jax.video) and its lift dispatch.

Media: tests/data/video/ (frames of the pose2sim demo, BSD-3-Clause, see
tests/data/video/README.md). Tests that run the detector need the optional
extra (`pip install -e '.[video]'`): without it they skip, except under
CI=true or ZEDOI_REQUIRE_DATA=1, where a missing extra is a failure.
"""

import importlib.util
import json
import os
import pathlib
import shutil
import sys
import tempfile
import unittest
from unittest import mock
import zipfile

import numpy as np
from absl.testing import absltest

from configs import lift as lift_config
from zedoi_jax.modes import lift as lift_mode
from zedoi_jax import skeleton
from zedoi_jax import video
from zedoi_jax.errors import InputError
# Shared fixture: tests/ is on sys.path under pytest.
# pylint: disable-next=g-bad-import-order
from test_evaluate import TinyPriorTestCase

MEDIA = pathlib.Path(__file__).parent / 'data' / 'video'
CLIP = MEDIA / 'cam01_8frames.mp4'
HAVE_EXTRA = all(importlib.util.find_spec(m) is not None
                 for m in ('cv2', 'mediapipe'))
MISSING = ("the optional video extra (mediapipe, OpenCV) is not installed; "
           "add it with: pip install -e '.[video]'")

# BlazePose's landmark names (MediaPipe pose landmarker docs), by index.
BLAZEPOSE33 = (
    'nose', 'left_eye_inner', 'left_eye', 'left_eye_outer',
    'right_eye_inner', 'right_eye', 'right_eye_outer', 'left_ear',
    'right_ear', 'mouth_left', 'mouth_right', 'left_shoulder',
    'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist',
    'right_wrist', 'left_pinky', 'right_pinky', 'left_index', 'right_index',
    'left_thumb', 'right_thumb', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle', 'left_heel', 'right_heel',
    'left_foot_index', 'right_foot_index')


def required() -> bool:
  return (os.environ.get('CI', '').lower() == 'true' or
          os.environ.get('ZEDOI_REQUIRE_DATA') == '1')


def require_extra(test: absltest.TestCase) -> None:
  if HAVE_EXTRA:
    return
  if required():
    test.fail(MISSING)
  test.skipTest(MISSING)


def make_tmp(test: absltest.TestCase) -> pathlib.Path:
  d = tempfile.TemporaryDirectory()
  test.addCleanup(d.cleanup)
  return pathlib.Path(d.name)


def fake_detections(status):
  f = len(status)
  kp = np.random.default_rng(0).uniform(50, 400, (f, 17, 2))
  ok = np.asarray(status) == video.STATUS_OK
  kp[~ok] = np.nan
  return {'keypoints': kp, 'confidence': np.where(ok[:, None], 0.9, 0.0),
          'landmarks': np.zeros((f, 33, 4)),
          'image_wh': np.tile([640, 480], (f, 1)),
          'frame_index': np.arange(f), 'names': [f'f{i}' for i in range(f)],
          'status': list(status), 'fps': 30.0, 'source': 'clip.mp4',
          'kind': 'video', 'seconds': 1.0, 'frames_per_second': f / 1.0,
          'cpu_seconds_per_frame': 0.5}


class VideoNoExtraTest(absltest.TestCase):
  """What works without the extra: dispatch, mapping, errors, tables."""

  def test_is_media(self):
    tmp = make_tmp(self)
    for name in ('a.mp4', 'b.MOV', 'c.jpg', 'd.png'):
      self.assertTrue(video.is_media(tmp / name), name)
    for name in ('k.json', 'k.npz', 'k.npy', ''):
      self.assertFalse(video.is_media(tmp / name if name else ''), name)
    # A folder is media when it holds images, not when it holds detector
    # JSON (an OpenPose output folder).
    (tmp / 'frame_000_keypoints.json').write_text('{}')
    self.assertFalse(video.is_media(tmp))
    (tmp / 'frame_000.jpg').write_bytes(b'')
    self.assertTrue(video.is_media(tmp))

  def test_blazepose_to_coco17_names(self):
    coco = skeleton.get_layout('coco17').joint_names
    mapped = [BLAZEPOSE33[i] for i in video.BLAZEPOSE_TO_COCO17]
    expect = [n.replace('l_', 'left_').replace('r_', 'right_')
              for n in coco]
    self.assertEqual(mapped, expect)

  def test_bundled_model(self):
    self.assertTrue(video.MODEL_PATH.is_file(), video.MODEL_PATH)
    with zipfile.ZipFile(video.MODEL_PATH) as z:
      self.assertEqual(sorted(z.namelist()), ['pose_detector.tflite',
                                              'pose_landmarks_detector.tflite'])
    notice = (video.MODEL_PATH.parent / 'NOTICE.md').read_text()
    self.assertIn('Apache', notice)
    self.assertTrue((video.MODEL_PATH.parent / 'LICENSE').is_file())

  def test_missing_extra_is_one_line_with_the_install_command(self):
    with mock.patch.dict(sys.modules, {'cv2': None, 'mediapipe': None}):
      with self.assertRaises(video.MissingExtraError) as e:
        video.detect(CLIP)
      config = lift_config.get_config()
      config.lift.input = str(MEDIA / 'frames')
      with self.assertRaises(video.MissingExtraError) as e2:
        lift_mode.lift(config, make_tmp(self))
    for err in (e.exception, e2.exception):
      self.assertIn("pip install -e '.[video]'", str(err))
      self.assertNotIn('\n', str(err))

  def test_no_person_anywhere_is_an_input_error(self):
    det = fake_detections(['no_person', 'unreadable'])
    with self.assertRaisesRegex(InputError, 'no person found in any of the '
                                '2 frames'):
      video.lift_input(det, 'kp.npz')

  def test_lift_outputs_flag_frames_without_a_person(self):
    tmp = make_tmp(self)
    det = fake_detections(['ok', 'no_person', 'ok', 'unreadable'])
    data = video.lift_input(det, 'kp.npz')
    np.testing.assert_array_equal(data['frame_rows'], [0, 2])
    self.assertEqual(data['names'], ['f0', 'f2'])
    pose = np.arange(2 * 17 * 3, dtype=np.float32).reshape(2, 17, 3)
    np.savez(tmp / 'lifted.npz', poses_3d=pose,
             translation=np.ones((2, 3), np.float32),
             reproj_error=np.array([1.5, 2.5], np.float32),
             rows=np.array([0, 1]))
    out = video.lift_outputs(det, tmp / 'lifted.npz', data['frame_rows'],
                             tmp, 'h36m17')
    with np.load(out['npz']) as z:
      np.testing.assert_array_equal(z['poses_3d'][[0, 2]], pose)
      self.assertTrue(np.isnan(z['poses_3d'][[1, 3]]).all())
      self.assertTrue(np.isnan(z['keypoints_2d'][[1, 3]]).all())
      self.assertEqual(list(z['status']), det['status'])
    doc = json.loads((tmp / 'video_3d.json').read_text())
    self.assertEqual(doc['status_counts'],
                     {'no_person': 1, 'ok': 2, 'unreadable': 1})
    self.assertIsNone(doc['frames'][1]['reproj_error_px'])
    self.assertEqual(doc['frames'][2]['reproj_error_px'], 2.5)


class VideoDetectTest(absltest.TestCase):
  """The bundled detector on real frames (needs the extra)."""

  def setUp(self):
    super().setUp()
    require_extra(self)

  def test_video_clip(self):
    det = video.detect(CLIP, show_progress=False)
    self.assertEqual(det['status'], ['ok'] * 8)
    self.assertEqual(det['fps'], 60.0)
    kp, conf = det['keypoints'], det['confidence']
    self.assertEqual(kp.shape, (8, 17, 2))
    np.testing.assert_array_equal(det['image_wh'], np.tile([540, 960],
                                                           (8, 1)))
    self.assertTrue(((kp >= 0) & (kp <= [540, 960])).all())
    self.assertTrue(((conf >= 0) & (conf <= 1)).all())
    # A standing person: nose above the shoulders above the hips above the
    # ankles (image y grows down).
    y = kp[..., 1]
    self.assertTrue((y[:, 0] < y[:, 5:7].min(-1)).all())
    self.assertTrue((y[:, 5:7].max(-1) < y[:, 11:13].min(-1)).all())
    self.assertTrue((y[:, 11:13].max(-1) < y[:, 15:17].min(-1)).all())
    # Every other frame, at most 3.
    det2 = video.detect(CLIP, stride=2, max_frames=3, show_progress=False)
    np.testing.assert_array_equal(det2['frame_index'], [0, 2, 4])
    np.testing.assert_allclose(det2['keypoints'][0], kp[0], atol=2.0)

  def test_folder_flags_blank_and_corrupt_images(self):
    tmp = make_tmp(self)
    shutil.copy(MEDIA / 'frames' / 'cam02_frame030.jpg', tmp / 'img1.jpg')
    shutil.copy(MEDIA / 'frames' / 'cam03_frame060.jpg', tmp / 'img10.jpg')
    import cv2  # pylint: disable=g-import-not-at-top
    cv2.imwrite(str(tmp / 'img2.png'), np.full((480, 640, 3), 128, np.uint8))
    (tmp / 'img3.jpg').write_bytes(b'not a jpeg at all')
    (tmp / 'notes.txt').write_text('ignored')
    det = video.detect(tmp, show_progress=False)
    self.assertEqual(det['names'], ['img1.jpg', 'img2.png', 'img3.jpg',
                                    'img10.jpg'])
    self.assertEqual(det['status'], ['ok', 'no_person', 'unreadable', 'ok'])
    self.assertTrue(np.isnan(det['keypoints'][[1, 2]]).all())
    self.assertTrue((det['confidence'][[1, 2]] == 0).all())
    self.assertTrue(np.isfinite(det['keypoints'][[0, 3]]).all())

  def test_detections_are_cached_per_media_and_settings(self):
    tmp = make_tmp(self)
    cache = tmp / 'keypoints_2d.npz'
    first = video.detect_cached(CLIP, cache, max_frames=2,
                                show_progress=False)
    with self.assertLogs(level='INFO') as logs:
      again = video.detect_cached(CLIP, cache, max_frames=2)
    self.assertIn('reusing the 2D detections', ' '.join(logs.output))
    np.testing.assert_allclose(again['keypoints'], first['keypoints'],
                               atol=1e-4)
    self.assertEqual(again['status'], first['status'])
    other = video.detect_cached(CLIP, cache, max_frames=3,
                                show_progress=False)
    self.assertLen(other['status'], 3)

  def test_unreadable_video_is_one_line(self):
    tmp = make_tmp(self)
    (tmp / 'bad.mp4').write_bytes(b'\x00garbage' * 100)
    (tmp / 'empty.avi').write_bytes(b'')
    for name in ('bad.mp4', 'empty.avi'):
      with self.assertRaisesRegex(InputError, 'cannot decode a frame') as e:
        video.detect(tmp / name)
      self.assertIn(name, str(e.exception))
      self.assertNotIn('\n', str(e.exception))
    with self.assertRaises(FileNotFoundError):
      video.detect(tmp / 'missing.mp4')
    (tmp / 'empty_dir').mkdir()
    with self.assertRaisesRegex(InputError, 'no image files'):
      video.detect(tmp / 'empty_dir')


class VideoLiftTest(TinyPriorTestCase):
  """Frames -> 2D -> per-frame lift -> 3D table + video (needs the extra)."""

  @classmethod
  def setUpClass(cls):
    if not HAVE_EXTRA and not required():
      raise unittest.SkipTest(MISSING)  # before exporting the tiny prior
    super().setUpClass()

  def setUp(self):
    super().setUp()
    require_extra(self)

  def config(self, **lift_kwargs):
    config = self.lift_config(**lift_kwargs)
    config.progress = False
    return config

  def test_folder_to_3d_and_video(self):
    import cv2  # pylint: disable=g-import-not-at-top
    frames = self.tmp / 'frames'
    frames.mkdir()
    shutil.copy(MEDIA / 'frames' / 'cam02_frame030.jpg', frames / 'a1.jpg')
    cv2.imwrite(str(frames / 'a2.jpg'), np.full((960, 540, 3), 90, np.uint8))
    shutil.copy(MEDIA / 'frames' / 'cam03_frame060.jpg', frames / 'a3.jpg')
    k = np.array([[840.0, 0, 270], [0, 840, 480], [0, 0, 1]])
    np.savetxt(self.tmp / 'K.txt', k)
    workdir = self.tmp / 'wd'
    out = lift_mode.lift(self.config(input=str(frames),
                                camera=str(self.tmp / 'K.txt')), workdir)
    self.assertEqual(out['num_poses'], 2)
    with np.load(workdir / 'video_3d.npz') as z:
      self.assertEqual(z['poses_3d'].shape, (3, 17, 3))
      self.assertTrue(np.isfinite(z['poses_3d'][[0, 2]]).all())
      self.assertTrue(np.isnan(z['poses_3d'][1]).all())
      self.assertEqual(list(z['status']), ['ok', 'no_person', 'ok'])
    with np.load(workdir / 'lifted.npz') as z:
      np.testing.assert_allclose(z['K'][0], k)
    doc = json.loads((workdir / 'lifted.json').read_text())
    self.assertEqual([p['name'] for p in doc['poses']], ['a1.jpg', 'a3.jpg'])
    cap = cv2.VideoCapture(str(workdir / 'lifted_video.mp4'))
    n = 0
    while cap.read()[0]:
      n += 1
    self.assertEqual(n, 3)
    self.assertTrue((workdir / 'lifted_video.png').is_file())


if __name__ == '__main__':
  absltest.main()
