"""What the fit and lift modes read from the config the same way."""

from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np

from zedoi_jax import parallel
from zedoi_jax import zedo
from zedoi_jax.errors import InputError


def model_identity(model, config: ml_collections.ConfigDict
                   ) -> dict[str, Any]:
  """What identifies the model of a run: paths and parameter fingerprints."""
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  return {'prior': str(load.resolve(config.init.prior, load.SHIPPED_PRIOR)),
          'adapted': str(config.init.adapted or ''),
          'kind': model.meta.get('kind'),
          'fingerprint': model.meta.get('fingerprint'),
          'model_fingerprint': model.meta.get('model_fingerprint'),
          'prior_fingerprint': model.meta.get('prior_fingerprint')}


def load_model(config: ml_collections.ConfigDict):
  """(the configured `load.PoseModel`, its layout)."""
  from zedoi_jax.models import load  # pylint: disable=g-import-not-at-top
  model = load.load_pose_model(config.init.prior, config.init.adapted)
  return model, model.meta.get('layout', 'h36m17')


def fit_config(config: ml_collections.ConfigDict, model_layout: str,
               **overrides) -> zedo.FitConfig:
  """`config.fit` as a `zedo.FitConfig` in the model's layout."""
  return zedo.FitConfig.from_dict(dict(config.fit.to_dict(),
                                       layout=model_layout, **overrides))


def shard_rows(config: ml_collections.ConfigDict, num_rows: int
               ) -> np.ndarray:
  """The rows of `config.parallel`'s shard (all rows with one shard)."""
  pc = config.parallel
  rows = parallel.shard_rows(num_rows, int(pc.shard_index),
                             int(pc.num_shards))
  if not len(rows):
    raise InputError(f'shard {pc.shard_index} of {pc.num_shards} gets no '
                     f'rows ({num_rows} poses); use fewer shards',
                     source='config', field='parallel.num_shards')
  return rows


def show_progress(config: ml_collections.ConfigDict) -> bool | None:
  """tqdm's `disable`-style switch: None = decide by the terminal."""
  return None if config.progress else False
