r"""Data preparation CLI: fetch SyRIP's files, convert MINI-RGBD to one npz.

  # SyRIP: download the original files by URL (sha256-checked) ...
  python -m zedoi_jax.prepare syrip --dest=data/syrip
  # ... or copy and verify them from a local folder (no network).
  python -m zedoi_jax.prepare syrip --dest=data/syrip --source=DIR

  # MINI-RGBD: the public text layout -> one npz of arrays the fit reads.
  python -m zedoi_jax.prepare mini_rgbd --source=MINI-RGBD_web \
      --dest=data/mini_rgbd.npz [--joint_map=anatomical|zedo] \
      [--sequences=1-12]

The work is done by `prepare_syrip` and `prepare_mini_rgbd`, which notebooks
and tests call directly; `main` only parses flags and reports errors in one
line (no traceback) for bad input: a missing folder or file, a checksum
mismatch, a malformed file.

For MINI-RGBD, `--joint_map` picks the smil25 -> h36m17 map: 'anatomical'
(default: ankle = SMIL foot, shoulder = SMIL upper arm) or 'zedo' (ZeDO-i's
published table, which takes the toes for the ankles and the collars for
the shoulders; use it only to reproduce published numbers). See
`zedoi_jax.data.mini_rgbd` for the details and the npz's arrays.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Iterable

from absl import app
from absl import flags
from absl import logging
import numpy as np

from zedoi_jax.data import mini_rgbd
from zedoi_jax.data import syrip

PathLike = str | os.PathLike

COMMANDS = ('syrip', 'mini_rgbd')

_DEST = flags.DEFINE_string(
    'dest', None,
    'syrip: the folder to put the original files in. mini_rgbd: the .npz '
    'file to write.')
_SOURCE = flags.DEFINE_string(
    'source', None,
    'syrip: a local folder holding the original files (repository data/... '
    'layout or flat names); without it they are downloaded. mini_rgbd: the '
    'MINI-RGBD_web folder holding 01..12.')
_JOINT_MAP = flags.DEFINE_enum(
    'joint_map', 'anatomical', list(mini_rgbd.joint_map_variants()),
    'mini_rgbd: the smil25 -> h36m17 joint map (zedo = the published '
    'table, toes for ankles and collars for shoulders).')
_SEQUENCES = flags.DEFINE_string(
    'sequences', '1-12',
    'mini_rgbd: sequence numbers, as ranges and lists, e.g. 1-12, 11,12 or '
    '1-10,12.')
_MAX_FRAMES = flags.DEFINE_integer(
    'max_frames', None,
    'mini_rgbd: read only the first this many frames of each sequence.',
    lower_bound=1)


def parse_sequences(text: str) -> list[int]:
  """Sequence numbers from '1-12', '11,12' or '1-10,12'.

  Args:
    text: comma-separated numbers and inclusive ranges `a-b`.

  Returns:
    The numbers in the order given, without repeats.

  Raises:
    ValueError: for anything else (empty, not numbers, a reversed range,
      numbers below 1).
  """
  out: list[int] = []
  for part in text.split(','):
    part = part.strip()
    lo, dash, hi = part.partition('-')
    try:
      first = int(lo)
      last = int(hi) if dash else first
    except ValueError:
      raise ValueError(f'bad sequence list {text!r}: {part!r} is not a '
                       'number or a range a-b') from None
    if first < 1 or last < first:
      raise ValueError(f'bad sequence list {text!r}: {part!r} is not a '
                       'range of positive numbers')
    out.extend(s for s in range(first, last + 1) if s not in out)
  return out


def prepare_syrip(dest: PathLike, *,
                  source: PathLike | None = None) -> pathlib.Path:
  """Puts SyRIP's original files into `dest` and checks that they join.

  Args:
    dest: target folder (created), ready for `syrip.load_syrip(dest)`.
    source: a local folder with the original files (copied and verified,
      no network); None downloads them from the pinned repository commit.

  Returns:
    `dest` as a Path.

  Raises:
    FileNotFoundError: a missing `source` folder or file in it.
    InputError: a checksum mismatch, or files that do not join.
    ConnectionError: a failed download (the message says how to get the
      files by hand).
  """
  dest = syrip.prepare(dest, source=source)
  data = syrip.load_syrip(dest)
  splits = {s: int(np.sum(data['split'] == s)) for s in np.unique(
      data['split'])}
  logging.info('SyRIP: %d files verified in %s; %d images, splits %s',
               len(syrip.FILES), dest, len(data['split']), splits)
  return dest


def prepare_mini_rgbd(source: PathLike, dest: PathLike, *,
                      joint_map: str = 'anatomical',
                      sequences: Iterable[int] = range(1, 13),
                      max_frames: int | None = None) -> pathlib.Path:
  """Converts MINI-RGBD's text files into one npz (see `mini_rgbd.to_arrays`).

  The file is written under a temporary name and renamed when complete, so
  `dest` never holds a partial file.

  Args:
    source: the MINI-RGBD_web folder holding the sequence folders.
    dest: the .npz file to write (its folder is created).
    joint_map: 'anatomical' (default) or 'zedo'.
    sequences: sequence numbers to convert.
    max_frames: per sequence, only the first this many frames.

  Returns:
    `dest` as a Path.

  Raises:
    FileNotFoundError: a missing `source` or sequence folder.
    InputError: a malformed joint file (naming it and the line).
    ValueError: `dest` not ending in .npz, an unknown `joint_map`, or no
      sequences.
  """
  dest = pathlib.Path(dest)
  if dest.suffix != '.npz':
    raise ValueError(f'dest must be an .npz file, got {dest}')
  arrays = mini_rgbd.to_arrays(source, list(sequences), joint_map=joint_map,
                               max_frames=max_frames)
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp_name = tempfile.mkstemp(prefix=f'.{dest.name}.', dir=dest.parent)
  try:
    with os.fdopen(fd, 'wb') as f:
      np.savez(f, **arrays)
    os.replace(tmp_name, dest)
  finally:
    pathlib.Path(tmp_name).unlink(missing_ok=True)
  counts = {int(s): int(np.sum(arrays['sequence'] == s))
            for s in np.unique(arrays['sequence'])}
  logging.info('MINI-RGBD: %d frames (per sequence %s), joint map %s -> %s',
               len(arrays['frame']), counts, joint_map, dest)
  return dest


def main(argv: list[str]) -> None:
  if len(argv) != 2 or argv[1] not in COMMANDS:
    raise app.UsageError(f'expected one command, {" or ".join(COMMANDS)}; '
                         f'got {argv[1:]}')
  command = argv[1]
  if _DEST.value is None:
    raise app.UsageError(f'{command} needs --dest')
  try:
    if command == 'syrip':
      prepare_syrip(_DEST.value, source=_SOURCE.value)
    else:
      if _SOURCE.value is None:
        raise app.UsageError('mini_rgbd needs --source=<MINI-RGBD_web>')
      prepare_mini_rgbd(_SOURCE.value, _DEST.value,
                        joint_map=_JOINT_MAP.value,
                        sequences=parse_sequences(_SEQUENCES.value),
                        max_frames=_MAX_FRAMES.value)
  except app.UsageError:
    raise
  # Bad input is the user's to fix: one line naming the file is more use
  # than a traceback. (InputError is a ValueError.)
  except (FileNotFoundError, ValueError, ConnectionError) as e:
    raise SystemExit(f'prepare {command}: error: {e}') from None


if __name__ == '__main__':
  app.run(main)
