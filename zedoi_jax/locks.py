"""One run per workdir: an advisory lock file naming its owner.

`hold(workdir)` takes `workdir/.zedoi.lock` for the duration of a run: an
exclusive `fcntl.flock` on the file, and the owner (pid, host, start time,
command) written inside it. A second process on the same workdir gets
`WorkdirBusy`, a one-line error naming the owner. The kernel drops the lock
when its process dies (even by kill -9), so a lock file left by a dead
process is stale by construction: the next run takes it over (logging
whose it was). The file itself is left in place after a run (emptied):
removing it would let two later runs lock two different files.

Multi-process jobs (jax.distributed) share one workdir legitimately: only
process 0 takes the lock (`runs.start`).

`temp_name(path)` gives per-process temporary names (host and pid in the
name) for files written then renamed into place, and `remove_stale_temps`
removes those of dead processes on this host.

Where `fcntl` is missing (Windows) no lock is taken, with a warning.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import sys
import time
from typing import Iterator

from absl import logging

from zedoi_jax import errors

try:
  import fcntl  # pylint: disable=g-import-not-at-top
except ImportError:  # Windows
  fcntl = None

LOCK_NAME = '.zedoi.lock'
_TEMP_PREFIX = '.tmp'


class WorkdirBusy(errors.InputError):
  """Another live process holds the workdir's lock."""


def _host() -> str:
  return socket.gethostname()


def owner(workdir: str | os.PathLike) -> dict | None:
  """The owner recorded in the workdir's lock file (None if none/empty)."""
  try:
    text = (pathlib.Path(workdir) / LOCK_NAME).read_text()
    return json.loads(text) if text.strip() else None
  except (OSError, ValueError):
    return None


def _describe(info: dict | None) -> str:
  if not info:
    return 'another process (its details are not written yet)'
  started = time.strftime('%Y-%m-%d %H:%M:%S',
                          time.localtime(info.get('time', 0)))
  return (f'pid {info.get("pid")} on host {info.get("host")} (since '
          f'{started}: {info.get("command", "")})')


@contextlib.contextmanager
def hold(workdir: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Holds the workdir's lock for the body of the `with`.

  Raises:
    WorkdirBusy: another live process holds it.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  path = workdir / LOCK_NAME
  if fcntl is None:
    logging.warning('no fcntl on this platform: %s is not locked; do not '
                    'start two runs on it', workdir)
    yield path
    return
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise WorkdirBusy(
          f'workdir is in use by {_describe(owner(workdir))}; wait for that '
          'run to finish or use another --workdir',
          source=str(path)) from None
    except OSError as e:  # a file system without locks (some NFS setups)
      logging.warning('cannot lock %s (%s): do not start two runs on this '
                      'workdir', path, e)
    previous = owner(workdir)
    if previous:
      logging.warning('%s: taking over the stale lock of %s (that process '
                      'is gone)', path, _describe(previous))
    info = {'pid': os.getpid(), 'host': _host(), 'time': time.time(),
            'command': ' '.join(sys.argv)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + '\n').encode(), 0)
    os.fsync(fd)
    try:
      yield path
    finally:
      os.ftruncate(fd, 0)  # released cleanly: no owner to report
  finally:
    os.close(fd)  # drops the flock


def temp_name(path: str | os.PathLike) -> pathlib.Path:
  """A temporary sibling of `path` unique to this process (host, pid)."""
  p = pathlib.Path(path)
  return p.with_name(f'{_TEMP_PREFIX}.{_host()}.{os.getpid()}.{p.name}')


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_temps(directory: str | os.PathLike) -> list[pathlib.Path]:
  """Removes `temp_name` files of dead processes of this host in
  `directory` (a killed run's half-written files); returns them."""
  directory = pathlib.Path(directory)
  removed = []
  if os.name != 'posix' or not directory.is_dir():
    return removed
  host = _host()
  for p in directory.glob(f'{_TEMP_PREFIX}.*'):
    # Host names may hold dots: match this host as a prefix.
    rest = p.name[len(f'{_TEMP_PREFIX}.'):]
    if not rest.startswith(host + '.'):
      continue
    pid_text = rest[len(host) + 1:].split('.', 1)[0]
    if pid_text.isdigit() and not _alive(int(pid_text)) and p.is_file():
      p.unlink(missing_ok=True)
      removed.append(p)
  return removed
