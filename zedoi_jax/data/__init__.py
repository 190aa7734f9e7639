"""Host-side (numpy) loaders for mocap, SyRIP, Human3.6M, COCO and MINI-RGBD."""

from __future__ import annotations

import os
import pathlib


def data_root(root: str | os.PathLike | None = '') -> pathlib.Path:
  """config.data.root, else $ZEDOI_DATA, else ../shared/data beside the repo."""
  if root:
    return pathlib.Path(root)
  env = os.environ.get('ZEDOI_DATA')
  if env:
    return pathlib.Path(env)
  return pathlib.Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
