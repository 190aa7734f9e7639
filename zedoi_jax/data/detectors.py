"""Readers for what 2D pose detectors write, into one common structure.

One function per format, each returning a `Detections` (rows = one person
in one frame):

  keypoints   [N, J, 2] float64 pixels (0 where a joint is missing)
  confidence  [N, J] in [0, 1]; 0 = missing (a detector's 0, 0, 0 joint, a
              NaN, an invisible landmark): never a made-up joint
  layout      the joint layout name (`zedoi_jax.skeleton`)
  frame       [N] int frame index (from the file name / image id / row)
  track       [N] int person track id; -1 = unknown. Where the tool writes
              one (OpenPose `person_id`, AlphaPose `idx`, MMPose
              `track_id`, DeepLabCut individuals) it is used; a recording
              with at most one person in every frame gets track 0.
  image_wh    [N, 2] image size in pixels, 0 = unknown
  names       N str: source file / image and person, for the outputs
  source      the file or folder read; format: the format name

Formats (`read(path, fmt='auto')`; `detect_format` tells them apart):
  'openpose'   a folder of per-frame `*_keypoints.json` (or one file):
               {"people": [{"person_id": [-1], "pose_keypoints_2d": [x, y,
               c, ...]}]}; BODY_25, BODY_25B (25 joints: told apart by the
               geometry of joint 8, or by `layout`) or COCO-18. An empty
               `people` list (nobody seen) gives no rows; a person with
               empty lists (Pose2Sim) is skipped.
  'alphapose'  alphapose-results.json: [{"image_id": "12.jpg", "keypoints":
               [x, y, s, ...] (17 COCO, 26 Halpe; 136/133: the first
               26/17), "score", "box", "idx" (track)}].
  'mmpose'     MMPose inferencer `pred_out_dir` JSON: per image a list of
               instances {"keypoints": [[x, y], ...], "keypoint_scores":
               [...]}, for a video [{"frame_id": i, "instances": [...]}]
               (also the demo's {"meta_info", "instance_info"}), or a
               folder of per-image files. 17 joints = COCO, 26 = Halpe,
               133 (COCO-WholeBody) = its first 17.
  'mediapipe'  MediaPipe Pose landmarks as JSON: a list of frames, each a
               list of 33 {"x", "y", "z", "visibility"} (normalised to the
               image), {"landmark": [...]} (protobuf MessageToDict) or
               {"pose_landmarks": [[...] per person]} (Tasks API); optional
               "frame", "image_width", "image_height" per frame or at the
               top level ({"frames": [...], "image_width": W, ...}).
               x, y are fractions of the image: the size is required.
               Confidence = visibility (else presence, else 1).
  'deeplabcut' DeepLabCut CSV: header rows scorer, [individuals,]
               bodyparts, coords (x, y, likelihood per body part), then one
               row per frame, frame index first. Body parts are matched by
               name to a layout (`layout` tried first, then the known ones
               in turn; 'left_shoulder', 'LShoulder', 'l_shoulder' all
               match); extra body parts are ignored.

Errors: `InputError` naming the file and field, one line.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from zedoi_jax import skeleton
from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

FORMATS = ('openpose', 'alphapose', 'mmpose', 'mediapipe', 'deeplabcut')


@dataclasses.dataclass
class Detections:
  """2D detections, one row per person per frame (see the module doc)."""
  keypoints: np.ndarray
  confidence: np.ndarray
  layout: str
  frame: np.ndarray
  track: np.ndarray
  image_wh: np.ndarray
  names: list[str]
  source: str
  format: str

  def __len__(self) -> int:
    return len(self.keypoints)


def _fail(msg: str, src, field: str | None = None):
  raise InputError(msg, source=str(src), field=field)


def _load_json(path: pathlib.Path) -> Any:
  return checks.load_json(path, 'detector JSON')


def _json_files(path, what: str) -> list[pathlib.Path]:
  """One JSON file, or every *.json of a folder (sorted by name)."""
  p = pathlib.Path(path)
  if p.is_dir():
    files = sorted(p.glob('*.json'))
    if not files:
      _fail('no *.json files in the folder', p, 'folder')
    return files
  if p.is_file():
    return [p]
  raise FileNotFoundError(f'{what} not found: {p}')


def _finish(rows: list[tuple], layout: str, src, fmt: str,
            num_joints: int) -> Detections:
  """Builds Detections from (kp [J, 2], conf [J], frame, track, wh, name)."""
  if rows:
    kp = np.stack([r[0] for r in rows]).astype(np.float64)
    conf = np.stack([r[1] for r in rows]).astype(np.float64)
  else:
    kp = np.zeros((0, num_joints, 2))
    conf = np.zeros((0, num_joints))
  frame = np.array([r[2] for r in rows], np.int64)
  track = np.array([r[3] for r in rows], np.int64)
  wh = np.array([r[4] for r in rows], np.float64).reshape(-1, 2)
  names = [r[5] for r in rows]
  # Missing joints: non-finite or (0, 0) with no confidence -> 0 / 0.
  bad = ~(np.isfinite(kp).all(-1) & np.isfinite(conf))
  conf = np.where(bad, 0.0, np.clip(conf, 0.0, 1.0))
  kp = np.where(bad[..., None], 0.0, kp)
  kp = np.where((conf > 0)[..., None], kp, 0.0)
  # Untracked recordings with one person per frame: one track.
  if len(track) and (track < 0).all():
    _, counts = np.unique(frame, return_counts=True)
    if counts.max() == 1:
      track[:] = 0
  return Detections(keypoints=kp, confidence=conf, layout=layout,
                    frame=frame, track=track, image_wh=wh, names=names,
                    source=str(src), format=fmt)


def _triplets(values, src, field: str) -> np.ndarray:
  """A flat [x, y, c, ...] list -> [J, 3] float64."""
  try:
    a = np.asarray(values, np.float64).reshape(-1)
  except (TypeError, ValueError):
    _fail('expected a flat list of numbers', src, field)
  if a.size % 3:
    _fail(f'{a.size} values is not a multiple of 3 (x, y, confidence)', src,
          field)
  return a.reshape(-1, 3)


def _frame_number(name: str, default: int) -> int:
  """The frame number in a file or image name ('x_000000000012_keypoints'
  -> 12, '12.jpg' -> 12), else `default`."""
  digits = re.findall(r'\d+', pathlib.Path(name).name)
  return int(digits[-1]) if digits else default


# ------------------------------------------------------------- OpenPose
def _openpose_25_layout(kp: np.ndarray, conf: np.ndarray, src) -> str:
  """'body25' or 'body25b' from where joint 8 sits (MidHip in BODY_25:
  between the hips 9 and 12; RElbow in BODY_25B)."""
  ok = (conf[:, [8, 9, 12, 2, 5]] > 0).all(-1)
  if ok.sum() >= 1:
    mid = 0.5 * (kp[ok, 9] + kp[ok, 12])
    size = np.linalg.norm(0.5 * (kp[ok, 2] + kp[ok, 5]) - mid, axis=-1)
    d = np.linalg.norm(kp[ok, 8] - mid, axis=-1) / np.maximum(size, 1e-6)
    med = float(np.median(d))
    if med < 0.15:
      return 'body25'
    if med > 0.35:
      return 'body25b'
  _fail('25-joint OpenPose keypoints, but cannot tell BODY_25 from BODY_25B '
        'by their geometry: set --config.lift.layout=body25 or body25b', src,
        'pose_keypoints_2d')


def read_openpose(path, *, layout: str | None = None) -> Detections:
  """OpenPose `--write_json` output: a folder of per-frame JSON, or one file.

  Args:
    path: the folder (every *.json in it, sorted by name) or one file.
    layout: 'body25' | 'body25b' | 'coco18' to override the choice made
      from the joint count (25 joints are told apart by geometry).
  """
  p = pathlib.Path(path)
  files = _json_files(p, 'OpenPose JSON')
  rows = []
  num_joints = None
  for order, f in enumerate(files):
    doc = _load_json(f)
    if not isinstance(doc, dict) or not isinstance(doc.get('people'), list):
      _fail('not an OpenPose file (no "people" list)', f, 'people')
    frame = _frame_number(f.name.replace('_keypoints', ''), order)
    for k, person in enumerate(doc['people']):
      if not isinstance(person, dict):
        _fail(f'person {k} is not an object', f, 'people')
      values = person.get('pose_keypoints_2d', [])
      if not values:  # Pose2Sim's placeholder person for a missed frame
        continue
      t = _triplets(values, f, f'people[{k}].pose_keypoints_2d')
      if num_joints is None:
        num_joints = len(t)
      elif len(t) != num_joints:
        _fail(f'{len(t)} joints here, {num_joints} in earlier files', f,
              f'people[{k}].pose_keypoints_2d')
      pid = person.get('person_id', -1)
      if isinstance(pid, list):
        pid = pid[0] if pid else -1
      try:
        pid = int(pid)
      except (TypeError, ValueError):
        pid = -1
      # OpenPose writes 0, 0, 0 for a joint it did not find.
      conf = np.where((t[:, 0] == 0) & (t[:, 1] == 0), 0.0, t[:, 2])
      rows.append((t[:, :2], conf, frame, pid, (0, 0), f'{f.name}#{k}'))
  src = p
  if num_joints is None:
    _fail('no person in any frame', src, 'people')
  known = {18: ('coco18',), 25: ('body25', 'body25b')}
  if num_joints not in known:
    _fail(f'{num_joints} joints per person: expected 25 (BODY_25, '
          'BODY_25B) or 18 (COCO)', src, 'pose_keypoints_2d')
  if layout in known[num_joints]:
    name = layout
  elif num_joints == 18:
    name = 'coco18'
  else:
    kp = np.stack([r[0] for r in rows])
    conf = np.stack([r[1] for r in rows])
    name = _openpose_25_layout(kp, conf, src)
  return _finish(rows, name, src, 'openpose', num_joints)


# ------------------------------------------------------------ AlphaPose
_BY_COUNT = {17: ('coco17', 17), 26: ('halpe26', 26), 136: ('halpe26', 26),
             133: ('coco17', 17), 18: ('coco18', 18)}


def read_alphapose(path) -> Detections:
  """AlphaPose results JSON (a list of detections; string image ids)."""
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f'AlphaPose results not found: {p}')
  doc = _load_json(p)
  if not isinstance(doc, list):
    _fail('expected a list of detections', p, 'json')
  image_order: dict[str, int] = {}
  entries = []
  for i, d in enumerate(doc):
    if not isinstance(d, dict) or 'keypoints' not in d or 'image_id' not in d:
      _fail(f'entry {i} lacks "image_id" or "keypoints"', p, f'[{i}]')
    image = str(d['image_id'])
    image_order.setdefault(image, len(image_order))
    entries.append((i, image, d))
  numeric = all(re.search(r'\d', k) for k in image_order)
  rows = []
  layout = None
  for i, image, d in entries:
    t = _triplets(d['keypoints'], p, f'[{i}].keypoints')
    if len(t) not in _BY_COUNT:
      _fail(f'{len(t)} keypoints: expected 17 (COCO), 26 (Halpe), 133 or 136',
            p, f'[{i}].keypoints')
    name, keep = _BY_COUNT[len(t)]
    if layout is None:
      layout = name
    elif name != layout:
      _fail(f'mixed layouts ({layout} and {name})', p, f'[{i}].keypoints')
    t = t[:keep]
    idx = d.get('idx', -1)
    if isinstance(idx, list):
      idx = idx[0] if idx else -1
    try:
      idx = int(idx)
    except (TypeError, ValueError):
      idx = -1
    frame = (_frame_number(image, image_order[image]) if numeric
             else image_order[image])
    rows.append((t[:, :2], t[:, 2], frame, idx, (0, 0), f'{image}#{i}'))
  if not rows:
    _fail('no detections', p, 'json')
  return _finish(rows, layout, p, 'alphapose', len(rows[0][0]))


# --------------------------------------------------------------- MMPose
def _mmpose_instances(instances, src, field, frame, name, rows):
  if not isinstance(instances, list):
    _fail('expected a list of instances', src, field)
  for k, inst in enumerate(instances):
    f = f'{field}[{k}]'
    if not isinstance(inst, dict) or 'keypoints' not in inst:
      _fail('instance lacks "keypoints"', src, f)
    try:
      kp = np.asarray(inst['keypoints'], np.float64)
      sc = np.asarray(inst.get('keypoint_scores', np.ones(len(kp))),
                      np.float64).reshape(-1)
    except (TypeError, ValueError):
      _fail('keypoints are not numbers', src, f)
    if kp.ndim != 2 or kp.shape[1] < 2 or len(sc) != len(kp):
      _fail(f'keypoints {kp.shape} / keypoint_scores {sc.shape} do not '
            'match', src, f)
    track = inst.get('track_id', -1)
    try:
      track = int(track)
    except (TypeError, ValueError):
      track = -1
    rows.append((kp[:, :2], sc, frame, track, (0, 0), f'{name}#{k}'))


def read_mmpose(path) -> Detections:
  """MMPose inferencer predictions (one JSON, or a folder of them)."""
  p = pathlib.Path(path)
  files = _json_files(p, 'MMPose predictions')
  rows: list[tuple] = []
  for order, f in enumerate(files):
    doc = _load_json(f)
    if isinstance(doc, dict) and 'instance_info' in doc:
      doc = doc['instance_info']
    if not isinstance(doc, list):
      _fail('expected a list of instances or of frames', f, 'json')
    if doc and isinstance(doc[0], dict) and 'instances' in doc[0]:
      for i, fr in enumerate(doc):
        frame = int(fr.get('frame_id', i))
        _mmpose_instances(fr.get('instances'), f, f'[{i}].instances', frame,
                          f'{f.name}:{frame}', rows)
    else:
      frame = _frame_number(f.name, order) if len(files) > 1 else 0
      _mmpose_instances(doc, f, 'instances', frame, f.name, rows)
  if not rows:
    _fail('no instances', p, 'instances')
  counts = {len(r[0]) for r in rows}
  if len(counts) > 1 or next(iter(counts)) not in (17, 26, 133):
    _fail(f'{sorted(counts)} keypoints per instance: expected 17 (COCO), 26 '
          '(Halpe) or 133 (COCO-WholeBody)', p, 'keypoints')
  name, keep = _BY_COUNT[counts.pop()]
  rows = [(r[0][:keep], r[1][:keep]) + r[2:] for r in rows]
  return _finish(rows, name, p, 'mmpose', keep)


# ------------------------------------------------------------ MediaPipe
def _landmarks(value, src, field) -> list[np.ndarray]:
  """People in one frame: a list of [33, 5] (x, y, z, visibility, presence)."""
  if isinstance(value, dict):
    for key in ('pose_landmarks', 'landmark', 'landmarks'):
      if key in value:
        return _landmarks(value[key], src, f'{field}.{key}')
    _fail('no "pose_landmarks" / "landmark" list', src, field)
  if not isinstance(value, list):
    _fail('expected a list of landmarks', src, field)
  if not value:
    return []
  if isinstance(value[0], dict) and 'x' in value[0]:
    out = np.full((len(value), 5), np.nan)
    for j, lm in enumerate(value):
      if not isinstance(lm, dict):
        _fail(f'landmark {j} is not an object', src, field)
      for c, key in enumerate(('x', 'y', 'z', 'visibility', 'presence')):
        if key in lm and lm[key] is not None:
          out[j, c] = float(lm[key])
    if len(out) != 33:
      _fail(f'{len(out)} landmarks: MediaPipe Pose has 33', src, field)
    return [out]
  people = []
  for k, person in enumerate(value):
    people.extend(_landmarks(person, src, f'{field}[{k}]'))
  return people


def read_mediapipe(path, *, image_width: int = 0,
                   image_height: int = 0) -> Detections:
  """MediaPipe Pose landmarks saved as JSON (normalised coordinates)."""
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f'MediaPipe landmarks not found: {p}')
  doc = _load_json(p)
  top_w = top_h = 0
  if isinstance(doc, dict) and 'frames' in doc:
    top_w, top_h = doc.get('image_width', 0), doc.get('image_height', 0)
    doc = doc['frames']
  elif isinstance(doc, dict):
    doc = [doc]
  if not isinstance(doc, list):
    _fail('expected a list of frames', p, 'frames')
  # A bare list of 33 landmarks is one frame.
  if doc and isinstance(doc[0], dict) and 'x' in doc[0]:
    doc = [doc]
  rows = []
  for i, fr in enumerate(doc):
    w = h = 0
    frame = i
    if isinstance(fr, dict):
      w, h = fr.get('image_width', 0), fr.get('image_height', 0)
      frame = int(fr.get('frame', fr.get('frame_index', i)))
    w = w or top_w or image_width
    h = h or top_h or image_height
    people = _landmarks(fr, p, f'frames[{i}]')
    if people and not (w > 0 and h > 0):
      _fail('MediaPipe x, y are fractions of the image: give its size '
            '(--config.lift.image_width/image_height, or "image_width"/'
            '"image_height" in the file)', p, 'image_width')
    for k, lm in enumerate(people):
      kp = lm[:, :2] * np.array([w, h], np.float64)
      vis = lm[:, 3]
      conf = np.where(np.isfinite(vis), vis,
                      np.where(np.isfinite(lm[:, 4]), lm[:, 4], 1.0))
      rows.append((kp, conf, frame, -1, (w, h), f'frame{frame}#{k}'))
  if not rows:
    _fail('no landmarks in any frame', p, 'frames')
  return _finish(rows, 'mediapipe33', p, 'mediapipe', 33)


# ----------------------------------------------------------- DeepLabCut
def _norm_name(name: str) -> str:
  """A spelling-free key: 'LeftShoulder', 'left_shoulder', 'L_Shoulder',
  'LShoulder' and the layouts' 'l_shoulder' all give 'lshoulder'."""
  n = re.sub(r'[^a-z0-9]', '', name.lower())
  return re.sub(r'^(left|right)', lambda m: m.group(1)[0], n)


def _dlc_layout(parts: Sequence[str], layout: str | None, src) -> tuple[
    str, list[int]]:
  """The layout and, per layout joint, its body part index (-1: absent)."""
  normed = [_norm_name(x) for x in parts]
  candidates = list(dict.fromkeys(
      ([layout] if layout else []) +
      ['coco17', 'h36m17', 'halpe26', 'body25', 'body25b', 'coco18',
       'mediapipe33', 'lsp14', 'syrip12']))
  best = None
  for name in candidates:
    lay = skeleton.get_layout(name, source=str(src), field='lift.layout')
    keys = [_norm_name(j) for j in lay.joint_names]
    idx = [normed.index(k) if k in normed else -1 for k in keys]
    missing = [j for j, i in zip(lay.joint_names, idx) if i < 0]
    if not missing:
      return name, idx
    if best is None or len(missing) < len(best[1]):
      best = (name, missing)
  _fail(f'body parts {list(parts)} do not name the joints of layout '
        f'{best[0]!r} (missing {best[1]}); rename them in the DeepLabCut '
        'project or set --config.lift.layout', src, 'bodyparts')


def read_deeplabcut(path, *, layout: str | None = None) -> Detections:
  """DeepLabCut CSV (single- or multi-animal)."""
  import csv  # pylint: disable=g-import-not-at-top
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f'DeepLabCut CSV not found: {p}')
  with open(p, newline='', encoding='utf-8') as f:
    table = list(csv.reader(f))
  heads = {}
  r = 0
  while r < len(table) and table[r] and table[r][0] in (
      'scorer', 'individuals', 'bodyparts', 'coords'):
    heads[table[r][0]] = table[r]
    r += 1
  if 'bodyparts' not in heads or 'coords' not in heads:
    _fail('no "bodyparts" and "coords" header rows (not a DeepLabCut CSV)',
          p, 'header')
  coords = heads['coords']
  cols = [c for c, v in enumerate(coords) if v in ('x', 'y', 'likelihood')]
  if not cols:
    _fail('no x / y / likelihood columns', p, 'coords')
  inds = heads.get('individuals')
  groups: dict[tuple[str, str], dict[str, int]] = {}
  for c in cols:
    who = inds[c] if inds else ''
    groups.setdefault((who, heads['bodyparts'][c]), {})[coords[c]] = c
  individuals = list(dict.fromkeys(w for w, _ in groups))
  parts = list(dict.fromkeys(b for _, b in groups))
  name, idx = _dlc_layout(parts, layout, p)
  first = cols[0]
  rows = []
  for line, row in enumerate(table[r:], start=r + 1):
    if not row or not any(v.strip() for v in row):
      continue
    try:
      frame = int(float(row[0])) if first > 0 else line - r - 1
    except ValueError:
      frame = _frame_number(row[0], line - r - 1)
    for t, who in enumerate(individuals):
      kp = np.zeros((len(idx), 2))
      conf = np.zeros(len(idx))
      for j, b in enumerate(idx):
        g = groups.get((who, parts[b]))
        if g is None or 'x' not in g or 'y' not in g:
          continue
        try:
          x = float(row[g['x']]) if row[g['x']].strip() else np.nan
          y = float(row[g['y']]) if row[g['y']].strip() else np.nan
          lk = (float(row[g['likelihood']]) if 'likelihood' in g
                and row[g['likelihood']].strip() else 1.0)
        except (ValueError, IndexError):
          _fail(f'line {line}: not a number', p, parts[b])
        if np.isfinite(x) and np.isfinite(y):
          kp[j] = (x, y)
          conf[j] = lk
      if not conf.any():
        continue  # this individual is absent in this frame
      rows.append((kp, conf, frame, t if inds else -1, (0, 0),
                   f'{p.name}:{frame}' + (f':{who}' if who else '')))
  if not rows:
    _fail('no frames with detections', p, 'rows')
  return _finish(rows, name, p, 'deeplabcut', len(idx))


# ------------------------------------------------------------ dispatch
def _json_kind(doc: Any) -> str | None:
  if isinstance(doc, dict):
    if isinstance(doc.get('people'), list):
      return 'openpose'
    if 'images' in doc or 'annotations' in doc:
      return 'coco'
    if 'instance_info' in doc:
      return 'mmpose'
    if any(k in doc for k in ('pose_landmarks', 'landmark', 'landmarks',
                              'frames')):
      return 'mediapipe'
    return None
  if not isinstance(doc, list) or not doc:
    return None
  first = doc[0]
  if isinstance(first, list) and first and isinstance(first[0], dict) and (
      'x' in first[0]):
    return 'mediapipe'
  if not isinstance(first, dict):
    return None
  if 'instances' in first:
    return 'mmpose'
  if 'x' in first and 'y' in first:
    return 'mediapipe'
  if any(k in first for k in ('pose_landmarks', 'landmark', 'landmarks')):
    return 'mediapipe'
  if 'keypoint_scores' in first:
    return 'mmpose'
  if 'image_id' in first and 'keypoints' in first:
    ap = any(isinstance(d, dict) and (
        isinstance(d.get('image_id'), str) or 'idx' in d or 'box' in d)
             for d in doc)
    return 'alphapose' if ap else 'coco'
  return None


def detect_format(path) -> str:
  """'openpose' | 'alphapose' | 'mmpose' | 'mediapipe' | 'deeplabcut' |
  'coco' | 'array', from the file's (or folder's) content.

  Raises:
    InputError: naming the file when the content fits no known format.
  """
  p = pathlib.Path(path)
  if not p.exists():
    raise FileNotFoundError(f'lift input not found: {p}')
  hint = (' set --config.lift.format to one of: ' + ', '.join(
      FORMATS + ('coco', 'array')))
  if p.is_dir():
    files = sorted(p.glob('*.json'))
    if not files:
      _fail('a folder without *.json files: cannot tell its format;' + hint,
            p, 'lift.format')
    kind = _json_kind(_load_json(files[0]))
    if kind in ('openpose', 'mmpose'):
      return kind
    _fail(f'cannot tell the format of {files[0].name} in this folder;' +
          hint, p, 'lift.format')
  suffix = p.suffix.lower()
  if suffix in ('.npy', '.npz'):
    return 'array'
  if suffix == '.csv':
    with open(p, encoding='utf-8', errors='replace') as f:
      head = f.readline()
    if head.startswith('scorer'):
      return 'deeplabcut'
    _fail('a CSV whose first row is not "scorer,..." (DeepLabCut): cannot '
          'tell its format;' + hint, p, 'lift.format')
  if suffix == '.json':
    kind = _json_kind(_load_json(p))
    if kind:
      return kind
  _fail('cannot tell the format from the content;' + hint, p, 'lift.format')


def read(path, fmt: str = 'auto', *, layout: str | None = None,
         image_width: int = 0, image_height: int = 0) -> Detections:
  """Reads detector output in `fmt` ('auto': `detect_format`).

  `layout` resolves what a file cannot tell (25-joint OpenPose, DeepLabCut
  body parts); formats that carry their layout ignore it. COCO JSON and
  arrays are read by `zedoi_jax.lift_inputs.load_input`, not here.
  """
  if fmt == 'auto':
    fmt = detect_format(path)
  if fmt == 'openpose':
    return read_openpose(path, layout=layout)
  if fmt == 'alphapose':
    return read_alphapose(path)
  if fmt == 'mmpose':
    return read_mmpose(path)
  if fmt == 'mediapipe':
    return read_mediapipe(path, image_width=image_width,
                          image_height=image_height)
  if fmt == 'deeplabcut':
    return read_deeplabcut(path, layout=layout)
  raise InputError(f'unknown format {fmt!r}; known: auto, '
                   f'{", ".join(FORMATS)}, coco, array', source=str(path),
                   field='lift.format')
