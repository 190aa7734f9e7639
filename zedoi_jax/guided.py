"""Guided augmentation: turning adult poses into infant-like ones (ZeDO-i).

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

import json
import os
import pathlib
from typing import Any, Callable

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from zedoi_jax import data as data_lib
from zedoi_jax import progress
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


def augment(config: ml_collections.ConfigDict,
            workdir: str | os.PathLike) -> dict[str, Any]:
  """config.mode = 'augment': writes workdir/generated.npz and statistics.

  Reads config.guided (t_start, weight, num_steps, num_poses, rescale),
  config.init (prior, adapted; adapted '' = the shipped SyRIP control
  branch) and config.data (root, subsample, min_pose_distance).
  """
  # Imported here: these pull in the data loaders only this mode needs.
  from zedoi_jax.data import infant_data  # pylint: disable=g-import-not-at-top
  from zedoi_jax.data import prior_data  # pylint: disable=g-import-not-at-top

  workdir = pathlib.Path(workdir)
  g = config.guided
  root = data_lib.data_root(config.data.root)
  adult = prior_data.load_prior_poses(
      mocap_files=config.data.mocap_files, data_root=root,
      subsample=config.data.subsample,
      min_pose_distance=config.data.min_pose_distance)
  infant, _ = infant_data.load_infant_poses(root / 'syrip', split='train')
  infant_test, _ = infant_data.load_infant_poses(root / 'syrip', split='test')

  rng = np.random.RandomState(config.seed)
  n = len(adult) if not g.num_poses else min(g.num_poses, len(adult))
  ids = np.sort(rng.choice(len(adult), n, replace=False)).astype(np.int32)
  sources = adult[ids]
  target = float(np.asarray(skeleton.bone_lengths(infant, LAYOUT)).sum(-1)
                 .mean())
  factors = np.ones(n, np.float32)
  if g.rescale:
    sources, factors = rescale_to(sources, target)

  prior = load.load_pose_model(config.init.prior)
  adapted = load.load_pose_model(config.init.prior,
                                 config.init.adapted or 'syrip_control')
  score_fn, params = make_guided_score_fn(prior, adapted)
  params['weight'] = jnp.float32(g.weight)
  convert = make_convert_fn(score_fn, prior.sde, num_steps=g.num_steps)
  key = jax.random.fold_in(jax.random.key(config.seed), 0x6A)
  batch = max(1, int(config.fit.batch_size))
  out = np.zeros_like(sources)
  bar = progress.Progress(n, name='augment', unit='pose',
                          enabled=None if config.progress else False)
  for start in range(0, n, batch):
    stop = min(start + batch, n)
    x = np.zeros((batch, 17, 3), np.float32)
    x[:stop - start] = sources[start:stop] / prior.scale
    idx = np.zeros(batch, np.int32)
    idx[:stop - start] = ids[start:stop]
    y = convert(key, jnp.asarray(x), jnp.asarray(idx), params,
                jnp.float32(g.t_start))
    out[start:stop] = np.asarray(y)[:stop - start] * prior.scale
    bar.update(stop)
  out = skeleton.root_center(out, LAYOUT)

  stats = quality(out, sources, infant, adult)
  stats['nearest_infant_mm']['infant_test_to_train'] = float(
      1000 * sampling.nearest_distance(infant_test, infant).mean())
  stats.update(num_poses=int(n), weight=float(g.weight),
               t_start=float(g.t_start), num_steps=int(g.num_steps),
               rescale=bool(g.rescale), target_total_bone_m=target,
               adapted=str(load.resolve(config.init.adapted or
                                        'syrip_control', '')))
  np.savez(workdir / 'generated.npz', poses=out.astype(np.float32),
           source_index=ids, source_poses=sources.astype(np.float32),
           rescale_factor=factors, weight=np.float32(g.weight),
           t_start=np.float32(g.t_start))
  (workdir / 'augment_stats.json').write_text(json.dumps(stats, indent=2))
  writer = progress.MetricWriter(workdir, tensorboard=False)
  writer.write(0, **{'augment/nearest_infant_mm':
                     stats['nearest_infant_mm']['generated'],
                     'augment/num_poses': n})
  _print_table(stats)
  if config.eval.pictures:
    from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
    k = min(config.eval.num_pictures, n)
    viz.skeleton_grid([adult[ids[:k]], sources[:k], out[:k]], LAYOUT,
                      workdir / 'adult_to_infant.png',
                      titles=['adult (CMU)', 'rescaled', 'generated'])
  logging.info('wrote %s', workdir / 'generated.npz')
  return stats


def _print_table(stats: dict[str, Any]) -> None:
  ratios = stats['bone_ratios']
  cols = ['adult_cmu', 'source_rescaled', 'generated', 'infant_syrip_train']
  print(f'{"ratio":20s}' + ''.join(f'{c:>20s}' for c in cols))
  for name, _, _ in RATIOS:
    print(f'{name:20s}' + ''.join(
        f'{ratios[c][name]["mean"]:>14.3f}±{ratios[c][name]["std"]:<5.2f}'
        for c in cols))
  d = stats['nearest_infant_mm']
  print(f'nearest infant pose (mm): source {d["source_rescaled"]:.1f}, '
        f'generated {d["generated"]:.1f}, infant test->train '
        f'{d["infant_test_to_train"]:.1f}')
  sym = stats['symmetry_error']
  print('left/right bone-length difference: ' + ', '.join(
      f'{c} {sym[c]:.3f}' for c in cols) +
        f'; generated to source {stats["to_source_mm"]:.1f} mm')
