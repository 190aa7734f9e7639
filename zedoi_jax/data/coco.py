"""COCO-17 keypoint JSON: ground-truth datasets and detection results.

2D input for fitting usually arrives as COCO JSON: either a dataset file
(`images`, `annotations`, `categories`; 17 x (x, y, v) per person) or a
detector's results file (a list of `{image_id, keypoints, score, ...}`, as
COCO's evaluation tools and most pose detectors write it). This module reads
both into flat numpy arrays, one row per person, and checks them, naming the
file and the annotation index on errors.

Keypoint order is COCO-17: nose, l_eye, r_eye, l_ear, r_ear, l_shoulder,
r_shoulder, l_elbow, r_elbow, l_wrist, r_wrist, l_hip, r_hip, l_knee,
r_knee, l_ankle, r_ankle.

NaN policy. A missing keypoint is a data problem the fit already handles
through the confidence, so it is not an error: a keypoint whose third value
(visibility or score) is NaN, or whose x or y is NaN/inf while its third
value is <= 0, is read as missing: confidence 0 and (x, y) set to 0. (JSON
has no NaN, but Python's json and many detectors write the token `NaN`.)
A non-finite x or y with a positive third value (the file says the keypoint
is there but gives no position), or an infinite third value, is an
`InputError`, as are values too large for float32.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from zedoi_jax.data import checks
from zedoi_jax.errors import InputError

PathLike = str | os.PathLike

NUM_KEYPOINTS = 17


# Image ids are stored as int64.
_INT64_MAX = int(np.iinfo(np.int64).max)
_INT32_MAX = int(np.iinfo(np.int32).max)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _image_id(value: Any, src: str, field: str) -> int:
  return checks.finite_number(value, source=src, field=field, integer=True,
                              minimum=-_INT64_MAX, maximum=_INT64_MAX)


def _image_table(images: Any, src: str) -> dict[int, tuple[int, int, str]]:
  """image id -> (width, height, file_name), 0/'' where unknown."""
  if not isinstance(images, list):
    raise InputError('expected a list of images', source=src, field='images')
  table = {}
  for i, im in enumerate(images):
    if not isinstance(im, dict) or 'id' not in im:
      raise InputError(f'image {i} has no "id"', source=src,
                       field=f'images[{i}].id')
    image_id = _image_id(im['id'], src, f'images[{i}].id')
    w, h = (int(checks.finite_number(
        im.get(key, 0), source=src, field=f'images[{i}].{key}', minimum=0,
        maximum=_INT32_MAX)) for key in ('width', 'height'))
    table[image_id] = (w, h, str(im.get('file_name', '')))
  return table


def _keypoint_category(categories: Any, src: str) -> Any | None:
  """The id of the category with keypoint names (checked to be 17)."""
  if categories is None:
    return None
  if not isinstance(categories, list):
    raise InputError('expected a list of categories', source=src,
                     field='categories')
  with_kp = [(i, c) for i, c in enumerate(categories)
             if isinstance(c, dict) and c.get('keypoints')]
  if not with_kp:
    return None
  if len(with_kp) > 1:
    raise InputError(f'{len(with_kp)} categories have keypoints; expected '
                     'one (person)', source=src, field='categories')
  i, cat = with_kp[0]
  names = cat['keypoints']
  if not isinstance(names, list) or len(names) != NUM_KEYPOINTS:
    count = len(names) if isinstance(names, list) else repr(names)
    raise InputError(f'{count} keypoint names; COCO-17 needs a list of '
                     f'{NUM_KEYPOINTS}', source=src,
                     field=f'categories[{i}].keypoints')
  return cat.get('id')


def _keypoints(values: Any, src: str, field: str) -> np.ndarray:
  """[17, 3] float64 (x, y, third value), missing keypoints zeroed.

  Applies the module's NaN policy: missing keypoints come back as
  (0, 0, 0); contradictory or infinite values raise InputError.
  """
  kp = checks.check_array(values, source=src, field=field,
                          shape=(3 * NUM_KEYPOINTS,), finite=False)
  kp = kp.astype(np.float64).reshape(NUM_KEYPOINTS, 3)
  third = kp[:, 2]
  bad_xy = ~np.all(np.isfinite(kp[:, :2]), axis=1)
  with np.errstate(invalid='ignore'):
    missing = np.isnan(third) | (bad_xy & (third <= 0))
  wrong = (bad_xy & ~missing) | np.isinf(third)
  if wrong.any():
    j = int(np.argmax(wrong))
    raise InputError(
        f'keypoint {j}: non-finite value(s) {kp[j].tolist()}; a missing '
        'keypoint needs its third value (visibility/score) to be 0 or NaN',
        source=src, field=field)
  kp[missing & bad_xy, :2] = 0.0
  kp[missing, 2] = 0.0
  checks.to_float32(kp[:, :2], source=src, field=field)
  return kp


def load_coco_keypoints(path: PathLike, *,
                        image_info: PathLike | None = None
                        ) -> dict[str, Any]:
  """Reads COCO-17 keypoints from a dataset file or a results file.

  Args:
    path: a COCO dataset JSON (dict with `annotations`, optionally `images`
      and `categories`) or a detection-results JSON (a list of
      `{image_id, keypoints, score}`).
    image_info: optionally a COCO dataset JSON whose `images` give the
      image sizes and file names for a results file.

  Returns:
    Dict, one row per person (annotation order):
      keypoints: [N, 17, 2] float32 pixels.
      confidence: [N, 17] float32 in [0, 1]: ground truth: 1 where v > 0
        (labelled), else 0; results: the per-keypoint third value clipped to
        [0, 1] (some detectors write heatmap peaks slightly above 1).
      score: [N] float32: a result's instance `score` (1 for ground truth).
      image_id: [N] int64.
      image_wh: [N, 2] int32 (width, height), 0 when unknown.
      file_name: list of N str, '' when unknown.
      is_results: bool, True for a results file.
    Dataset files: annotations of categories without keypoints are skipped.
    Missing keypoints (see the module's NaN policy) have confidence 0 and
    (x, y) = (0, 0).

  Raises:
    FileNotFoundError: if a file is missing.
    InputError: naming the file and the annotation index and field for
      malformed JSON, keypoints that are not 51 numbers, non-finite values
      other than missing keypoints, ids or sizes that are not integers in
      range, values too large for float32, or a keypoint category that does
      not have 17 keypoints.
  """
  src = str(path)
  doc = checks.load_json(path, 'COCO keypoint JSON')
  if isinstance(doc, list):
    is_results, entries, prefix = True, doc, ''
    images, category = {}, None
  elif isinstance(doc, dict) and 'annotations' in doc:
    is_results, entries, prefix = False, doc['annotations'], 'annotations'
    images = (_image_table(doc['images'], src) if 'images' in doc else {})
    category = _keypoint_category(doc.get('categories'), src)
    if not isinstance(entries, list):
      raise InputError('expected a list', source=src, field='annotations')
  else:
    raise InputError('expected a COCO dataset (dict with "annotations") or '
                     'a results list', source=src, field='(top level)')
  if image_info is not None:
    info = checks.load_json(image_info, 'COCO dataset JSON (image sizes)')
    if not isinstance(info, dict) or 'images' not in info:
      raise InputError('expected a COCO dataset with "images"',
                       source=str(image_info), field='images')
    images = {**_image_table(info['images'], str(image_info)), **images}

  kps, scores, ids = [], [], []
  for i, e in enumerate(entries):
    where = f'{prefix}[{i}]'
    if not isinstance(e, dict):
      raise InputError('expected an object', source=src, field=where)
    if category is not None and e.get('category_id', category) != category:
      continue
    for key in ('image_id', 'keypoints'):
      if key not in e:
        raise InputError(f'entry {i} has no {key!r}', source=src,
                         field=f'{where}.{key}')
    ids.append(_image_id(e['image_id'], src, f'{where}.image_id'))
    kps.append(_keypoints(e['keypoints'], src, f'{where}.keypoints'))
    if is_results:
      scores.append(checks.finite_number(
          e.get('score', 1.0), source=src, field=f'{where}.score',
          minimum=-_FLOAT32_MAX, maximum=_FLOAT32_MAX))
    else:
      scores.append(1.0)

  n = len(kps)
  kp = (np.stack(kps) if n else np.zeros((0, NUM_KEYPOINTS, 3)))
  if is_results:
    confidence = np.clip(kp[..., 2], 0.0, 1.0)
  else:
    confidence = (kp[..., 2] > 0).astype(np.float64)
  unknown = (0, 0, '')
  return {
      'keypoints': kp[..., :2].astype(np.float32),
      'confidence': confidence.astype(np.float32),
      'score': np.asarray(scores, dtype=np.float32).reshape(n),
      'image_id': np.asarray(ids, dtype=np.int64).reshape(n),
      'image_wh': np.array([images.get(k, unknown)[:2] for k in ids],
                           dtype=np.int32).reshape(n, 2),
      'file_name': [images.get(k, unknown)[2] for k in ids],
      'is_results': is_results,
  }
