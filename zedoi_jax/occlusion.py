"""Simulated occlusion of 2D inputs, for robustness studies.

Real detectors do not leave an occluded joint out: they put it somewhere,
usually with a low score. `occlude` imitates that on clean inputs:

- `min_score`: joints whose confidence is below it are treated as missing
  (confidence 0; the detector's location is kept but carries no weight);
- `drop_k`: k of the remaining visible joints of each pose, chosen at
  random, get confidence 0 and a wrong location (uniform inside the pose's
  2D bounding box), as a detector's confident-looking guess would be.
- `use_confidence=False` is the baseline that ignores confidences: every
  joint that has a location (dropped ones included, at their wrong place)
  counts fully.

Host-side numpy; deterministic given the seed.
"""

from __future__ import annotations

import numpy as np


def occlude(keypoints: np.ndarray, confidence: np.ndarray, *, drop_k: int = 0,
            min_score: float = 0.0, use_confidence: bool = True,
            seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Drops joints from 2D inputs.

  Args:
    keypoints: [N, J, 2] pixels.
    confidence: [N, J] in [0, 1]; 0 = unlabelled / missing.
    drop_k: joints to drop per pose (at most the visible ones).
    min_score: confidences below this become 0.
    use_confidence: False gives weight 1 to every joint with a location.
    seed: numpy seed of the choice of joints and wrong locations.

  Returns:
    (keypoints [N, J, 2], confidence [N, J], dropped [N, J] bool).
  """
  if drop_k < 0:
    raise ValueError(f'drop_k must be >= 0, got {drop_k}')
  kp = np.array(keypoints, np.float32, copy=True)
  conf = np.array(confidence, np.float32, copy=True)
  has_location = conf > 0
  conf = np.where(conf < min_score, 0.0, conf).astype(np.float32)
  dropped = np.zeros(conf.shape, bool)
  rng = np.random.default_rng(seed)
  if drop_k:
    for i in range(len(kp)):
      visible = np.flatnonzero(conf[i] > 0)
      if not len(visible):
        continue
      lo = kp[i, visible].min(0)
      hi = kp[i, visible].max(0)
      pick = rng.choice(visible, min(drop_k, len(visible)), replace=False)
      dropped[i, pick] = True
      kp[i, pick] = rng.uniform(lo, hi, size=(len(pick), 2))
      conf[i, pick] = 0.0
  if not use_confidence:
    conf = has_location.astype(np.float32)
  return kp, conf, dropped
