r"""Runs a notebook's code cells as a script (no Jupyter needed).

Checks experiments/colab_tpu.ipynb end to end on a CPU: the code cells run
in order in one namespace, with the IPython syntax the notebook uses turned
into plain Python:

- `!cmd` lines (also inside loops): `{expr}` and `$name` are expanded from
  the namespace as IPython does, then the command runs in a shell; a non-zero
  exit stops the run (IPython would only print it);
- `%cd path`: os.chdir; `%env NAME=value`: os.environ;
- cells whose first line is `# colab-only` (clone, install, download) are
  skipped with --local;
- `IPython.display.display` writes a line naming what would be shown (and
  checks an image file exists) instead of rendering it.

  python experiments/run_notebook.py experiments/colab_tpu.ipynb --local \
      --quick --data=/work/shared/data --out=/tmp/nb_runs

--local/--quick/--data/--out set the notebook's ZEDOI_NOTEBOOK_* environment
variables (read by its parameter cell). The run starts in the repository
root (where the notebook's commands expect to be).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import types
from typing import Any

REPO = pathlib.Path(__file__).resolve().parents[1]
COLAB_ONLY = '# colab-only'
_EXPR = re.compile(r'\{([^{}]+)\}')
_NAME = re.compile(r'\$([A-Za-z_][A-Za-z0-9_]*)')


def expand(command: str, namespace: dict[str, Any]) -> str:
  """IPython-style expansion of `{expr}` and `$name` in a shell line.

  `{expr}` is evaluated in `namespace`; `$name` is replaced when `name` is
  in the namespace (other `$VARS` are left for the shell); `{{`/`}}` and
  `$$` are literal braces and dollar signs.
  """
  command = command.replace('{{', '\0lb').replace('}}', '\0rb')
  command = command.replace('$$', '\0dd')
  # IPython evaluates {expr} in the user namespace too.
  # pylint: disable-next=eval-used
  command = _EXPR.sub(lambda m: str(eval(m.group(1), namespace)),
                      command)
  command = _NAME.sub(lambda m: str(namespace[m.group(1)])
                      if m.group(1) in namespace else m.group(0), command)
  return (command.replace('\0lb', '{').replace('\0rb', '}')
          .replace('\0dd', '$'))


def translate(source: str) -> str:
  """Cell source with `!`, `%cd` and `%env` lines as Python calls."""
  lines = []
  for line in source.splitlines():
    stripped = line.lstrip()
    indent = line[:len(line) - len(stripped)]
    if stripped.startswith('!'):
      lines.append(f'{indent}__nb_system({stripped[1:]!r})')
    elif stripped.startswith('%cd '):
      lines.append(f'{indent}__nb_cd({stripped[4:].strip()!r})')
    elif stripped.startswith('%env '):
      lines.append(f'{indent}__nb_env({stripped[5:].strip()!r})')
    elif stripped.startswith('%'):
      raise ValueError(f'unsupported magic: {stripped}')
    else:
      lines.append(line)
  return '\n'.join(lines) + '\n'


class _Shown:
  """Stand-in for IPython.display's Image / Markdown / HTML objects."""

  def __init__(self, data=None, *, filename=None, **unused_kwargs):
    self.data = data
    self.filename = filename


def _display(*objs, **unused_kwargs):
  """Prints a line naming what would be shown; checks pictures exist."""
  for obj in objs:
    filename = getattr(obj, 'filename', None)
    if filename:
      if not pathlib.Path(filename).is_file():
        raise FileNotFoundError(f'display: no such picture: {filename}')
      size = pathlib.Path(filename).stat().st_size
      print(f'[display {type(obj).__name__}: {filename}, {size} bytes]')
    else:
      data = getattr(obj, 'data', obj)
      text = str(data)
      print(f'[display {type(obj).__name__}: {len(text)} characters]')
      print(text[:2000])


def _install_display() -> None:
  """Makes `from IPython.display import Image, Markdown, display` print.

  With IPython installed its `display` is replaced; without it (IPython is
  not a dependency of the package) a small stand-in module is registered as
  `IPython.display`, so the notebook's display cells run either way.
  """
  try:
    from IPython import display as ipd  # pylint: disable=g-import-not-at-top
  except ImportError:
    ipython = types.ModuleType('IPython')
    ipd = types.ModuleType('IPython.display')
    for name in ('Image', 'Markdown', 'HTML'):
      setattr(ipd, name, type(name, (_Shown,), {}))
    ipython.display = ipd
    sys.modules['IPython'] = ipython
    sys.modules['IPython.display'] = ipd
  ipd.display = _display


def run(path: str | os.PathLike, *, local: bool) -> int:
  """Executes the notebook's code cells; returns the number run."""
  nb = json.loads(pathlib.Path(path).read_text())
  namespace: dict[str, Any] = {'__name__': '__main__'}

  def system(command: str) -> None:
    command = expand(command, namespace)
    print(f'$ {command}', flush=True)
    result = subprocess.run(command, shell=True, check=False)
    if result.returncode:
      raise RuntimeError(f'command failed (exit {result.returncode}): '
                         f'{command}')

  def cd(target: str) -> None:
    os.chdir(expand(target, namespace))
    print(f'cd {os.getcwd()}')

  def env(assignment: str) -> None:
    name, _, value = assignment.partition('=')
    os.environ[name.strip()] = expand(value.strip(), namespace)

  namespace.update(__nb_system=system, __nb_cd=cd, __nb_env=env)
  _install_display()
  ran = 0
  for index, cell in enumerate(nb['cells']):
    if cell['cell_type'] != 'code':
      continue
    source = ''.join(cell['source'])
    first = source.lstrip().splitlines()[0] if source.strip() else ''
    if local and first.strip() == COLAB_ONLY:
      print(f'--- cell {index}: skipped (colab-only)')
      continue
    print(f'--- cell {index}', flush=True)
    t0 = time.perf_counter()
    code = compile(translate(source), f'<cell {index}>', 'exec')
    exec(code, namespace)  # pylint: disable=exec-used
    print(f'--- cell {index} done in {time.perf_counter() - t0:.1f} s',
          flush=True)
    ran += 1
  return ran


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('notebook', nargs='?',
                      default=str(REPO / 'experiments' / 'colab_tpu.ipynb'))
  parser.add_argument('--local', action='store_true',
                      help='skip the colab-only cells (clone/install/'
                           'download)')
  parser.add_argument('--quick', action='store_true',
                      help='few poses and steps (ZEDOI_NOTEBOOK_QUICK=1)')
  parser.add_argument('--data', default=None,
                      help='folder holding syrip/ (ZEDOI_NOTEBOOK_DATA)')
  parser.add_argument('--out', default=None,
                      help='where runs write (ZEDOI_NOTEBOOK_OUT)')
  args = parser.parse_args(argv)
  notebook = pathlib.Path(args.notebook).resolve()
  if not notebook.is_file():
    print(f'run_notebook: no such notebook: {notebook}', file=sys.stderr)
    return 1
  if args.local:
    os.environ['ZEDOI_NOTEBOOK_LOCAL'] = '1'
  if args.quick:
    os.environ['ZEDOI_NOTEBOOK_QUICK'] = '1'
  if args.data:
    os.environ['ZEDOI_NOTEBOOK_DATA'] = str(pathlib.Path(args.data).resolve())
  if args.out:
    os.environ['ZEDOI_NOTEBOOK_OUT'] = str(pathlib.Path(args.out).resolve())
  os.chdir(REPO)
  t0 = time.perf_counter()
  ran = run(notebook, local=args.local)
  print(f'notebook OK: {ran} code cells in '
        f'{time.perf_counter() - t0:.0f} s')
  return 0


if __name__ == '__main__':
  sys.exit(main())
