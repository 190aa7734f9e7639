"""`--config.mode=augment`: guided augmentation, adult poses -> infant-like.

`augment(config, workdir)` rescales and part-noises adult CMU poses and
denoises them under the guided score of the infant-adapted model against
the adult prior (`zedoi_jax.guided`, where the method is described), then
writes workdir/generated.npz (the poses, their sources and factors) and
workdir/augment_stats.json (bone-length ratios against the infant data,
nearest-infant distances).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from zedoi_jax import data as data_lib
from zedoi_jax import guided
from zedoi_jax import jsonio
from zedoi_jax import progress
from zedoi_jax import sampling
from zedoi_jax import skeleton
from zedoi_jax.models import load
from zedoi_jax.modes import common


def augment(config: ml_collections.ConfigDict,
            workdir: str | os.PathLike) -> dict[str, Any]:
  """Writes workdir/generated.npz and statistics.

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
  target = float(np.asarray(skeleton.bone_lengths(infant, guided.LAYOUT)).sum(-1)
                 .mean())
  factors = np.ones(n, np.float32)
  if g.rescale:
    sources, factors = guided.rescale_to(sources, target)

  prior = load.load_pose_model(config.init.prior)
  adapted = load.load_pose_model(config.init.prior,
                                 config.init.adapted or 'syrip_control')
  score_fn, params = guided.make_guided_score_fn(prior, adapted)
  params['weight'] = jnp.float32(g.weight)
  convert = guided.make_convert_fn(score_fn, prior.sde, num_steps=g.num_steps)
  key = jax.random.fold_in(jax.random.key(config.seed), 0x6A)
  batch = max(1, int(config.fit.batch_size))
  out = np.zeros_like(sources)
  bar = progress.Progress(n, name='augment', unit='pose',
                          enabled=common.show_progress(config))
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
  out = skeleton.root_center(out, guided.LAYOUT)

  stats = guided.quality(out, sources, infant, adult)
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
  jsonio.write_json(workdir / 'augment_stats.json', stats)
  writer = progress.MetricWriter(workdir, tensorboard=False)
  writer.write(0, **{'augment/nearest_infant_mm':
                     stats['nearest_infant_mm']['generated'],
                     'augment/num_poses': n})
  _print_table(stats)
  if config.eval.pictures:
    from zedoi_jax import viz  # pylint: disable=g-import-not-at-top
    k = min(config.eval.num_pictures, n)
    viz.skeleton_grid([adult[ids[:k]], sources[:k], out[:k]], guided.LAYOUT,
                      workdir / 'adult_to_infant.png',
                      titles=['adult (CMU)', 'rescaled', 'generated'])
  logging.info('wrote %s', workdir / 'generated.npz')
  return stats


def _print_table(stats: dict[str, Any]) -> None:
  ratios = stats['bone_ratios']
  cols = ['adult_cmu', 'source_rescaled', 'generated', 'infant_syrip_train']
  print(f'{"ratio":20s}' + ''.join(f'{c:>20s}' for c in cols))
  for name, _, _ in guided.RATIOS:
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
