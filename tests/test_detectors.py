"""Detector readers on fixtures shaped as each tool writes its files."""

import json
import pathlib
import tempfile

import numpy as np
from absl.testing import absltest

from zedoi_jax import skeleton
from zedoi_jax.data import detectors
from zedoi_jax.errors import InputError


def body_2d(layout: str, rng, centre=(320.0, 240.0)) -> np.ndarray:
  """A plausible upright 2D body in `layout` (pixels), via COCO-17."""
  coco = np.array([
      [0, -150], [-8, -158], [8, -158], [-18, -152], [18, -152],
      [-40, -110], [40, -110], [-55, -50], [55, -50], [-60, 5], [60, 5],
      [-22, 20], [22, 20], [-25, 110], [25, 110], [-27, 200], [27, 200]],
      np.float64)
  # COCO's l_ joints are at +x in this frontal view (the subject faces us).
  coco = coco * np.array([-1, 1]) + centre + rng.normal(0, 2, coco.shape)
  lay = skeleton.get_layout(layout)
  by_name = dict(zip(skeleton.COCO17.joint_names, coco))
  extra = {
      'neck': 0.5 * (by_name['l_shoulder'] + by_name['r_shoulder']),
      'mid_hip': 0.5 * (by_name['l_hip'] + by_name['r_hip']),
      'head_top': by_name['nose'] + (0, -40),
  }
  out = []
  for j in lay.joint_names:
    if j in by_name:
      out.append(by_name[j])
    elif j in extra:
      out.append(extra[j])
    else:  # feet, hands, face details: near the nearest COCO joint
      side = j[:2]
      base = ('ankle' if any(k in j for k in ('toe', 'heel', 'foot'))
              else 'wrist' if any(k in j for k in ('pinky', 'index', 'thumb'))
              else 'eye' if 'eye' in j else 'nose')
      key = side + base if base != 'nose' else 'nose'
      out.append(by_name[key] + rng.normal(0, 5, 2))
  return np.array(out)


def openpose_frame(people, *, pose2sim_empty=False) -> dict:
  doc = {'version': 1.3, 'people': []}
  for pid, kp, conf in people:
    flat = np.concatenate([kp, conf[:, None]], -1)
    flat[conf == 0] = 0.0  # OpenPose writes 0, 0, 0 for a missed joint
    doc['people'].append({
        'person_id': [pid], 'pose_keypoints_2d': flat.ravel().tolist(),
        'face_keypoints_2d': [], 'hand_left_keypoints_2d': [],
        'hand_right_keypoints_2d': [], 'pose_keypoints_3d': [],
        'face_keypoints_3d': [], 'hand_left_keypoints_3d': [],
        'hand_right_keypoints_3d': []})
  if pose2sim_empty:
    doc['people'].append({'person_id': [-1], 'pose_keypoints_2d': [],
                          'face_keypoints_2d': []})
  return doc


def write_openpose(folder: pathlib.Path, layout: str, frames: int = 4,
                   two_people_at=(1,), empty_at=(2,), pid=(-1, -1),
                   seed=0) -> dict:
  """OpenPose JSON folder; returns the truth written."""
  rng = np.random.default_rng(seed)
  folder.mkdir(parents=True, exist_ok=True)
  truth = []
  for f in range(frames):
    people = []
    if f not in empty_at:
      kp = body_2d(layout, rng)
      conf = rng.uniform(0.5, 0.95, len(kp))
      conf[3] = 0.0  # a missed joint
      people.append((pid[0], kp, conf))
      truth.append((f, kp, conf))
      if f in two_people_at:
        kp2 = body_2d(layout, rng, centre=(500.0, 240.0))
        conf2 = rng.uniform(0.5, 0.95, len(kp2))
        conf2[3] = 0.0
        people.append((pid[1], kp2, conf2))
        truth.append((f, kp2, conf2))
    doc = openpose_frame(people, pose2sim_empty=(f in empty_at))
    (folder / f'clip_{f:012d}_keypoints.json').write_text(json.dumps(doc))
  return truth


class OpenPoseTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(tempfile.mkdtemp())

  def check(self, layout, **kw):
    folder = self.tmp / layout
    truth = write_openpose(folder, layout, **kw)
    self.assertEqual(detectors.detect_format(folder), 'openpose')
    d = detectors.read(folder)
    self.assertEqual(d.layout, layout)
    self.assertLen(d, len(truth))
    for i, (frame, kp, conf) in enumerate(truth):
      self.assertEqual(d.frame[i], frame)
      np.testing.assert_allclose(d.confidence[i], np.where(conf > 0, conf, 0))
      ok = conf > 0
      np.testing.assert_allclose(d.keypoints[i][ok], kp[ok], atol=1e-9)
      # The missed joint: confidence 0, no coordinates made up.
      self.assertEqual(d.confidence[i, 3], 0.0)
      np.testing.assert_array_equal(d.keypoints[i, 3], 0.0)
    return d

  def test_body25_multi_person_empty_frames(self):
    d = self.check('body25')
    # Frame 2 is empty (and holds Pose2Sim's empty person): no rows.
    self.assertNotIn(2, d.frame.tolist())
    # Two people in frame 1 without person ids: tracks unknown.
    self.assertTrue((d.track == -1).all())

  def test_body25b_by_geometry(self):
    self.check('body25b')

  def test_coco18(self):
    self.check('coco18')

  def test_single_person_gets_one_track(self):
    d = self.check('body25', two_people_at=())
    np.testing.assert_array_equal(d.track, 0)

  def test_person_ids_are_tracks(self):
    d = self.check('body25', pid=(3, 7))
    self.assertEqual(sorted(set(d.track.tolist())), [3, 7])

  def test_body25_to_model_layout(self):
    d = self.check('body25')
    h36 = skeleton.convert(d.keypoints, 'body25', 'h36m17')
    conf = skeleton.convert_confidence(d.confidence, 'body25', 'h36m17')
    # Same as going through COCO-17.
    coco = skeleton.convert(d.keypoints, 'body25', 'coco17')
    np.testing.assert_allclose(h36, skeleton.convert(coco, 'coco17',
                                                     'h36m17'))
    # BODY_25 joint 3 (RElbow) is missing -> the model's r_elbow is too.
    np.testing.assert_array_equal(conf[:, 15], 0.0)

  def test_ambiguous_25_needs_layout(self):
    folder = self.tmp / 'amb'
    folder.mkdir()
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 600, (25, 2))
    conf = np.ones(25)
    # MidHip-slot joint 8 half-way between "between the hips" and far away.
    kp[8] = 0.5 * (kp[9] + kp[12]) + np.array([0.25, 0.0]) * np.linalg.norm(
        0.5 * (kp[2] + kp[5]) - 0.5 * (kp[9] + kp[12]))
    (folder / 'a_000000000000_keypoints.json').write_text(
        json.dumps(openpose_frame([(-1, kp, conf)])))
    with self.assertRaisesRegex(InputError, 'lift.layout=body25'):
      detectors.read(folder)
    self.assertEqual(detectors.read(folder, layout='body25b').layout,
                     'body25b')

  def test_bad_files(self):
    folder = self.tmp / 'bad'
    folder.mkdir()
    (folder / 'x_keypoints.json').write_text('{"people": [{"pose_keypoints_'
                                             '2d": [1, 2]}]}')
    with self.assertRaisesRegex(InputError, r'x_keypoints.json.*multiple of'):
      detectors.read_openpose(folder)
    (folder / 'x_keypoints.json').write_text('{"people": []}')
    with self.assertRaisesRegex(InputError, 'no person'):
      detectors.read_openpose(folder)


class OtherFormatsTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self.tmp = pathlib.Path(tempfile.mkdtemp())
    self.rng = np.random.default_rng(0)

  def test_alphapose_coco_and_halpe(self):
    for layout, n in (('coco17', 17), ('halpe26', 26)):
      dets = []
      truth = []
      for frame in range(3):
        for idx in (1, 2):
          kp = body_2d(layout, self.rng, centre=(200.0 * idx, 240.0))
          sc = self.rng.uniform(0.3, 1, n)
          dets.append({'image_id': f'{frame}.jpg', 'category_id': 1,
                       'keypoints': np.concatenate(
                           [kp, sc[:, None]], -1).ravel().tolist(),
                       'score': 2.5, 'box': [10, 20, 100, 200], 'idx': idx})
          truth.append((frame, idx, kp, sc))
      path = self.tmp / f'alphapose-results-{layout}.json'
      path.write_text(json.dumps(dets))
      self.assertEqual(detectors.detect_format(path), 'alphapose')
      d = detectors.read(path)
      self.assertEqual(d.layout, layout)
      self.assertLen(d, 6)
      for i, (frame, idx, kp, sc) in enumerate(truth):
        self.assertEqual((d.frame[i], d.track[i]), (frame, idx))
        np.testing.assert_allclose(d.keypoints[i], kp)
        np.testing.assert_allclose(d.confidence[i], sc)

  def test_mmpose_video_and_image(self):
    frames = []
    for f in range(3):
      kp = body_2d('coco17', self.rng)
      frames.append({'frame_id': f, 'instances': [{
          'keypoints': kp.tolist(),
          'keypoint_scores': self.rng.uniform(0, 1, 17).tolist(),
          'bbox': [[1.0, 2.0, 300.0, 400.0]], 'bbox_score': 0.9}]})
    path = self.tmp / 'video.json'
    path.write_text(json.dumps(frames))
    self.assertEqual(detectors.detect_format(path), 'mmpose')
    d = detectors.read(path)
    self.assertEqual((d.layout, len(d)), ('coco17', 3))
    np.testing.assert_array_equal(d.frame, [0, 1, 2])
    np.testing.assert_array_equal(d.track, 0)
    np.testing.assert_allclose(d.keypoints[2],
                               frames[2]['instances'][0]['keypoints'])
    # One image: a bare list of instances (two people).
    inst = frames[0]['instances'] * 2
    img = self.tmp / 'img.json'
    img.write_text(json.dumps(inst))
    d = detectors.read(img)
    self.assertLen(d, 2)
    np.testing.assert_array_equal(d.track, -1)

  def test_mediapipe(self):
    w, h = 640, 480
    frames = []
    truth = []
    for f in range(2):
      kp = body_2d('mediapipe33', self.rng)
      vis = self.rng.uniform(0, 1, 33)
      frames.append([{'x': x / w, 'y': y / h, 'z': -0.1, 'visibility': v}
                     for (x, y), v in zip(kp, vis)])
      truth.append((kp, vis))
    path = self.tmp / 'mp.json'
    path.write_text(json.dumps(frames))
    self.assertEqual(detectors.detect_format(path), 'mediapipe')
    with self.assertRaisesRegex(InputError, 'mp.json.*image_width'):
      detectors.read(path)
    d = detectors.read(path, image_width=w, image_height=h)
    self.assertEqual(d.layout, 'mediapipe33')
    np.testing.assert_allclose(d.keypoints[1], truth[1][0], atol=1e-9)
    np.testing.assert_allclose(d.confidence[1], truth[1][1])
    np.testing.assert_allclose(d.image_wh, [[w, h]] * 2)
    # Tasks API style with the size in the file.
    doc = {'image_width': w, 'image_height': h,
           'frames': [{'frame': 5, 'pose_landmarks': [frames[0]]}]}
    path.write_text(json.dumps(doc))
    d = detectors.read(path)
    self.assertEqual(d.frame.tolist(), [5])
    np.testing.assert_allclose(d.keypoints[0], truth[0][0], atol=1e-9)
    coco = skeleton.convert(d.keypoints, 'mediapipe33', 'coco17')
    np.testing.assert_allclose(coco[0, 5], truth[0][0][11], atol=1e-9)

  def write_dlc(self, path, parts, multi=False, frames=3):
    scorer = 'DLC_resnet50_infantJan1shuffle1_100000'
    inds = ['ind1', 'ind2'] if multi else ['']
    header = [['scorer'], ['individuals'], ['bodyparts'], ['coords']]
    for who in inds:
      for b in parts:
        for c in ('x', 'y', 'likelihood'):
          header[0].append(scorer)
          header[1].append(who)
          header[2].append(b)
          header[3].append(c)
    if not multi:
      del header[1]
    lines = [','.join(r) for r in header]
    truth = {}
    for f in range(frames):
      vals = [str(f)]
      for t, _ in enumerate(inds):
        kp = self.rng.uniform(0, 500, (len(parts), 2))
        lk = self.rng.uniform(0, 1, len(parts))
        truth[(f, t)] = (kp, lk)
        for j in range(len(parts)):
          if f == 1 and j == 0:  # a NaN (unlabelled) joint
            vals += ['', '', '']
          else:
            vals += [repr(float(v)) for v in (kp[j, 0], kp[j, 1], lk[j])]
      lines.append(','.join(vals))
    path.write_text('\n'.join(lines) + '\n')
    return truth

  def test_deeplabcut(self):
    parts = ['LeftShoulder' if n == 'l_shoulder' else n
             for n in skeleton.COCO17.joint_names][::-1]
    path = self.tmp / 'videoDLC_resnet50.csv'
    truth = self.write_dlc(path, parts)
    self.assertEqual(detectors.detect_format(path), 'deeplabcut')
    d = detectors.read(path)
    self.assertEqual(d.layout, 'coco17')
    kp, lk = truth[(2, 0)]
    # Body parts were written in reverse COCO order.
    np.testing.assert_allclose(d.keypoints[2], kp[::-1])
    np.testing.assert_allclose(d.confidence[2], lk[::-1])
    self.assertEqual(d.confidence[1, 16], 0.0)  # the NaN joint (last part)
    # Multi-animal: individuals are tracks.
    path2 = self.tmp / 'multi.csv'
    self.write_dlc(path2, parts, multi=True)
    d = detectors.read(path2)
    self.assertEqual(d.track.tolist(), [0, 1] * 3)
    # Human3.6M body part names: found although the hint says coco17.
    path4 = self.tmp / 'h36m.csv'
    self.write_dlc(path4, [n.replace('r_', 'Right').replace('l_', 'Left')
                           for n in skeleton.H36M17.joint_names])
    self.assertEqual(detectors.read(path4, layout='coco17').layout, 'h36m17')
    # Unknown body parts: a clear error.
    path3 = self.tmp / 'mouse.csv'
    self.write_dlc(path3, ['snout', 'tailbase'])
    with self.assertRaisesRegex(InputError, 'mouse.csv.*bodyparts'):
      detectors.read(path3)

  def test_auto_detection_errors(self):
    path = self.tmp / 'what.json'
    path.write_text(json.dumps({'foo': 1}))
    with self.assertRaisesRegex(InputError,
                                'what.json.*cannot tell.*lift.format'):
      detectors.detect_format(path)
    csv = self.tmp / 'what.csv'
    csv.write_text('a,b\n1,2\n')
    with self.assertRaisesRegex(InputError, 'what.csv.*lift.format'):
      detectors.detect_format(csv)
    # COCO results lists stay COCO (int image ids, no box/idx).
    coco = self.tmp / 'coco.json'
    coco.write_text(json.dumps([{'image_id': 1, 'category_id': 1,
                                 'keypoints': [0] * 51, 'score': 1}]))
    self.assertEqual(detectors.detect_format(coco), 'coco')


if __name__ == '__main__':
  absltest.main()
