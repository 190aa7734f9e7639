"""Guided augmentation: turning adult poses into infant-like ones (ZeDO-i).

The library of `--config.mode=augment` (zedoi_jax/modes/augment.py).

The ZeDO-i release ships only the precomputed augmentation files; the
generator was never released. This module builds it from the paper's
description and the classifier-free guidance wrapper that the release does
contain (`out + w * (out - out_uncond)`):

1. An adult pose (CMU, root-relative metres) is first **rescaled** to infant
   size (one factor per pose, so that its summed bone length equals the mean
   of the infant training poses): the adult-to-infant size gap is a known,
   global factor (about 0.4) that diffusion at a small noise level cannot
   close, while proportions and posture are what the guidance should change.
2. It is **noised part-way** with the forward SDE to `t_start`: enough noise
   to forget adult proportions, little enough to keep the posture.
3. It is **denoised** with the reverse SDE under the guided score
   `s = s_infant + w (s_infant - s_adult)`, where `s_infant` is the
   infant-adapted model (prior + control branch, or a fine-tuned prior) and
   `s_adult` the adult prior alone: the "condition" is the domain, and the
   control branch being on is what conditions on "infant" (see
   `models/control.py`). w = 0 is the plain (unguided) infant-model sampler;
   w > 0 pushes further away from adult statistics.

`weight` and `t_start` enter the compiled function as array arguments, so
sweeping them does not recompile. Each generated pose's key is
`fold_in(key, source_index)`, so a pose does not depend on its batch.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from zedoi_jax import sampling
from zedoi_jax import skeleton
from zedoi_jax.models import load

LAYOUT = 'h36m17'
# (name, bones a, bones b): ratios of summed bone lengths, joint indices of
# Human3.6M-17 (1-2 / 4-5 thighs, 2-3 / 5-6 shins, 11-12 / 14-15 upper arms,
# pelvis-spine-thorax torso).
RATIOS = (
    ('thigh/shin', ((1, 2), (4, 5)), ((2, 3), (5, 6))),
    ('upper_arm/torso', ((11, 12), (14, 15)), ((0, 7), (7, 8))),
    ('forearm/upper_arm', ((12, 13), (15, 16)), ((11, 12), (14, 15))),
    ('leg/torso', ((1, 2), (2, 3), (4, 5), (5, 6)), ((0, 7), (7, 8))),
)


def make_guided_score_fn(prior: load.PoseModel, adapted: load.PoseModel
                         ) -> tuple[Callable[..., jax.Array], dict]:
  """The guided score and its parameters.

  Args:
    prior: the adult prior.
    adapted: the infant-adapted model (same normalisation scale).

  Returns:
    (score_fn(params, x [B,J,3], t [B]) -> [B,J,3], params) where params is
    {'prior', 'adapted', 'weight'}; set params['weight'] to the guidance w.
  """
  if abs(prior.scale - adapted.scale) > 1e-9:
    raise ValueError(f'prior scale {prior.scale} != adapted scale '
                     f'{adapted.scale}')

  def score_fn(params, x, t):
    s_infant = adapted.score_fn(params['adapted'], x, t)
    s_adult = prior.score_fn(params['prior'], x, t)
    return s_infant + params['weight'] * (s_infant - s_adult)

  params = {'prior': prior.params, 'adapted': adapted.params,
            'weight': jnp.float32(0.0)}
  return score_fn, params


def rescale_to(poses: np.ndarray, target_total_bone: float) -> np.ndarray:
  """Scales each root-relative pose so its summed bone length is the target.

  Args:
    poses: [N, 17, 3] root-relative.
    target_total_bone: summed bone length to reach (same unit).

  Returns:
    ([N, 17, 3] scaled poses, [N] factors).
  """
  total = np.asarray(skeleton.bone_lengths(poses, LAYOUT)).sum(-1)
  factor = target_total_bone / np.maximum(total, 1e-9)
  return poses * factor[:, None, None], factor


def make_convert_fn(score_fn, sde, *, num_steps: int, method: str = 'em'):
  """Compiled converter for a batch of poses (model units).

  Returns:
    convert(rng, poses [B,J,3], ids [B], params, t_start) -> [B,J,3]; each
    pose's noise comes from fold_in(rng, id).
  """

  def one(rng, pose, params, t_start):
    return sampling.denoise_from(rng, score_fn, params, sde, pose[None],
                                 t_start, num_steps, method=method)[0]

  @jax.jit
  def convert(rng, poses, ids, params, t_start):
    keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(ids)
    return jax.vmap(one, in_axes=(0, 0, None, None))(keys, poses, params,
                                                     t_start)

  return convert


def bone_ratios(poses: np.ndarray) -> dict[str, dict[str, float]]:
  """Mean and std of the RATIOS over poses [N, 17, 3]."""
  p = np.asarray(poses, np.float64)

  def length(bones):
    return sum(np.linalg.norm(p[:, a] - p[:, b], axis=-1) for a, b in bones)

  out = {}
  for name, num, den in RATIOS:
    r = length(num) / np.maximum(length(den), 1e-9)
    out[name] = {'mean': float(r.mean()), 'std': float(r.std())}
  return out


def _root(poses: np.ndarray) -> np.ndarray:
  return np.asarray(skeleton.root_center(np.asarray(poses, np.float32),
                                         LAYOUT))


def quality(generated: np.ndarray, sources: np.ndarray, infant: np.ndarray,
            adult: np.ndarray) -> dict[str, Any]:
  """Quality measures of generated poses (all [N, 17, 3] metres).

  Returns:
    bone-length ratios of generated / infant / adult / rescaled source poses;
    the mean distance (mm, mean joint distance, root-relative) of each
    generated pose and of its (rescaled) source to the nearest infant pose;
    'to_source_mm': mean joint distance of each generated pose to its own
    source (how much posture the conversion changed); 'symmetry_error':
    mean relative left/right bone-length difference of each set (the
    nearest-infant distance does not see bone-length noise).
  """
  return {
      'to_source_mm': float(1000 * np.linalg.norm(
          _root(generated) - _root(sources), axis=-1).mean()),
      'symmetry_error': {
          name: float(sampling.symmetry_error(p, LAYOUT)['mean'])
          for name, p in (('generated', generated), ('infant_syrip_train',
                                                     infant),
                          ('adult_cmu', adult), ('source_rescaled', sources))
      },
      'bone_ratios': {
          'generated': bone_ratios(generated),
          'infant_syrip_train': bone_ratios(infant),
          'adult_cmu': bone_ratios(adult),
          'source_rescaled': bone_ratios(sources),
      },
      'nearest_infant_mm': {
          'generated': float(1000 * sampling.nearest_distance(
              generated, infant).mean()),
          'source_rescaled': float(1000 * sampling.nearest_distance(
              sources, infant).mean()),
          'infant_test_to_train': None,
      },
  }




