"""SyRIP real-700: the per-image join of 2D labels, 2D detections and 3D.

ZeDO-i adapts and evaluates on SyRIP's 700 real infant images. The data a
user can get are the original files of the public repository
`ostadabbas/Infant-Postural-Symmetry` (commit `COMMIT`): COCO-17 2D ground
truth (per split and merged), FiDIP 2D detections, and hand-corrected 3D
(LSP-14, metres, "weak ground truth": corrected model output). This module
rebuilds the one-row-per-image table from those files (`load_syrip`),
defines the evaluation split (`split_indices`), and fetches the files
(`prepare`: download by URL with sha256 checks, or copy from a local folder).

The join, worked out from the files:
- Row order is `img_name700_map.npy` ([700, 2]: 3D-file image name
  'image_XXXXX.jpg', original SyRIP name): SyRIP's train200 first, then its
  validate500 ('test500' here).
- Row r is the merged COCO file's image with `file_name` 'test{r}.jpg'
  (its `original_file_name` must equal the map's); its annotation gives the
  2D ground truth and bbox, its image the size and posture.
- The split comes from membership in the per-split COCO files (train200 /
  validate500), whose keypoints must equal the merged file's.
- FiDIP detections are matched by the merged file's `image_id`.
- 3D rows follow `output_imgnames.npy` (paths like 'GB/image_00000.jpg'),
  matched by the map's 3D-file name.

NaN policy: the published files hold no NaN (unlabelled keypoints have
visibility 0 and finite coordinates), so NaN/inf in any keypoint, bbox or
3D row of the 700 real images means a damaged file: an `InputError`.
(Rows of `correct_3D.npy` outside the 700 are not checked.)
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

PathLike = str | os.PathLike

# The repository commit the files and checksums come from.
REPOSITORY = 'ostadabbas/Infant-Postural-Symmetry'
COMMIT = 'ad7c237da9acd6db8f72dc09178165039575278f'

# Flat file name (as `prepare` writes them) -> (path in the repository,
# sha256 of the file at `COMMIT`).
FILES = {
    'correct_3D.npy': (
        'data/SyRIP_3d_correction/correct_3D.npy',
        'd446734b815b6e581e2b94f8b989a229eb51e6593c285cb9f641a8aa61dd3d6e'),
    'output_pose_3D.npy': (
        'data/SyRIP_3d_pred/output_pose_3D.npy',
        '15ab13b81d39e8a455c901df2a984e0ec00fa1260876ea8f09a0c314394e12b2'),
    'output_imgnames.npy': (
        'data/SyRIP_3d_pred/output_imgnames.npy',
        '5c56ab3f08c41ea530f79eab138f99a935e2244417934f80a73f391a65371f52'),
    'img_name700_map.npy': (
        'data/survey_data/img_name700_map.npy',
        '8eaf921537794ccdbde36477d315badaddb30d8c399f5314a489bb2e901fd3e1'),
    'person_keypoints_train200_infant.json': (
        'data/SyRIP_2d_gt/train200/person_keypoints_train_infant.json',
        '0a96d2b408fe2adef163957fb97a8f3e9215b476d68a41d710b80224751968de'),
    'person_keypoints_validate500_infant.json': (
        'data/SyRIP_2d_gt/validate500/person_keypoints_validate_infant.json',
        'a0178f7df8a00dc325362edcecfe00ea7d0e635a1e6d89dcfd773adda7dc4950'),
    'person_keypoints_real700_merged.json': (
        'data/survey_data/annotations/SyRIP_validate700/'
        'person_keypoints_validate_infant.json',
        '05afd2f4630b0902dd0833def2fb4b7c94932745fbc184b9fe1fd8a2b85c5a3c'),
    'fidip_pred2d_real700.json': (
        'data/SyRIP_2d_pred/keypoints_validate_infant_results_0.json',
        'de164cb840ddf8e61e21151e4d1dd8acb6866eccac287006c21afd0484d6f390'),
}

NUM_IMAGES = 700

# Fields of the table `load_syrip` returns, in order.
FIELDS = ('original_file_name', 'merged_file_name', 'name_in_3d_files',
          'split', 'posture', 'image_wh', 'bbox_xywh', 'gt2d_coco17',
          'pred2d_fidip_coco17', 'gt3d_corrected_lsp14', 'pred3d_hwhup_lsp14')


def file_url(name: str) -> str:
  """The raw.githubusercontent.com URL of one original file at `COMMIT`."""
  if name not in FILES:
    raise ValueError(f'unknown SyRIP file {name!r}; known: {list(FILES)}')
  return (f'https://raw.githubusercontent.com/{REPOSITORY}/{COMMIT}/'
          f'{FILES[name][0]}')


def find_file(root: PathLike, name: str) -> pathlib.Path:
  """Locates one original file under `root`, in either layout.

  Args:
    root: a folder holding the files either as in the repository
      (`root/data/SyRIP_3d_correction/correct_3D.npy`, ...) or flat under
      the names of `FILES` (`root/correct_3D.npy`, ...).
    name: a key of `FILES`.

  Returns:
    The file's path.

  Raises:
    FileNotFoundError: naming both places looked at.
  """
  root = pathlib.Path(root)
  candidates = [root / FILES[name][0], root / name]
  for c in candidates:
    if c.is_file():
      return c
  raise FileNotFoundError(
      f'SyRIP file {name} not found: looked for {candidates[0]} and '
      f'{candidates[1]}. Get it with zedoi_jax.data.syrip.prepare(dest) or '
      f'from {file_url(name)}')


def sha256(path: PathLike) -> str:
  """Hex sha256 of a file (streamed: `hashlib.file_digest`, Python >= 3.11)."""
  with open(path, 'rb') as f:
    if hasattr(hashlib, 'file_digest'):
      return hashlib.file_digest(f, 'sha256').hexdigest()
    h = hashlib.sha256()  # Python 3.10: stream it by hand.
    for block in iter(lambda: f.read(1 << 20), b''):
      h.update(block)
    return h.hexdigest()


def _coco_by_image(coco: Any, src: str) -> tuple[dict, dict]:
  """(image id -> image dict, image id -> annotation dict), one each.

  Checks what the join relies on: integer ids, text file names, and one
  annotation with keypoints per image.
  """
  if not isinstance(coco, dict) or not {'images', 'annotations'} <= set(coco):
    raise InputError('expected a COCO dict with "images" and "annotations"',
                     source=src, field='images')
  for key in ('images', 'annotations'):
    if not isinstance(coco[key], list):
      raise InputError('expected a list', source=src, field=key)
  images, anns = {}, {}
  for i, im in enumerate(coco['images']):
    if not isinstance(im, dict):
      raise InputError('expected an object', source=src, field=f'images[{i}]')
    for key in ('id', 'file_name', 'width', 'height'):
      if key not in im:
        raise InputError(f'image {i} has no {key!r}', source=src,
                         field=f'images[{i}].{key}')
    checks.finite_number(im['id'], source=src, field=f'images[{i}].id',
                         integer=True)
    for key in ('file_name', 'original_file_name'):
      if not isinstance(im.get(key, ''), str):
        raise InputError(f'expected text, got {im[key]!r}', source=src,
                         field=f'images[{i}].{key}')
    for key in ('width', 'height'):
      checks.finite_number(im[key], source=src, field=f'images[{i}].{key}',
                           integer=True, minimum=1,
                           maximum=np.iinfo(np.int32).max)
    images[im['id']] = im
  for i, a in enumerate(coco['annotations']):
    if not isinstance(a, dict) or 'image_id' not in a or 'keypoints' not in a:
      raise InputError(f'annotation {i} lacks image_id or keypoints',
                       source=src, field=f'annotations[{i}]')
    checks.finite_number(a['image_id'], source=src,
                         field=f'annotations[{i}].image_id', integer=True)
    if a['image_id'] in anns:
      raise InputError(f'image {a["image_id"]} has more than one annotation;'
                       ' SyRIP has one infant per image', source=src,
                       field=f'annotations[{i}].image_id')
    anns[a['image_id']] = a
  return images, anns


def _keypoints(values: Any, src: str, field: str) -> np.ndarray:
  arr = checks.check_array(values, source=src, field=field, shape=(51,))
  return checks.to_float32(arr.reshape(17, 3), source=src, field=field)


def load_syrip(root: PathLike) -> dict[str, np.ndarray]:
  """Joins SyRIP's original files into one row per real image.

  Args:
    root: folder with the original files (repository `data/...` layout or
      the flat names of `FILES`; see `find_file`).

  Returns:
    Dict of numpy arrays, 700 rows in `img_name700_map.npy` order:
      original_file_name [700] str: SyRIP name ('train00001.jpg', 'test0.jpg').
      merged_file_name [700] str: name in the merged file ('test{row}.jpg').
      name_in_3d_files [700] str: 'image_XXXXX.jpg' of the 3D files.
      split [700] str: 'train200' | 'test500' (SyRIP's train200 /
        validate500).
      posture [700] str: Supine | Prone | Sitting | Standing.
      image_wh [700, 2] int32 pixels.
      bbox_xywh [700, 4] float32 pixels.
      gt2d_coco17 [700, 17, 3] float32: (x, y) pixels, visibility, COCO-17
        order (nose, l_eye, r_eye, l_ear, r_ear, l_shoulder, r_shoulder,
        l_elbow, r_elbow, l_wrist, r_wrist, l_hip, r_hip, l_knee, r_knee,
        l_ankle, r_ankle).
      pred2d_fidip_coco17 [700, 17, 3] float32: FiDIP (x, y) pixels, score
        (a heatmap peak: mostly in (0, 1], about 4% up to ~1.16; clip it
        before using it as a confidence in [0, 1]).
      gt3d_corrected_lsp14 [700, 14, 3] float32 metres, camera-aligned
        (x right, y down, z away), not root-centred, LSP-14 order (r_ankle,
        r_knee, r_hip, l_hip, l_knee, l_ankle, r_wrist, r_elbow,
        r_shoulder, l_shoulder, l_elbow, l_wrist, neck, head_top). Weak
        ground truth: hand-corrected model output.
      pred3d_hwhup_lsp14 [700, 14, 3] float32 metres: the uncorrected HW-HuP
        predictions, root-relative, LSP-14 order.

  Raises:
    FileNotFoundError: naming a missing file.
    InputError: naming the file and field when the files do not join
      (missing image, mismatched names or keypoints, bad shapes, NaN).
  """
  path = {name: find_file(root, name) for name in FILES}

  # Row order and names.
  src = str(path['img_name700_map.npy'])
  name_map = checks.check_array(
      checks.load_npy(src, 'SyRIP image name map'), source=src,
      field='img_name700_map', shape=(NUM_IMAGES, 2), dtype_kind='U')
  name_3d = [str(s) for s in name_map[:, 0]]
  original = [str(s) for s in name_map[:, 1]]

  # Merged COCO file: row r is file_name 'test{r}.jpg'.
  src = str(path['person_keypoints_real700_merged.json'])
  images, anns = _coco_by_image(
      checks.load_json(src, 'SyRIP merged real-700 COCO keypoints'), src)
  by_name = {im['file_name']: im for im in images.values()}
  merged = []
  for r in range(NUM_IMAGES):
    im = by_name.get(f'test{r}.jpg')
    if im is None:
      raise InputError(f'no image with file_name test{r}.jpg (row {r})',
                       source=src, field='images.file_name')
    if im.get('original_file_name') != original[r]:
      raise InputError(
          f'test{r}.jpg is {im.get("original_file_name")!r}, but row {r} of '
          f'img_name700_map.npy is {original[r]!r}', source=src,
          field='images.original_file_name')
    if im['id'] not in anns:
      raise InputError(f'no annotation for image id {im["id"]} '
                       f'(test{r}.jpg)', source=src, field='annotations')
    merged.append(im)
  gt2d = np.stack([_keypoints(anns[im['id']]['keypoints'], src,
                              f'annotations[image_id={im["id"]}].keypoints')
                   for im in merged])
  bbox = checks.to_float32(np.stack([
      checks.check_array(anns[im['id']].get('bbox'), source=src,
                         field=f'annotations[image_id={im["id"]}].bbox',
                         shape=(4,)) for im in merged]), source=src,
                           field='annotations.bbox')
  image_wh = checks.check_array(
      [[im['width'], im['height']] for im in merged], source=src,
      field='images.width/height', shape=(NUM_IMAGES, 2),
      dtype_kind='i').astype(np.int32)
  posture = [str(im.get('posture', '')) for im in merged]

  # Split from the per-split files; their labels must equal the merged ones.
  row_of = {n: r for r, n in enumerate(original)}
  split = [''] * NUM_IMAGES
  for fname, label in (('person_keypoints_train200_infant.json', 'train200'),
                       ('person_keypoints_validate500_infant.json',
                        'test500')):
    src_s = str(path[fname])
    ims_s, anns_s = _coco_by_image(
        checks.load_json(src_s, f'SyRIP {label} COCO keypoints'), src_s)
    for im in ims_s.values():
      name = im.get('original_file_name', im['file_name'])
      r = row_of.get(name)
      if r is None:
        raise InputError(f'image {name!r} is not among the 700 of '
                         'img_name700_map.npy', source=src_s,
                         field='images.original_file_name')
      if split[r]:
        raise InputError(f'image {name!r} is in both splits', source=src_s,
                         field='images.original_file_name')
      split[r] = label
      if im['id'] not in anns_s:
        raise InputError(f'no annotation for image id {im["id"]} '
                         f'({name!r})', source=src_s, field='annotations')
      kp = _keypoints(anns_s[im['id']]['keypoints'], src_s,
                      f'annotations[image_id={im["id"]}].keypoints')
      if not np.array_equal(kp, gt2d[r]):
        raise InputError(f'keypoints of {name!r} differ from the merged '
                         f'file ({src})', source=src_s, field='keypoints')
  unassigned = [original[r] for r in range(NUM_IMAGES) if not split[r]]
  if unassigned:
    raise InputError(f'{len(unassigned)} images are in neither split file, '
                     f'e.g. {unassigned[:3]}', source=str(root),
                     field='split')

  # FiDIP detections by the merged file's image id.
  src = str(path['fidip_pred2d_real700.json'])
  preds = checks.load_json(src, 'FiDIP 2D detections')
  if not isinstance(preds, list):
    raise InputError('expected a list of detections', source=src,
                     field='(top level)')
  pred_by_id = {}
  for i, e in enumerate(preds):
    if not isinstance(e, dict) or 'image_id' not in e or 'keypoints' not in e:
      raise InputError(f'entry {i} lacks image_id or keypoints', source=src,
                       field=f'[{i}]')
    checks.finite_number(e['image_id'], source=src, field=f'[{i}].image_id',
                         integer=True)
    pred_by_id[e['image_id']] = e
  missing = [im['id'] for im in merged if im['id'] not in pred_by_id]
  if missing:
    raise InputError(f'no detection for {len(missing)} image ids, e.g. '
                     f'{missing[:3]}', source=src, field='image_id')
  pred2d = np.stack([_keypoints(pred_by_id[im['id']]['keypoints'], src,
                                f'[image_id={im["id"]}].keypoints')
                     for im in merged])

  # 3D rows by image name.
  src = str(path['output_imgnames.npy'])
  names = checks.check_array(checks.load_npy(src, 'SyRIP 3D row names'),
                             source=src, field='output_imgnames',
                             shape=(None,), dtype_kind='U')
  row_3d = {str(n).replace('\\', '/').rsplit('/', 1)[-1]: i
            for i, n in enumerate(names)}
  missing = [n for n in name_3d if n not in row_3d]
  if missing:
    raise InputError(f'{len(missing)} images of img_name700_map.npy have no '
                     f'3D row, e.g. {missing[:3]}', source=src,
                     field='output_imgnames')
  rows = np.array([row_3d[n] for n in name_3d])
  poses = {}
  for fname, key in (('correct_3D.npy', 'gt3d_corrected_lsp14'),
                     ('output_pose_3D.npy', 'pred3d_hwhup_lsp14')):
    src_3 = str(path[fname])
    arr = checks.check_array(checks.load_npy(src_3, 'SyRIP 3D poses'),
                             source=src_3, field=fname,
                             shape=(len(names), 14, 3), finite=False)
    field = f'{fname} (the 700 real rows)'
    sel = checks.check_array(arr[rows], source=src_3, field=field)
    poses[key] = checks.to_float32(sel, source=src_3, field=field)
  flat = np.all(poses['gt3d_corrected_lsp14'] == 0, axis=(1, 2))
  if flat.any():
    raise InputError(f'{int(flat.sum())} real images have an all-zero '
                     f'corrected 3D pose, e.g. {name_3d[int(np.argmax(flat))]}',
                     source=str(path['correct_3D.npy']), field='correct_3D')

  return {
      'original_file_name': np.array(original),
      'merged_file_name': np.array([im['file_name'] for im in merged]),
      'name_in_3d_files': np.array(name_3d),
      'split': np.array(split),
      'posture': np.array(posture),
      'image_wh': image_wh,
      'bbox_xywh': bbox,
      'gt2d_coco17': gt2d,
      'pred2d_fidip_coco17': pred2d,
      'gt3d_corrected_lsp14': poses['gt3d_corrected_lsp14'],
      'pred3d_hwhup_lsp14': poses['pred3d_hwhup_lsp14'],
  }


# The validation split: a fixed 100 of the 500 adaptation images (SyRIP's
# validate500), drawn once by this seed. Every fit and adaptation knob is
# chosen on it; 'adapt' (the other 400) is what adaptation trains on, and
# 'test' (train200) is scored once per shipped model.
VAL_SEED = 20261201
NUM_VAL = 100


def split_indices(data: Mapping[str, np.ndarray], split: str) -> np.ndarray:
  """Row indices of one split, under the ZeDO-i release's protocol.

  The ZeDO-i release evaluates on the 200 images of SyRIP's `train200`
  folder and adapts on the other 500 (SyRIP's validate500): so here 'test'
  is SyRIP's train200 and 'train' its validate500 ('test500'), the reverse
  of SyRIP's own names. State this split beside every SyRIP number.
  For validation discipline the 500 are cut once more: 'val' is a fixed 100
  of them (`VAL_SEED`), 'adapt' the other 400; 'val' and 'adapt' are
  disjoint, their union is 'train', and neither meets 'test'.

  Args:
    data: the dict from `load_syrip` (needs 'split').
    split: 'test' (the 200 train200 images), 'train' (the 500 test500
      images), 'val' (100 of those 500), 'adapt' (the other 400) or 'all'.

  Returns:
    [N] int64 row indices, ascending.
  """
  labels = np.asarray(data['split'])
  if split == 'test':
    return np.flatnonzero(labels == 'train200')
  if split in ('train', 'val', 'adapt'):
    rows = np.flatnonzero(labels == 'test500')
    if split == 'train':
      return rows
    pick = np.zeros(len(rows), bool)
    pick[np.random.RandomState(VAL_SEED).permutation(len(rows))[:NUM_VAL]] = True
    return rows[pick] if split == 'val' else rows[~pick]
  if split == 'all':
    return np.arange(len(labels))
  raise ValueError("split must be 'test', 'train', 'val', 'adapt' or 'all', "
                   f'got {split!r}')


def _verify(path: pathlib.Path, name: str, origin: str) -> None:
  got = sha256(path)
  want = FILES[name][1]
  if got != want:
    raise InputError(
        f'sha256 mismatch for {name} (from {origin}): expected {want}, got '
        f'{got}. The file is corrupt, truncated, a different version than '
        f'commit {COMMIT[:7]}, or a Git LFS pointer', source=origin,
        field='sha256')


def prepare(dest: PathLike, *, source: PathLike | None = None,
            urls: Mapping[str, str] | None = None,
            timeout: float = 60.0) -> pathlib.Path:
  """Puts SyRIP's original files into `dest`, checked by sha256.

  Files already in `dest` with the right checksum are kept. Each new file is
  written under a temporary name and renamed only after its checksum
  matches, so `dest` never holds a partial or wrong file.

  Args:
    dest: target folder (created); files are written under the flat names
      of `FILES`.
    source: a local folder holding the original files (either layout, see
      `find_file`): they are verified and copied. No network is used.
    urls: optional {flat name: URL} overrides for downloads (mirrors,
      file:// URLs); files not named use `file_url(name)` on
      raw.githubusercontent.com at `COMMIT`. Not with `source`.
    timeout: seconds per download.

  Returns:
    `dest` as a Path, ready for `load_syrip(dest)`.

  Raises:
    FileNotFoundError: a missing `source` folder, or a file missing from it.
    InputError: a checksum mismatch (names the file and both hashes).
    ConnectionError: a download failed; the message says how to download
      the files by hand and pass `source=`.
  """
  if source is not None and urls is not None:
    raise ValueError('pass either source= (local files) or urls= '
                     '(downloads), not both')
  if source is not None:
    checks.require_dir(source, 'SyRIP source (original files)')
  dest = pathlib.Path(dest)
  dest.mkdir(parents=True, exist_ok=True)
  urls = dict(urls or {})
  unknown = set(urls) - set(FILES)
  if unknown:
    raise ValueError(f'urls has unknown file names {sorted(unknown)}; known:'
                     f' {list(FILES)}')
  for name in FILES:
    target = dest / name
    if target.is_file() and sha256(target) == FILES[name][1]:
      continue
    fd, tmp_name = tempfile.mkstemp(prefix=f'.{name}.', dir=dest)
    os.close(fd)
    tmp = pathlib.Path(tmp_name)
    try:
      if source is not None:
        origin = find_file(source, name)
        shutil.copyfile(origin, tmp)
        origin = str(origin)
      else:
        origin = urls.get(name, file_url(name))
        _download(origin, tmp, name, timeout)
      _verify(tmp, name, origin)
      os.replace(tmp, target)
    finally:
      tmp.unlink(missing_ok=True)
  return dest


def _download(url: str, target: pathlib.Path, name: str,
              timeout: float) -> None:
  try:
    with urllib.request.urlopen(url, timeout=timeout) as response, \
        open(target, 'wb') as out:
      shutil.copyfileobj(response, out)
  except (urllib.error.URLError, OSError, ValueError) as e:
    manual = '\n'.join(f'  {file_url(n)}' for n in FILES)
    raise ConnectionError(
        f'could not download SyRIP file {name} from {url}: {e}. Download '
        f'the original files by hand (e.g. clone github.com/{REPOSITORY} at '
        f'commit {COMMIT}, or fetch these URLs):\n{manual}\nthen call '
        'prepare(dest, source=<folder holding them>) (either the '
        "repository's data/... layout or flat file names).") from e
