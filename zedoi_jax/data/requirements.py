"""What each dataset needs on disk, what is missing, and how to get it.

`missing(name, root)` lists the absent files of a dataset under a data root
(`zedoi_jax.data.data_root`); `require(name, root)` raises one
`MissingDataError` naming every missing file, the folders searched and the
ways to provide them. The fit mode calls it before loading, and the tests
(`tests/data_required.py`) use the same text as their skip reason.

Datasets:
  'syrip': SyRIP's 8 original files (`syrip.FILES`), flat or in the
    repository's data/... layout, in ROOT/syrip or ROOT itself.
  'cmu': CMU mocap takes (.amc + .asf, or .bvh) in ROOT/cmu; `files` names
    particular ones (tests).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

PathLike = str | os.PathLike

CMU_SITE = 'http://mocap.cs.cmu.edu'
CMU_ACK = ('The data used in this project was obtained from mocap.cs.cmu.edu. '
           'The database was created with funding from NSF EIA-0196217.')
DATASETS = ('syrip', 'cmu')


class MissingDataError(FileNotFoundError):
  """A dataset's files are not where the run looked for them.

  Attributes:
    dataset: 'syrip' | 'cmu'.
    missing: the missing file names.
    searched: the folders looked in.
  """

  def __init__(self, message: str, *, dataset: str,
               missing: Sequence[str], searched: Sequence[pathlib.Path]):
    super().__init__(message)
    self.dataset = dataset
    self.missing = list(missing)
    self.searched = [pathlib.Path(p) for p in searched]


def _syrip_missing_in(folder: pathlib.Path) -> list[str]:
  from zedoi_jax.data import syrip  # pylint: disable=g-import-not-at-top
  return [name for name, (repo_path, _) in syrip.FILES.items()
          if not ((folder / name).is_file() or (folder / repo_path).is_file())]


def searched_folders(name: str, root: PathLike) -> list[pathlib.Path]:
  """The folders a dataset is looked for in, under the data root."""
  root = pathlib.Path(root)
  if name == 'syrip':
    return [root / 'syrip', root]
  if name == 'cmu':
    return [root / 'cmu']
  raise ValueError(f'unknown dataset {name!r}; known: {DATASETS}')


def missing(name: str, root: PathLike,
            files: Sequence[str] = ()) -> tuple[list[str], list[pathlib.Path]]:
  """(missing file names, folders searched) of dataset `name` under `root`.

  Args:
    name: 'syrip' or 'cmu'.
    root: the data root.
    files: for 'cmu', particular files that must be there (default: at least
      one take). For 'syrip' extra file names beside SyRIP's 8 originals
      (e.g. the paired npz of the shared data folder).

  Returns:
    An empty list when everything is there; else the missing names (for
    SyRIP those of the searched folder closest to complete).
  """
  folders = searched_folders(name, root)
  if name == 'syrip':
    best = None
    for folder in folders:
      gone = _syrip_missing_in(folder) + [
          f for f in files if not (folder / f).is_file()]
      if best is None or len(gone) < len(best):
        best = gone
    return best, folders
  folder = folders[0]
  if files:
    return [f for f in files if not (folder / f).is_file()], folders
  takes = (list(folder.glob('*.amc')) + list(folder.glob('*.bvh'))
           if folder.is_dir() else [])
  return ([] if takes else ['*.amc (+ its .asf) or *.bvh takes']), folders


def how_to_get(name: str) -> str:
  """The ways to provide dataset `name`, as one sentence."""
  where = ('--config.data.root=DIR, or set $ZEDOI_DATA=DIR (default: '
           '../shared/data beside the repository)')
  if name == 'syrip':
    return ('get it with `python -m zedoi_jax.prepare syrip --dest=DIR/syrip` '
            '(downloads and checks the public files; --source=FOLDER copies '
            f'local ones), then point the run at DIR with {where}')
  return (f'download the takes from the CMU mocap site ({CMU_SITE}; ASF/AMC '
          f'or BVH) into DIR/cmu, then point the run at DIR with {where}; or '
          "name files with --config.data.mocap_files='a.bvh,s.asf:t.amc'")


def message(name: str, gone: Sequence[str],
            searched: Sequence[pathlib.Path]) -> str:
  """One message: what is missing, where it looked, how to provide it."""
  label = {'syrip': 'SyRIP', 'cmu': 'CMU mocap'}[name]
  folders = ' and '.join(str(p) for p in searched)
  return (f'{label} data not found: missing {len(gone)} file(s): '
          f'{", ".join(gone)} (searched {folders}). To provide it, '
          f'{how_to_get(name)}. No dataset is needed to lift your own '
          'keypoints (configs/lift.py) or for the demo (configs/demo.py).')


def require(name: str, root: PathLike,
            files: Sequence[str] = ()) -> pathlib.Path:
  """The dataset's folder, or a `MissingDataError` naming what is missing.

  For SyRIP the returned folder is the searched one that is complete.
  """
  gone, searched = missing(name, root, files)
  if gone:
    raise MissingDataError(message(name, gone, searched), dataset=name,
                           missing=gone, searched=searched)
  if name == 'syrip':
    for folder in searched:
      if not _syrip_missing_in(folder):
        return folder
  return searched[0]
