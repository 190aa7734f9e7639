"""One mocap take as Human3.6M-17 positions: loading by file extension."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from zedoi_jax.data.mocap import asf_amc
from zedoi_jax.data.mocap import bvh
from zedoi_jax.data.mocap import common
from zedoi_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class MocapTake:
  """One take as Human3.6M-17 positions, with its frame rate.

  Attributes:
    positions: [T, 17, 3] float32 metres, the file's world frame (Y up for
      CMU), not root-centred, `H36M17_JOINTS` order.
    frame_rate: frames per second (BVH: 1 / Frame Time; AMC: CMU's 120).
    source: the motion file.
  """
  positions: np.ndarray
  frame_rate: float
  source: str


def load_h36m17(path: common.PathLike, *,
                amc_path: common.PathLike | None = None,
                scale: float | None = None) -> np.ndarray:
  """Human3.6M-17 joint positions from a mocap file (see `load_take`)."""
  return load_take(path, amc_path=amc_path, scale=scale).positions


def load_take(path: common.PathLike, *,
              amc_path: common.PathLike | None = None,
              scale: float | None = None) -> MocapTake:
  """Human3.6M-17 joint positions and frame rate from a mocap file.

  Args:
    path: a .bvh file; or an .asf skeleton (then `amc_path` is required); or
      an .amc motion, whose skeleton is found beside it by subject number
      (`01_01.amc` -> `01.asf`) unless the .asf is passed as `amc_path`.
    amc_path: the .amc motion when `path` is an .asf; when `path` is an
      .amc, an explicit .asf may be passed here instead.
    scale: metres per file unit; None = by format (ASF/AMC: CMU's 0.056444;
      BVH: its naming style's, see `BVH_STYLES`).

  Returns:
    A `MocapTake`: positions [T, 17, 3] float32 metres, the file's world
    frame (CMU: Y up), not root-centred, Human3.6M-17 order
    (`H36M17_JOINTS`: 0 pelvis, 1 r_hip, 2 r_knee, 3 r_ankle, 4 l_hip,
    5 l_knee, 6 l_ankle, 7 spine, 8 thorax, 9 neck/nose, 10 head_top,
    11 l_shoulder, 12 l_elbow, 13 l_wrist, 14 r_shoulder, 15 r_elbow,
    16 r_wrist).

  Raises:
    FileNotFoundError: naming a missing file.
    InputError: for malformed files or unknown joint naming (naming the file
      and the missing joints).
  """
  p = pathlib.Path(path)
  suffix = p.suffix.lower()
  if suffix == '.bvh':
    motion = bvh.parse_bvh(p)
    return MocapTake(bvh.bvh_to_h36m17(motion, scale=scale),
                     1.0 / motion.frame_time, str(p))
  if suffix == '.asf':
    if amc_path is None:
      raise ValueError(f'{p}: an .asf skeleton needs its motion: pass '
                       'amc_path=<take>.amc')
    asf_file, amc_file = p, pathlib.Path(amc_path)
  elif suffix == '.amc':
    amc_file = p
    if amc_path is not None:
      asf_file = pathlib.Path(amc_path)
    else:
      asf_file = _subject_asf(p)
  else:
    raise InputError(f'unknown mocap file type {p.suffix!r} (expected .bvh, '
                     '.asf or .amc)', source=str(p), field='suffix')
  skeleton = asf_amc.parse_asf(asf_file)
  frames = asf_amc.parse_amc(amc_file)
  positions = asf_amc.asf_amc_to_h36m17(
      skeleton, frames, scale=common.CMU_SCALE if scale is None else scale,
      source=str(amc_file))
  return MocapTake(positions, common.CMU_AMC_HZ, str(amc_file))


def _subject_asf(amc: pathlib.Path) -> pathlib.Path:
  """The skeleton beside an AMC take, by subject number (01_01 -> 01.asf)."""
  subject = amc.stem.split('_')[0]
  asf_file = amc.with_name(subject + '.asf')
  if not asf_file.is_file():
    raise FileNotFoundError(
        f'ASF skeleton for {amc} not found: expected {asf_file} (subject '
        f'{subject!r}); pass the skeleton as path and the motion as '
        'amc_path')
  return asf_file
