"""Videos and image folders -> COCO-17 2D keypoints with a bundled detector.

The optional `video` extra (`pip install -e '.[video]'`: mediapipe, which
brings OpenCV) adds a 2D detector that works offline: MediaPipe's BlazePose
(Apache-2.0), whose two model files ship inside this package as
`zedoi_jax/detector/pose_landmarker_full.task` (made once by
experiments/make_pose_task.py from the mediapipe 0.10.21 wheel; licence notice in
zedoi_jax/detector/). Nothing is downloaded at run time.

One person per frame. BlazePose's 33 landmarks are reduced to COCO-17
(`BLAZEPOSE_TO_COCO17`); confidence = the landmark's visibility. A frame
where no person is found (or an image that cannot be read) is kept as a row
with NaN keypoints, confidence 0 and its `status` ('no_person',
'unreadable'): it is never lifted, never given a made-up pose.

`detect(path)` runs the detector; `render(...)` writes the side-by-side
video (input frame with the 2D keypoints | the lifted 3D skeleton);
`lift_outputs(...)` writes the per-frame 3D table. `lift.lift` dispatches
here when `config.lift.input` is a video file, an image or a folder of
images.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pathlib
import re
import sys
import time
from typing import Any, Iterator

from absl import logging
import numpy as np

from zedoi_jax import progress as progress_lib
from zedoi_jax import skeleton
from zedoi_jax.errors import InputError

INSTALL = "pip install -e '.[video]'"
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
                  '.mpeg', '.wmv')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# BlazePose landmark index of each COCO-17 joint (nose, eyes, ears,
# shoulders, elbows, wrists, hips, knees, ankles; left before right).
BLAZEPOSE_TO_COCO17 = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26,
                       27, 28)
MODEL_PATH = (pathlib.Path(__file__).parent / 'detector' /
              'pose_landmarker_full.task')
STATUS_OK = 'ok'
STATUS_NO_PERSON = 'no_person'
STATUS_UNREADABLE = 'unreadable'


class MissingExtraError(ImportError):
  """The optional `video` extra is not installed."""


def is_media(path: str | os.PathLike) -> bool:
  """True for a video file, an image file or a folder holding images (a
  folder of detector JSON, e.g. OpenPose's, is not media)."""
  if not path:
    return False
  p = pathlib.Path(path)
  if p.is_dir():
    return any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir())
  return p.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES


def _extra():
  """(cv2, mediapipe, vision, base_options), or a one-line install hint."""
  os.environ.setdefault('GLOG_minloglevel', '2')
  try:
    import cv2  # pylint: disable=g-import-not-at-top
    import mediapipe  # pylint: disable=g-import-not-at-top
    from mediapipe.tasks.python import vision  # pylint: disable=g-import-not-at-top
    from mediapipe.tasks.python.core import base_options  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise MissingExtraError(
        f'videos and images need the optional video extra (mediapipe, '
        f'OpenCV), which is not installed ({e}); add it with: '
        f'{INSTALL}') from None
  return cv2, mediapipe, vision, base_options


def _natural_key(name: str):
  return [int(t) if t.isdigit() else t.lower()
          for t in re.split(r'(\d+)', name)]


def list_images(folder: pathlib.Path) -> list[pathlib.Path]:
  """The image files of a folder, in natural order (frame2 < frame10)."""
  files = [f for f in folder.iterdir()
           if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
  return sorted(files, key=lambda f: _natural_key(f.name))


class Frames:
  """RGB frames of a video file, an image file or a folder of images.

  Iterating yields `(index, name, rgb)`; `rgb` is `[H, W, 3]` uint8, or None
  for an image that cannot be decoded. `fps` is the video's rate (0 for
  images); `count` the number of frames (a video's header count, which
  some containers get slightly wrong).
  """

  def __init__(self, path: str | os.PathLike, *, stride: int = 1,
               max_frames: int = 0):
    self.cv2 = _extra()[0]
    self.path = pathlib.Path(path)
    self.stride = max(1, int(stride))
    self.max_frames = int(max_frames)
    src = str(self.path)
    if not self.path.exists():
      raise FileNotFoundError(f'lift input not found: {self.path}')
    self.fps = 0.0
    if self.path.is_dir():
      self.files = list_images(self.path)
      if not self.files:
        raise InputError(f'no image files ({", ".join(IMAGE_SUFFIXES)}) in '
                         'the folder', source=src, field='lift.input')
      total = len(self.files)
      self.kind = 'images'
    elif self.path.suffix.lower() in IMAGE_SUFFIXES:
      self.files = [self.path]
      total = 1
      self.kind = 'images'
    else:
      self.files = []
      cap = self.cv2.VideoCapture(src)
      ok = cap.isOpened()
      first = cap.read()[1] if ok else None
      total = int(cap.get(self.cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
      self.fps = float(cap.get(self.cv2.CAP_PROP_FPS)) if ok else 0.0
      cap.release()
      if first is None:
        raise InputError('cannot decode a frame: not a video, or a codec '
                         'OpenCV cannot read (convert it, e.g. ffmpeg -i '
                         'in -c:v libx264 out.mp4)', source=src,
                         field='frames')
      self.kind = 'video'
    count = -(-max(total, 0) // self.stride)
    self.count = min(count, self.max_frames) if self.max_frames > 0 else count

  def _video(self) -> Iterator[tuple[int, str, np.ndarray | None]]:
    cap = self.cv2.VideoCapture(str(self.path))
    try:
      i = kept = 0
      while self.max_frames <= 0 or kept < self.max_frames:
        ok = cap.grab()
        if not ok:
          break
        if i % self.stride == 0:
          ok, bgr = cap.retrieve()
          rgb = (np.ascontiguousarray(bgr[..., ::-1]) if ok and
                 bgr is not None else None)
          yield i, f'frame_{i:06d}', rgb
          kept += 1
        i += 1
    finally:
      cap.release()

  def _images(self) -> Iterator[tuple[int, str, np.ndarray | None]]:
    files = self.files[::self.stride]
    if self.max_frames > 0:
      files = files[:self.max_frames]
    for j, f in enumerate(files):
      bgr = self.cv2.imread(str(f), self.cv2.IMREAD_COLOR)
      rgb = None if bgr is None else np.ascontiguousarray(bgr[..., ::-1])
      yield j * self.stride, f.name, rgb

  def __iter__(self):
    return self._video() if self.kind == 'video' else self._images()


@contextlib.contextmanager
def _quiet_stderr():
  """Silences the C++ runtime's start-up chatter (a dozen INFO/WARNING
  lines on fd 2 per model load); Python errors still raise."""
  sys.stderr.flush()
  saved = os.dup(2)
  try:
    with open(os.devnull, 'w') as null:
      os.dup2(null.fileno(), 2)
      yield
  finally:
    os.dup2(saved, 2)
    os.close(saved)


def detect(path: str | os.PathLike, *, min_confidence: float = 0.5,
           stride: int = 1, max_frames: int = 0,
           show_progress: bool | None = None,
           model_path: str | os.PathLike = MODEL_PATH) -> dict[str, Any]:
  """Runs the bundled BlazePose detector on every frame of `path`.

  Args:
    path: a video file, an image file or a folder of images.
    min_confidence: the detector's person-detection / presence threshold.
    stride: keep every stride-th frame.
    max_frames: stop after this many kept frames (0 = all).
    show_progress: log `frames done/total, rate, ETA` every 10 s (None:
      only when stderr is a terminal).
    model_path: the `.task` bundle (default: the one shipped here).

  Returns:
    {'keypoints' [F, 17, 2] pixels (NaN where no person), 'confidence'
    [F, 17] (0 where none), 'landmarks' [F, 33, 4] (x px, y px, z (BlazePose
    relative depth, x's scale), visibility), 'image_wh' [F, 2],
    'frame_index' [F], 'names' [F], 'status' [F] ('ok' | 'no_person' |
    'unreadable'), 'fps', 'source', 'kind', 'seconds' (detection wall
    time, decoding included), 'frames_per_second', 'cpu_seconds_per_frame'
    (process CPU time, all threads: the rate on an idle machine)}.
  """
  cv2, mp, vision, base_options = _extra()
  del cv2
  frames = Frames(path, stride=stride, max_frames=max_frames)
  src = str(frames.path)
  model_path = pathlib.Path(model_path)
  if not model_path.is_file():
    raise FileNotFoundError(f'detector model not found: {model_path} '
                            '(reinstall the package)')
  video_mode = frames.kind == 'video'
  opts = vision.PoseLandmarkerOptions(
      base_options=base_options.BaseOptions(
          model_asset_path=str(model_path)),
      running_mode=(vision.RunningMode.VIDEO if video_mode else
                    vision.RunningMode.IMAGE),
      num_poses=1, min_pose_detection_confidence=float(min_confidence),
      min_pose_presence_confidence=float(min_confidence),
      min_tracking_confidence=float(min_confidence))
  prog = progress_lib.Progress(frames.count, name='detect 2D', unit='frame',
                               enabled=show_progress)
  lms, whs, idx, names, status = [], [], [], [], []
  fps = frames.fps if frames.fps > 0 else 30.0
  last_ms = -1
  t0 = time.perf_counter()
  c0 = time.process_time()
  with _quiet_stderr():
    landmarker = vision.PoseLandmarker.create_from_options(opts)
  with landmarker:
    for i, name, rgb in frames:
      idx.append(i)
      names.append(name)
      lm = np.full((33, 4), np.nan)
      if rgb is None:
        whs.append((0, 0))
        status.append(STATUS_UNREADABLE)
        lms.append(lm)
        logging.warning('%s: %s cannot be decoded; flagged %r', src, name,
                        STATUS_UNREADABLE)
        continue
      h, w = rgb.shape[:2]
      whs.append((w, h))
      image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
      if video_mode:
        # Timestamps must increase strictly.
        ms = max(last_ms + 1, int(round(i * 1000.0 / fps)))
        last_ms = ms
        res = landmarker.detect_for_video(image, ms)
      else:
        res = landmarker.detect(image)
      if res.pose_landmarks:
        pts = res.pose_landmarks[0]
        lm = np.array([[p.x * w, p.y * h, p.z * w,
                        p.visibility if p.visibility is not None else 1.0]
                       for p in pts], np.float64)
        status.append(STATUS_OK)
      else:
        status.append(STATUS_NO_PERSON)
      lms.append(lm)
      prog.update(len(idx))
  seconds = time.perf_counter() - t0
  cpu_seconds = time.process_time() - c0
  if not idx:
    raise InputError('no frames could be read', source=src, field='frames')
  lms = np.stack(lms)
  coco = lms[:, list(BLAZEPOSE_TO_COCO17)]
  ok = np.asarray(status) == STATUS_OK
  conf = np.where(ok[:, None], np.clip(np.nan_to_num(coco[..., 3]), 0, 1), 0)
  num_ok = int(ok.sum())
  logging.info('%s: %d frames, person found in %d; %.1f frames/s (%.0f ms '
               'CPU time per frame)', src, len(idx), num_ok,
               len(idx) / max(seconds, 1e-9), 1000 * cpu_seconds / len(idx))
  return {'keypoints': coco[..., :2], 'confidence': conf, 'landmarks': lms,
          'image_wh': np.asarray(whs, np.int64),
          'frame_index': np.asarray(idx, np.int64), 'names': names,
          'status': status, 'fps': frames.fps, 'source': src,
          'kind': frames.kind, 'seconds': seconds,
          'frames_per_second': len(idx) / max(seconds, 1e-9),
          'cpu_seconds_per_frame': cpu_seconds / len(idx)}


def save_detections(det: dict[str, Any], path: pathlib.Path, *,
                    identity: str = '') -> pathlib.Path:
  """Writes the detections as an .npz (keypoints [F, 17, 3]: x, y, conf;
  NaN rows where no person), which `lift` also reads as an array input."""
  kp = np.concatenate([det['keypoints'], det['confidence'][..., None]], -1)
  np.savez_compressed(
      path, keypoints=kp.astype(np.float32), identity=np.array(identity),
      kind=np.array(det['kind']), seconds=np.float64(det['seconds']),
      frames_per_second=np.float64(det['frames_per_second']),
      cpu_seconds_per_frame=np.float64(det['cpu_seconds_per_frame']),
      landmarks_blazepose33=det['landmarks'].astype(np.float32),
      image_wh=det['image_wh'], frame_index=det['frame_index'],
      names=np.array(det['names']), status=np.array(det['status']),
      fps=np.float64(det['fps']), source=np.array(det['source']))
  return path


def source_identity(path: str | os.PathLike) -> dict[str, Any]:
  """What identifies the media: sha256 of a file, or of a folder's images."""
  p = pathlib.Path(path)
  files = list_images(p) if p.is_dir() else [p]
  h = hashlib.sha256()
  for f in files:
    h.update(f.name.encode() + b'\0')
    with open(f, 'rb') as fh:
      for block in iter(lambda: fh.read(1 << 20), b''):
        h.update(block)
  return {'source': str(p), 'sha256': h.hexdigest(), 'files': len(files)}


def detect_cached(path: str | os.PathLike, cache: pathlib.Path, *,
                  show_progress: bool | None = None,
                  **settings: Any) -> dict[str, Any]:
  """`detect(path, **settings)`, reusing `cache` (an .npz) made for the same
  media and settings (a rerun in the same workdir), else writing it."""
  key = json.dumps({'media': source_identity(path), 'settings': settings,
                    'model': MODEL_PATH.stat().st_size
                             if MODEL_PATH.is_file() else 0},
                   sort_keys=True)
  if cache.is_file():
    try:
      with np.load(cache, allow_pickle=False) as z:
        if str(z['identity']) == key:
          det = {'keypoints': z['keypoints'][..., :2].astype(np.float64),
                 'confidence': z['keypoints'][..., 2].astype(np.float64),
                 'landmarks': z['landmarks_blazepose33'].astype(np.float64),
                 'image_wh': z['image_wh'], 'frame_index': z['frame_index'],
                 'names': [str(n) for n in z['names']],
                 'status': [str(s) for s in z['status']],
                 'fps': float(z['fps']), 'source': str(z['source']),
                 'kind': str(z['kind']), 'seconds': float(z['seconds']),
                 'frames_per_second': float(z['frames_per_second']),
                 'cpu_seconds_per_frame': float(z['cpu_seconds_per_frame'])}
          logging.info('reusing the 2D detections in %s', cache)
          return det
    except (OSError, KeyError, ValueError) as e:
      logging.warning('ignoring unreadable detection cache %s (%r)', cache, e)
  det = detect(path, show_progress=show_progress, **settings)
  save_detections(det, cache, identity=key)
  return det


def lift_input(det: dict[str, Any], npz_path: str) -> dict[str, Any]:
  """The frames with a person, as `lift.load_input` would return them."""
  ok = np.flatnonzero(np.asarray(det['status']) == STATUS_OK)
  if not len(ok):
    raise InputError(f'no person found in any of the {len(det["status"])} '
                     'frames', source=det['source'], field='frames')
  return {'keypoints': det['keypoints'][ok],
          'confidence': det['confidence'][ok],
          'image_wh': det['image_wh'][ok].astype(np.float64),
          'names': [det['names'][i] for i in ok], 'source': npz_path,
          'layout': 'coco17', 'format': 'video', 'frame': ok,
          'track': np.zeros(len(ok), np.int64), 'per_frame': True,
          'frame_rows': ok,
          'sha256': hashlib.sha256(
              np.ascontiguousarray(det['keypoints'][ok], np.float32).tobytes()
              + np.ascontiguousarray(det['confidence'][ok],
                                     np.float32).tobytes()).hexdigest()}


def lift_outputs(det: dict[str, Any], lifted_npz: str | os.PathLike,
                 frame_rows: np.ndarray, workdir: pathlib.Path,
                 model_layout: str) -> dict[str, Any]:
  """Per-frame 3D table: every frame, NaN + status where nothing was lifted.

  Writes workdir/video_3d.npz (poses_3d, poses_3d_abs, translation
  [F, 17, 3|3], keypoints_2d [F, 17, 2], confidence_2d, reproj_error [F],
  frame_index, status, joint_names) and video_3d.json (per frame: index,
  name, status, reprojection error).
  """
  f = len(det['status'])
  with np.load(lifted_npz) as z:
    rows = z['rows']
    pose, trans, err = z['poses_3d'], z['translation'], z['reproj_error']
  j = pose.shape[1]
  poses = np.full((f, j, 3), np.nan, np.float32)
  translation = np.full((f, 3), np.nan, np.float32)
  reproj = np.full((f,), np.nan, np.float32)
  frames = np.asarray(frame_rows)[rows]
  poses[frames], translation[frames], reproj[frames] = pose, trans, err
  status = list(det['status'])
  names = list(skeleton.get_layout(model_layout).joint_names)
  path = workdir / 'video_3d.npz'
  np.savez_compressed(
      path, poses_3d=poses, translation=translation,
      poses_3d_abs=poses + translation[:, None], reproj_error=reproj,
      keypoints_2d=det['keypoints'].astype(np.float32),
      confidence_2d=det['confidence'].astype(np.float32),
      frame_index=det['frame_index'], status=np.array(status),
      joint_names=np.array(names), fps=np.float64(det['fps']))
  doc = {'source': det['source'], 'fps': det['fps'],
         'num_frames': f, 'num_lifted': int(len(frames)),
         'status_counts': {s: status.count(s) for s in sorted(set(status))},
         'detector': 'MediaPipe BlazePose full (bundled, Apache-2.0), '
                     'COCO-17 subset',
         'detection_frames_per_second': round(det['frames_per_second'], 2),
         'detection_cpu_ms_per_frame': round(
             1000 * det['cpu_seconds_per_frame'], 1),
         'frames': [{'frame': int(det['frame_index'][i]),
                     'name': det['names'][i], 'status': status[i],
                     'reproj_error_px': (None if not np.isfinite(reproj[i])
                                         else round(float(reproj[i]), 3))}
                    for i in range(f)]}
  (workdir / 'video_3d.json').write_text(json.dumps(doc, indent=1) + '\n')
  return {'npz': str(path), 'json': str(workdir / 'video_3d.json'),
          'poses_3d': poses}


def _bgr(hex_colour: str) -> tuple[int, int, int]:
  h = hex_colour.lstrip('#')
  if len(h) != 6:
    return (0, 0, 0)
  r, g, b = (int(h[k:k + 2], 16) for k in (0, 2, 4))
  return (b, g, r)


def _side(layout: skeleton.Layout, a: int, b: int) -> tuple[int, int, int]:
  from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
  names = (layout.joint_names[a], layout.joint_names[b])
  if any(n.startswith('r_') for n in names):
    return _bgr(viz.RIGHT)
  if any(n.startswith('l_') for n in names):
    return _bgr(viz.LEFT)
  return (40, 40, 40)


def draw_2d(cv2, image: np.ndarray, kp: np.ndarray, conf: np.ndarray,
            layout: skeleton.Layout, thickness: int = 3) -> None:
  """Draws a 2D skeleton on a BGR image in place (joints with conf > 0)."""
  for a, b in layout.bones:
    if conf[a] > 0 and conf[b] > 0:
      cv2.line(image, tuple(int(v) for v in kp[a]),
               tuple(int(v) for v in kp[b]), _side(layout, a, b), thickness,
               cv2.LINE_AA)
  for p, c in zip(kp, conf):
    if c > 0:
      cv2.circle(image, (int(p[0]), int(p[1])), thickness + 1, (0, 200, 255),
                 -1, cv2.LINE_AA)


def draw_3d(cv2, size: int, pose: np.ndarray, layout: skeleton.Layout, *,
            azimuth_deg: float = 45.0, extent_m: float = 2.2,
            title: str = '') -> np.ndarray:
  """A root-relative camera-frame pose seen from `azimuth_deg` around the
  vertical (orthographic), as a white square BGR image of `size` pixels."""
  img = np.full((size, size, 3), 255, np.uint8)
  step = size / 8
  for k in range(1, 8):
    c = int(k * step)
    cv2.line(img, (c, 0), (c, size), (230, 230, 230), 1)
    cv2.line(img, (0, c), (size, c), (230, 230, 230), 1)
  if title:
    cv2.putText(img, title, (10, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (60, 60, 60), 2, cv2.LINE_AA)
  if not np.isfinite(pose).all():
    cv2.putText(img, 'no person', (size // 3, size // 2),
                cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 200), 2, cv2.LINE_AA)
    return img
  a = np.deg2rad(azimuth_deg)
  rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0],
                  [-np.sin(a), 0, np.cos(a)]])
  p = pose @ rot.T
  uv = p[:, :2] * (size / extent_m) + size / 2
  for i, j in layout.bones:
    cv2.line(img, tuple(int(v) for v in uv[i]), tuple(int(v) for v in uv[j]),
             _side(layout, i, j), 4, cv2.LINE_AA)
  for q in uv:
    cv2.circle(img, (int(q[0]), int(q[1])), 4, (40, 40, 40), -1, cv2.LINE_AA)
  return img


def render(det: dict[str, Any], poses_3d: np.ndarray, out_path: pathlib.Path,
           model_layout: str, *, height: int = 540,
           picture_path: pathlib.Path | None = None,
           show_progress: bool | None = None) -> pathlib.Path:
  """Writes the side-by-side video: frame + 2D keypoints | 3D skeleton.

  `poses_3d` is `[F, J, 3]` per frame of `det` (NaN where nothing was
  lifted). The video is `height` pixels high at the input's frame rate
  (MPEG-4 Part 2, which OpenCV writes without extra codecs); with
  `picture_path` the middle lifted frame is also saved as a PNG.
  """
  cv2 = _extra()[0]
  coco = skeleton.get_layout('coco17')
  layout = skeleton.get_layout(model_layout)
  frames = Frames(det['source'], stride=1, max_frames=0)
  wanted = {int(i): r for r, i in enumerate(det['frame_index'])}
  lifted = np.flatnonzero(np.isfinite(poses_3d).all((1, 2)))
  # One scale for the whole video: the panel spans 2.4x the largest joint
  # distance from the root (infants and adults both fill it).
  radius = (float(np.nanmax(np.linalg.norm(poses_3d[lifted], axis=-1)))
            if len(lifted) else 1.0)
  extent = 2.4 * max(radius, 0.1)
  pick = int(lifted[len(lifted) // 2]) if len(lifted) else 0
  fps = det['fps'] if det['fps'] > 0 else 5.0
  stride = (int(det['frame_index'][1] - det['frame_index'][0])
            if len(det['frame_index']) > 1 else 1)
  writer = None
  prog = progress_lib.Progress(len(wanted), name='render', unit='frame',
                               enabled=show_progress)
  done = 0
  try:
    for i, _, rgb in frames:
      r = wanted.get(int(i))
      if r is None:
        continue
      if rgb is None:
        rgb = np.zeros((height, height, 3), np.uint8)
      bgr = np.ascontiguousarray(rgb[..., ::-1])
      scale = height / bgr.shape[0]
      left = cv2.resize(bgr, (max(2, int(round(bgr.shape[1] * scale))),
                              height), interpolation=cv2.INTER_AREA)
      draw_2d(cv2, left, det['keypoints'][r] * scale,
              np.nan_to_num(det['confidence'][r]), coco,
              thickness=max(2, height // 180))
      cv2.putText(left, f'{det["names"][r]} {det["status"][r]}', (8, 24),
                  cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2,
                  cv2.LINE_AA)
      right = draw_3d(cv2, height, poses_3d[r], layout, extent_m=extent,
                      title='3D (lifted, seen from 45 deg)')
      panel = np.concatenate([left, right], 1)
      panel = panel[:, :panel.shape[1] // 2 * 2]
      if writer is None:
        writer = cv2.VideoWriter(str(out_path),
                                 cv2.VideoWriter_fourcc(*'mp4v'),
                                 fps / stride, (panel.shape[1],
                                                panel.shape[0]))
        size = panel.shape[:2]
        if not writer.isOpened():
          raise OSError(f'OpenCV cannot write {out_path}')
      if panel.shape[:2] != size:  # frames of different sizes (a folder)
        panel = cv2.resize(panel, (size[1], size[0]))
      writer.write(panel)
      if picture_path is not None and r == pick:
        cv2.imwrite(str(picture_path), panel)
      done += 1
      prog.update(done)
      if done == len(wanted):
        break
  finally:
    if writer is not None:
      writer.release()
  return out_path
