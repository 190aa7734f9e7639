r"""Joining the outputs of independent shard jobs into one.

A big fit or lift can run as N unrelated jobs, job i with
`--config.parallel.shard_index=i --config.parallel.num_shards=N`, each
handling input rows i::N and recording the global row of every pose. This
tool puts them back together in row order:

  python -m zedoi_jax.merge --out=workdirs/lift_all \
      workdirs/lift_0 workdirs/lift_1 workdirs/lift_2

Fit shards (results.json + predictions.npz) give a merged predictions.npz
and a results.json whose metrics are recomputed over all poses (exactly as
one unsharded run scores them); lift shards (lifted.npz + lifted.json) give
a merged lifted.npz and lifted.json. Every row 0..N-1 must be present
exactly once and the shards must come from the same job (input, model, fit
settings, seed); otherwise nothing is written and the error says which
rows or which file is wrong. Per-pose results do not depend on the sharding
(sample keys are fold_in(key, sample id)), so the merge equals an
unsharded run apart from the 'timing' entries.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Sequence

from absl import app
from absl import flags
import numpy as np

from zedoi_jax import jsonio
from zedoi_jax import scoring
from zedoi_jax import validity
from zedoi_jax.errors import InputError

# Arrays that are the same for every row (not concatenated, must agree).
SHARED_ARRAYS = ('joint_names', 'model_joint_names', 'num_rows_total')
# Keys that legitimately differ between the shards of one job.
PER_SHARD_KEYS = ('shard', 'timing')
KINDS = {'fit': ('results.json', 'predictions.npz'),
         'lift': ('lifted.json', 'lifted.npz')}


def _load_json(path: pathlib.Path) -> dict[str, Any]:
  try:
    doc = json.loads(path.read_text())
  except (OSError, ValueError) as e:
    raise InputError(f'cannot read JSON ({e})', source=str(path)) from e
  if not isinstance(doc, dict):
    raise InputError('expected a JSON object', source=str(path))
  return doc


def _load_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
  # The guarded loader: headers checked before anything is allocated.
  from zedoi_jax.data import checks  # pylint: disable=g-import-not-at-top
  return checks.load_npz(path, 'shard outputs')


def load_shard(directory: str | os.PathLike) -> dict[str, Any]:
  """Reads one shard's outputs.

  Returns:
    {'kind': 'fit' | 'lift', 'dir', 'doc' (results.json / lifted.json),
    'arrays' (the npz), 'rows' [n] int64 global rows}.
  """
  d = pathlib.Path(directory)
  if not d.is_dir():
    raise FileNotFoundError(f'shard workdir not found: {d}')
  kinds = [k for k, (doc, arr) in KINDS.items()
           if (d / doc).is_file() and (d / arr).is_file()]
  if len(kinds) != 1:
    raise FileNotFoundError(
        f'{d} holds neither results.json + predictions.npz (fit) nor '
        'lifted.json + lifted.npz (lift); is the shard finished?'
        if not kinds else f'{d} holds both fit and lift outputs')
  kind = kinds[0]
  doc_name, arr_name = KINDS[kind]
  arrays = _load_npz(d / arr_name)
  if 'rows' not in arrays or 'num_rows_total' not in arrays:
    raise InputError("no 'rows' / 'num_rows_total' arrays: written by an "
                     'older version; rerun the shard', source=str(d /
                                                                  arr_name),
                     field='rows')
  return {'kind': kind, 'dir': d, 'doc': _load_json(d / doc_name),
          'arrays': arrays, 'rows': arrays['rows'].astype(np.int64)}


def check_rows(rows: Sequence[np.ndarray], num_rows: int,
               sources: Sequence[str]) -> np.ndarray:
  """Checks that the shards cover rows 0..num_rows-1 exactly once.

  Args:
    rows: each shard's global row indices.
    num_rows: rows of the whole job.
    sources: each shard's name, for the error.

  Returns:
    The permutation putting the concatenated rows in order.

  Raises:
    ValueError: naming missing, repeated or out-of-range rows.
  """
  allrows = np.concatenate([np.asarray(r, np.int64) for r in rows])
  problems = []
  bad = allrows[(allrows < 0) | (allrows >= num_rows)]
  if bad.size:
    problems.append(f'rows outside 0..{num_rows - 1}: {bad[:10].tolist()}')
  counts = np.bincount(allrows[(allrows >= 0) & (allrows < num_rows)],
                       minlength=num_rows)
  missing = np.flatnonzero(counts == 0)
  if missing.size:
    problems.append(f'{missing.size} row(s) missing, e.g. '
                    f'{missing[:10].tolist()} (a shard not given or not '
                    'finished?)')
  dup = np.flatnonzero(counts > 1)
  if dup.size:
    owners = {int(r): [s for s, rr in zip(sources, rows) if r in rr]
              for r in dup[:3]}
    problems.append(f'{dup.size} row(s) present more than once, e.g. '
                    f'{owners} (the same shard given twice?)')
  if problems:
    raise ValueError(f'cannot merge {len(rows)} shard(s) of a {num_rows}-row '
                     'job: ' + '; '.join(problems))
  return np.argsort(allrows, kind='stable')


def _job_description(doc: dict[str, Any], kind: str) -> dict[str, Any]:
  """The part of a shard's JSON every shard of the job must share."""
  if kind == 'fit':
    skip = set(scoring.METRIC_KEYS) | set(PER_SHARD_KEYS)
  else:
    skip = set(PER_SHARD_KEYS) | {'poses', 'num_flagged', 'status_counts'}
  return {k: v for k, v in doc.items() if k not in skip}


def merge(out: str | os.PathLike,
          shard_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
  """Merges shard workdirs into `out` (see the module docstring).

  Args:
    out: output folder (created).
    shard_dirs: the shards' workdirs, in any order.

  Returns:
    {'kind', 'num_rows', 'files'}: what was written.

  Raises:
    FileNotFoundError: a shard folder or its outputs are missing.
    InputError: shards of different jobs / kinds, unreadable files.
    ValueError: rows missing or repeated.
  """
  if not shard_dirs:
    raise ValueError('no shard workdirs given')
  shards = [load_shard(d) for d in shard_dirs]
  first = shards[0]
  kind = first['kind']
  num_rows = int(first['arrays']['num_rows_total'])
  job = _job_description(first['doc'], kind)
  doc_name, arr_name = KINDS[kind]
  for s in shards[1:]:
    where = str(s['dir'] / doc_name)
    if s['kind'] != kind:
      raise InputError(f'a {s["kind"]} shard among {kind} shards',
                       source=str(s['dir']))
    if int(s['arrays']['num_rows_total']) != num_rows:
      raise InputError(f'num_rows_total {int(s["arrays"]["num_rows_total"])}'
                       f' but {first["dir"]} has {num_rows}: shards of '
                       'different inputs', source=str(s['dir'] / arr_name),
                       field='num_rows_total')
    other = _job_description(s['doc'], kind)
    diff = sorted(k for k in set(job) | set(other)
                  if job.get(k) != other.get(k))
    if diff:
      raise InputError(f'differs from {first["dir"] / doc_name} in {diff}: '
                       'shards of different jobs', source=where,
                       field=diff[0])
    for k in SHARED_ARRAYS:
      if not np.array_equal(s['arrays'].get(k), first['arrays'].get(k)):
        raise InputError(f'{k!r} differs from {first["dir"] / arr_name}',
                         source=str(s['dir'] / arr_name), field=k)
  order = check_rows([s['rows'] for s in shards], num_rows,
                     [str(s['dir']) for s in shards])
  per_row = [k for k in first['arrays'] if k not in SHARED_ARRAYS]
  merged = {}
  for k in per_row:
    parts = []
    for s in shards:
      if k not in s['arrays']:
        raise InputError(f'array {k!r} missing', source=str(s['dir'] /
                                                            arr_name), field=k)
      parts.append(s['arrays'][k])
    merged[k] = np.concatenate(parts)[order]
  for k in SHARED_ARRAYS:
    if k in first['arrays']:
      merged[k] = first['arrays'][k]
  out = pathlib.Path(out)
  out.mkdir(parents=True, exist_ok=True)
  timing = {'merged_from': [str(s['dir']) for s in shards],
            'shards': [s['doc'].get('timing') for s in shards]}
  if kind == 'fit':
    doc = scoring.score_results(
        job, merged['pred_poses'], merged['pred_min_reproj'],
        merged['pred_mean'], merged['gt'], merged['reproj_error'],
        status=merged.get('status'), reasons=merged.get('reason'),
        rows=merged.get('rows'))
    doc[scoring.TIMING_KEY] = timing
    np.savez_compressed(out / arr_name, **merged)
    jsonio.write_json(out / doc_name, doc)
  else:
    poses = [p for s in shards for p in s['doc'].get('poses', [])]
    poses.sort(key=lambda p: p['row'])
    doc = dict(job, poses=poses, timing=timing)
    if 'status' in merged:
      doc['num_flagged'] = int((merged['status'] != validity.OK).sum())
      doc['status_counts'] = validity.counts(merged['status'])
    np.savez_compressed(out / arr_name, **merged)
    jsonio.write_json(out / doc_name, doc, indent=1)
  print(f'merged {len(shards)} {kind} shard(s), {num_rows} rows -> {out}')
  return {'kind': kind, 'num_rows': num_rows,
          'files': [str(out / doc_name), str(out / arr_name)]}


_OUT = flags.DEFINE_string('out', None, 'Folder for the merged outputs.')


def main(argv):
  if len(argv) < 2:
    raise app.UsageError('usage: python -m zedoi_jax.merge --out=DIR '
                         'SHARD_WORKDIR [SHARD_WORKDIR ...]')
  merge(_OUT.value, argv[1:])


if __name__ == '__main__':
  flags.mark_flags_as_required(['out'])
  app.run(main)
