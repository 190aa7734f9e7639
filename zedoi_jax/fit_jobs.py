"""Fit jobs: many rows through the compiled ZeDO fit, sharded and resumable.

Shared by `--config.mode=fit` and `--config.mode=lift` (zedoi_jax/modes/):
`make_mesh_fit_fn` builds (and memoises) the batch fit of `zedo.make_fit_fn`
over every device, and `fit_in_chunks` runs a job's rows in atomic,
resumable chunks (`zedoi_jax.chunks`), so a killed run restarted in the same
workdir skips the finished chunks and ends with the same results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import jax
import numpy as np

from zedoi_jax import chunks
from zedoi_jax import parallel
from zedoi_jax import progress
from zedoi_jax import zedo

# Recently built fit functions, so that repeated runs in one process (sweeps,
# notebooks, a restarted job in a test) reuse the compiled code.
_FIT_FNS: dict[str, Any] = {}


_MAX_FIT_FNS = 4


def make_mesh_fit_fn(model, cfg: zedo.FitConfig):
  """The batch fit over every global device (a ('data',) mesh) when > 1.

  Memoised on the model's model.json (architecture, SDE, parameter
  fingerprints), the fit settings and the devices: the parameters are an
  argument of the compiled function, so an equal model reuses it.
  """
  mesh = parallel.data_mesh() if jax.device_count() > 1 else None
  key = json.dumps({'meta': model.meta, 'scale': model.scale,
                    'cfg': dataclasses.asdict(cfg),
                    'devices': [d.id for d in jax.devices()]},
                   sort_keys=True, default=str)
  if key not in _FIT_FNS:
    if len(_FIT_FNS) >= _MAX_FIT_FNS:
      _FIT_FNS.pop(next(iter(_FIT_FNS)))
    _FIT_FNS[key] = zedo.make_fit_fn(score_fn=model.score_fn, sde=model.sde,
                                     scale=model.scale, cfg=cfg, mesh=mesh)
  return _FIT_FNS[key]


def fit_in_chunks(fit_batch, inputs: dict[str, Any], *, rows: np.ndarray,
                  store_dir: str | os.PathLike, identity: dict[str, Any],
                  chunk_size: int, batch_size: int, rng: jax.Array,
                  params: Any, root_joints, prog=None,
                  stop_after_chunks: int | None = None
                  ) -> dict[str, Any] | None:
  """Fits poses in resumable chunks (`chunks.ChunkStore` at `store_dir`).

  Each finished chunk is written atomically (by process 0), so a killed run
  loses at most the chunk in flight and a restart with the same identity
  skips the finished ones. Every chunk runs at one fixed batch size
  (`pad_to_batch`), so per-pose results do not depend on how the rows are
  chunked or sharded. In a multi-process job every process calls this.

  Args:
    fit_batch: from `zedo.make_fit_fn`.
    inputs: {'keypoints' [N, J, 2], 'confidence' [N, J], 'K' [N, 3, 3],
      'id' [N]} (model layout) for this job's N rows.
    rows: [N] global row index of each (written with the results).
    store_dir: chunk folder.
    identity: JSON description of the job (input, model, settings, shard).
    chunk_size: poses per chunk.
    batch_size: poses per compiled batch.
    rng: root fit key (sample keys are fold_in(rng, id)).
    params: score model parameters.
    root_joints: the model layout's root joints (hypothesis selection).
    prog: optional `progress.Progress` over the N poses.
    stop_after_chunks: raise `chunks.Interrupted` after computing this many
      chunks (simulates a kill; tests).

  Returns:
    On process 0: 'pose' [N, S, J, 3], 'translation' [N, S, 3], 'rotation'
    [N, S, 3, 3], 'reproj_error' [N, S], 'id' [N], 'row' [N], the
    `zedo.select_hypotheses` entries and 'timing' (seconds, chunk counts).
    None on the other processes.
  """
  n = len(rows)
  store = chunks.ChunkStore(store_dir, num_rows=n, chunk_size=chunk_size,
                            identity=identity,
                            writer=parallel.is_main_process())
  fields = {k: np.asarray(inputs[k]) for k in ('keypoints', 'confidence',
                                                'K', 'id')}
  rows = np.asarray(rows, np.int64)
  timing = {'compute_s': 0.0, 'first_chunk_s': None, 'chunks_computed': 0,
            'poses_computed': 0, 'chunks_total': store.num_chunks}

  def compute(sl: slice) -> dict[str, np.ndarray]:
    t0 = time.perf_counter()
    out = zedo.fit_dataset(fit_batch, {k: v[sl] for k, v in fields.items()},
                          batch_size=batch_size, rng=rng, params=params,
                          pad_to_batch=True,
                          # Per batch, so a big chunk shows progress too.
                          progress=(progress.Offset(prog, sl.start)
                                    if prog is not None else None))
    seconds = time.perf_counter() - t0
    timing['compute_s'] += seconds
    if timing['first_chunk_s'] is None:
      timing['first_chunk_s'] = seconds  # includes compilation
    timing['chunks_computed'] += 1
    timing['poses_computed'] += sl.stop - sl.start
    arrays = {k: out[k] for k in ('pose', 'translation', 'rotation',
                                  'reproj_error', 'id')}
    arrays['row'] = rows[sl]
    return arrays

  def on_chunk(chunk, sl):
    del chunk
    if prog is not None:
      prog.update(sl.stop)

  out = chunks.run_chunks(store, compute, stop_after=stop_after_chunks,
                          on_chunk=on_chunk)
  if out is None:
    return None
  out.update(zedo.select_hypotheses(out['pose'], out['translation'],
                                   out['reproj_error'], root_joints))
  timing['chunks_resumed'] = store.num_chunks - timing['chunks_computed']
  out['timing'] = timing
  return out
