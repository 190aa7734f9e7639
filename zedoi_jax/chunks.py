"""Streaming results to disk in chunks, so an interrupted big job resumes.

A `ChunkStore` is a folder of `chunk_00000.npz`, ... files, each holding the
results for one contiguous range of input rows. A chunk is written to a
temporary name and renamed into place, so a file that exists is complete: a
run killed mid-way loses at most the chunk in flight, and a restarted run
skips every chunk already on disk. A `manifest.json` records what the chunks
are for (input identity, row count, chunk size); a store made for other input
or another chunk size is refused instead of being silently mixed.
"""

from __future__ import annotations

import json
import os
import pathlib
import zipfile
from typing import Any, Callable, Mapping

import numpy as np

from zedoi_jax import errors
from zedoi_jax import locks

MANIFEST = 'manifest.json'


class ChunkStore:
  """Chunked, atomic, resumable storage of per-row results.

  Args:
    directory: folder of the chunks (created).
    num_rows: rows of the whole job.
    chunk_size: rows per chunk.
    identity: JSON-able description of the job's input and settings; a store
      whose manifest holds another identity is refused.
  """

  def __init__(self, directory: str | os.PathLike, *, num_rows: int,
               chunk_size: int, identity: Mapping[str, Any],
               writer: bool = True):
    if chunk_size < 1:
      raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    self.directory = pathlib.Path(directory)
    self.num_rows = int(num_rows)
    self.chunk_size = int(chunk_size)
    # Only one process of a multi-process job touches the files.
    self.writer = bool(writer)
    manifest = {'num_rows': self.num_rows, 'chunk_size': self.chunk_size,
                'identity': json.loads(json.dumps(identity))}
    if not self.writer:
      return
    self.directory.mkdir(parents=True, exist_ok=True)
    # Half-written chunks of a killed run (temporary names of dead pids).
    locks.remove_stale_temps(self.directory)
    path = self.directory / MANIFEST
    if path.exists():
      try:
        old = json.loads(path.read_text())
      except json.JSONDecodeError as e:
        raise errors.InputError(f'corrupt manifest ({e})',
                                source=str(path)) from e
      if old != manifest:
        raise errors.InputError(
            'these chunks belong to another job (input, settings or chunk '
            f'size differ): found {old}, expected {manifest}; use a fresh '
            'workdir', source=str(path), field='identity')
    else:
      tmp = locks.temp_name(path)
      tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
      tmp.replace(path)

  @property
  def num_chunks(self) -> int:
    return -(-self.num_rows // self.chunk_size)

  def rows(self, chunk: int) -> slice:
    """Input rows of chunk `chunk`."""
    start = chunk * self.chunk_size
    return slice(start, min(start + self.chunk_size, self.num_rows))

  def path(self, chunk: int) -> pathlib.Path:
    return self.directory / f'chunk_{chunk:05d}.npz'

  def is_done(self, chunk: int) -> bool:
    return self.path(chunk).exists()

  def pending(self) -> list[int]:
    """Chunks not yet on disk, in order."""
    return [c for c in range(self.num_chunks) if not self.is_done(c)]

  def write(self, chunk: int, arrays: Mapping[str, np.ndarray]) -> None:
    """Writes one chunk atomically (temporary file, then rename).

    A store made with writer=False checks the arrays and writes nothing.
    """
    rows = self.rows(chunk)
    n = rows.stop - rows.start
    for k, v in arrays.items():
      if np.shape(v)[:1] != (n,):
        raise ValueError(f'chunk {chunk}: {k!r} has leading size '
                         f'{np.shape(v)[:1]}, expected {n}')
    if not self.writer:
      return
    tmp = locks.temp_name(self.path(chunk))
    with open(tmp, 'wb') as f:
      np.savez(f, **{k: np.asarray(v) for k, v in arrays.items()})
      f.flush()
      os.fsync(f.fileno())
    tmp.replace(self.path(chunk))

  def read(self, chunk: int) -> dict[str, np.ndarray]:
    path = self.path(chunk)
    try:
      with np.load(path) as z:
        return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
      raise errors.InputError(f'corrupt chunk ({e}); delete it to recompute',
                              source=str(path)) from e

  def gather(self) -> dict[str, np.ndarray]:
    """All chunks concatenated in row order (every chunk must be done)."""
    missing = self.pending()
    if missing:
      raise ValueError(f'{len(missing)} chunk(s) not finished: {missing[:5]}')
    parts = [self.read(c) for c in range(self.num_chunks)]
    if not parts:
      return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class Interrupted(RuntimeError):
  """Raised by `run_chunks(..., stop_after=k)`: simulates a killed job."""


def run_chunks(store: ChunkStore,
               compute: Callable[[slice], Mapping[str, np.ndarray]], *,
               stop_after: int | None = None,
               on_chunk: Callable[[int, slice], None] | None = None
               ) -> dict[str, np.ndarray] | None:
  """Computes every unfinished chunk of `store`, then gathers them all.

  In a multi-process job every process must call this (the computation is
  collective): process 0's view of which chunks are done is broadcast, so
  the processes agree on the work even when only process 0 sees the files;
  only a store with `writer=True` (process 0's) writes them.

  Args:
    store: the job's chunks.
    compute: rows (a slice of the job's rows) -> per-row arrays (leading
      axis = len(rows)); called once per unfinished chunk, in order.
    stop_after: raise `Interrupted` after computing this many chunks (tests
      and demos of resuming; None = run to the end).
    on_chunk: called as on_chunk(chunk, rows) after each computed chunk.

  Returns:
    All chunks concatenated in row order on the writer; None elsewhere.
  """
  # Imported here: the store itself is numpy-only.
  from zedoi_jax import parallel  # pylint: disable=g-import-not-at-top
  done = np.array([store.writer and store.is_done(c)
                   for c in range(store.num_chunks)], bool)
  done = parallel.broadcast_from_main(done.astype(np.int32)).astype(bool)
  pending = [c for c in range(store.num_chunks) if not done[c]]
  for count, chunk in enumerate(pending):
    if stop_after is not None and count >= stop_after:
      raise Interrupted(f'stopped after {count} chunk(s) (stop_after); '
                        f'{len(pending) - count} left in {store.directory}')
    rows = store.rows(chunk)
    store.write(chunk, compute(rows))
    if on_chunk is not None:
      on_chunk(chunk, rows)
  return store.gather() if store.writer else None
