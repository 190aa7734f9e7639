"""Builds zedoi_jax/detector/pose_landmarker_full.task (run once, offline).

The bundled 2D detector of the `video` extra is MediaPipe's BlazePose
(Apache-2.0). mediapipe 0.10.21 ships its two model files inside its wheel
(`mediapipe/modules/pose_detection/pose_detection.tflite`,
`mediapipe/modules/pose_landmark/pose_landmark_full.tflite`); newer
mediapipe releases (which install beside numpy 2) ship no models and need a
Tasks `.task` bundle. This script turns the two files into that bundle:
it adds the image-input metadata (normalisation) that the Tasks graphs
require and zips the two models under the names the PoseLandmarker graph
looks up.

Run it in a throwaway environment that has mediapipe 0.10.21 (which pins
numpy<2, so never in the project's environment):

  python3.11 -m venv /tmp/mp021 && /tmp/mp021/bin/pip install mediapipe==0.10.21
  /tmp/mp021/bin/python experiments/make_pose_task.py --check

Input normalisation, as in the legacy graphs that ran these models
(pose_detection_cpu: image-to-tensor range [-1, 1]; pose_landmark_by_roi_cpu:
range [0, 1]): value = (pixel - mean) / std.
`--check` compares the bundle under the Tasks API with the legacy
`mediapipe.solutions.pose` API on one image (scikit-image's astronaut if
installed, else a given --image).
"""

import argparse
import hashlib
import os
import pathlib
import sys

OUT = (pathlib.Path(__file__).resolve().parents[1] / 'zedoi_jax' /
       'detector' / 'pose_landmarker_full.task')

# name in the bundle -> (file in the mediapipe 0.10.21 wheel, mean, std)
MODELS = {
    'pose_detector.tflite': (
        'modules/pose_detection/pose_detection.tflite', 127.5, 127.5),
    'pose_landmarks_detector.tflite': (
        'modules/pose_landmark/pose_landmark_full.tflite', 0.0, 255.0),
}


def build(out: pathlib.Path) -> None:
  import mediapipe  # pylint: disable=g-import-not-at-top
  from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer  # pylint: disable=g-import-not-at-top
  from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils  # pylint: disable=g-import-not-at-top
  if mediapipe.__version__ != '0.10.21':
    sys.exit(f'needs mediapipe 0.10.21 (the release that ships the model '
             f'files), found {mediapipe.__version__}')
  root = pathlib.Path(mediapipe.__file__).parent
  models = {}
  for name, (rel, mean, std) in MODELS.items():
    buf = (root / rel).read_bytes()
    print(f'{rel}: {len(buf)} bytes, sha256 {hashlib.sha256(buf).hexdigest()}')
    writer = metadata_writer.MetadataWriter.create(bytearray(buf))
    writer.add_general_info(name.replace('.tflite', ''),
                            f'MediaPipe BlazePose ({rel}, mediapipe 0.10.21)')
    writer.add_image_input(norm_mean=[mean], norm_std=[std])
    content, _ = writer.populate()
    models[name] = bytes(content)
  out.parent.mkdir(parents=True, exist_ok=True)
  model_asset_bundle_utils.create_model_asset_bundle(models, str(out))
  digest = hashlib.sha256(out.read_bytes()).hexdigest()
  print(f'wrote {out} ({out.stat().st_size} bytes, sha256 {digest})')


def check(out: pathlib.Path, image_path: str) -> None:
  """Tasks API on the bundle vs the legacy solutions API, one image."""
  import mediapipe as mp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from mediapipe.tasks.python import vision  # pylint: disable=g-import-not-at-top
  from mediapipe.tasks.python.core import base_options  # pylint: disable=g-import-not-at-top
  if image_path:
    import cv2  # pylint: disable=g-import-not-at-top
    rgb = cv2.cvtColor(cv2.imread(image_path), cv2.COLOR_BGR2RGB)
  else:
    from skimage import data  # pylint: disable=g-import-not-at-top
    rgb = data.astronaut()
  rgb = np.ascontiguousarray(rgb)
  opts = vision.PoseLandmarkerOptions(
      base_options=base_options.BaseOptions(model_asset_path=str(out)),
      running_mode=vision.RunningMode.IMAGE, num_poses=1)
  with vision.PoseLandmarker.create_from_options(opts) as lm:
    res = lm.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb))
  if not res.pose_landmarks:
    sys.exit('the bundle found no person')
  a = np.array([[p.x, p.y] for p in res.pose_landmarks[0]])
  with mp.solutions.pose.Pose(static_image_mode=True,
                              model_complexity=1) as pose:
    r = pose.process(rgb)
  b = np.array([[p.x, p.y] for p in r.pose_landmarks.landmark])
  d = np.abs(a - b).max()
  print(f'bundle vs legacy solutions.pose: max |dxy| = {d:.2e} '
        f'(normalised image units, 33 landmarks)')
  if d > 1e-2:
    sys.exit('the bundle disagrees with the legacy API')


def main() -> None:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument('--out', default=str(OUT))
  ap.add_argument('--check', action='store_true')
  ap.add_argument('--image', default='')
  args = ap.parse_args()
  os.environ.setdefault('GLOG_minloglevel', '2')
  out = pathlib.Path(args.out)
  build(out)
  if args.check:
    check(out, args.image)


if __name__ == '__main__':
  main()
