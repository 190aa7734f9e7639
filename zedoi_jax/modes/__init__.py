"""One module per `config.mode`, named as the mode.

`--config.mode=X` runs `zedoi_jax/modes/X.py`'s function `X(config,
workdir)`: a short orchestration that reads the config and hands plain
values to the library modules (docs/DESIGN.md).

  train_prior  train the adult pose prior
  adapt        adapt it to infants (control branch, fine-tuning, scratch)
  augment      guided augmentation: adult poses -> infant-like ones
  fit          the ZeDO fit on a dataset, scored
  lift         3D from a user's 2D keypoints (files, detectors, videos)
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

NAMES = ('train_prior', 'adapt', 'augment', 'fit', 'lift')


def entry(name: str) -> Callable[..., Any]:
  """The entry function of mode `name` (imported on demand)."""
  if name not in NAMES:
    raise KeyError(f'unknown config.mode {name!r}; known: {sorted(NAMES)}')
  return getattr(importlib.import_module(f'zedoi_jax.modes.{name}'), name)
