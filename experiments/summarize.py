r"""Gathers the results.json files of a sweep into one table and one plot.

A sweep is a folder tree of run workdirs, each written by
`python -m zedoi_jax.main` (config.json + results.json). The config keys
whose values differ between the runs are found from the runs' config.json
files (flattened to dotted names, e.g. `fit.t_max`); they become the
table's leading columns, rows sorted by them. Metrics are dotted paths into
results.json (e.g. `mpjpe_mm`, `variants.mean.mpjpe_mm`) or one of the
derived values below. Writes PREFIX.md (a markdown table) and PREFIX.png
(matplotlib Agg).

  python experiments/summarize.py /tmp/sweep --out=/tmp/sweep/summary \
      --x=fit.oil_steps --series=fit.t_max --plot_metrics=mpjpe_mm,ms_per_pose

Derived metrics:
  ms_per_pose: fit time per pose after compilation, milliseconds: the time
    of the result chunks after the first (timing.compute_s -
    timing.first_chunk_s) over their poses, when the run had more than one
    chunk (set parallel.chunk_size = fit.batch_size < the pose count);
    else the total over all poses (compilation included, marked in the
    table's notes). Older flat results.json files (fit_seconds,
    first_batch_seconds) are read too.
  ms_per_pose_incl_compile: total fit seconds / num_poses * 1000.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
from typing import Any, Iterable, Sequence

DEFAULT_METRICS = ('mpjpe_mm', 'pa_mpjpe_mm', 'variants.mean.mpjpe_mm',
                   'best_of_s_mpjpe_mm', 'reproj_error_px', 'ms_per_pose',
                   'num_poses')
# Short column headers for the common metrics.
HEADERS = {
    'mpjpe_mm': 'MPJPE mm',
    'pa_mpjpe_mm': 'PA-MPJPE mm',
    'variants.min_reproj.mpjpe_mm': 'min-reproj MPJPE mm',
    'variants.mean.mpjpe_mm': 'mean-of-S MPJPE mm',
    'variants.min_reproj.pa_mpjpe_mm': 'min-reproj PA-MPJPE mm',
    'variants.mean.pa_mpjpe_mm': 'mean-of-S PA-MPJPE mm',
    'best_of_s_mpjpe_mm': 'best-of-S MPJPE mm (oracle)',
    'best_of_s_pa_mpjpe_mm': 'best-of-S PA-MPJPE mm (oracle)',
    'reproj_error_px': 'reproj px',
    'ms_per_pose': 'ms / pose',
    'ms_per_pose_incl_compile': 'ms / pose (incl. compile)',
    'num_poses': 'poses',
}
# Config keys that may differ between runs without being a swept setting.
IGNORED_KEYS = ('progress',)


def flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  """Nested dicts -> {'a.b.c': leaf}; lists are kept as leaves."""
  if not isinstance(tree, dict):
    return {prefix: tree}
  out = {}
  for key, value in tree.items():
    name = f'{prefix}.{key}' if prefix else str(key)
    if isinstance(value, dict) and value:
      out.update(flatten(value, name))
    else:
      out[name] = value
  return out


def _read_json(path: pathlib.Path) -> dict[str, Any]:
  try:
    doc = json.loads(path.read_text())
  except json.JSONDecodeError as e:
    raise ValueError(f'{path}: not valid JSON ({e})') from e
  if not isinstance(doc, dict):
    raise ValueError(f'{path}: expected a JSON object')
  return doc


def _derived(results: dict[str, Any],
             config: dict[str, Any]) -> dict[str, Any]:
  """ms_per_pose (after compilation when measurable) and the plain one.

  Reads either results.json layout: the chunked one (a 'timing' dict with
  compute_s, first_chunk_s, poses_computed; chunks of the config's
  parallel.chunk_size poses) or the earlier flat one (fit_seconds,
  first_batch_seconds, fit_config.batch_size, devices).
  """
  out: dict[str, Any] = {}
  timing = results.get('timing')
  if isinstance(timing, dict):
    n = timing.get('poses_computed') or results.get('num_poses')
    total = timing.get('compute_s', timing.get('fit_seconds'))
    first = timing.get('first_chunk_s')
    chunk = config.get('parallel.chunk_size')
    # Poses in the first computed chunk (it carries the compilation).
    first_n = min(int(chunk), n) if chunk and n else None
  else:
    n = results.get('num_poses')
    total = results.get('fit_seconds')
    first = results.get('first_batch_seconds')
    batch = (results.get('fit_config') or {}).get('batch_size')
    devices = max(int(results.get('devices') or 1), 1)
    first_n = None
    if batch and n:
      # fit.fit_dataset's batch: at most n, rounded up to the device count;
      # the later batches' pose slots (padding included) set the rate.
      batch = int(math.ceil(min(int(batch), n) / devices) * devices)
      first_n = n - (math.ceil(n / batch) - 1) * batch
  if not n or total is None:
    return out
  out['ms_per_pose_incl_compile'] = 1000.0 * total / n
  if first is not None and first_n and n > first_n and total > first:
    out['ms_per_pose'] = 1000.0 * (total - first) / (n - first_n)
    out['ms_per_pose_after_compile'] = True
  else:
    out['ms_per_pose'] = out['ms_per_pose_incl_compile']
    out['ms_per_pose_after_compile'] = False
  return out


def load_runs(roots: Sequence[str | pathlib.Path]) -> list[dict[str, Any]]:
  """Every run (a folder holding results.json) under the roots.

  Args:
    roots: sweep folders; searched recursively.

  Returns:
    One dict per run, sorted by path: {'name': path relative to its root,
    'path': the run folder, 'config': flattened config.json (or, without
    it, results.json's fit_config as `fit.*`), 'results': flattened
    results.json plus the derived metrics}.

  Raises:
    FileNotFoundError: a root does not exist.
    ValueError: no results.json under the roots, or an unreadable one.
  """
  runs = []
  for root in roots:
    root = pathlib.Path(root)
    if not root.exists():
      raise FileNotFoundError(f'sweep folder not found: {root}')
    for path in sorted(root.rglob('results.json')):
      results = _read_json(path)
      config_path = path.parent / 'config.json'
      if config_path.is_file():
        config = flatten(_read_json(config_path))
      else:
        config = flatten({'fit': results.get('fit_config') or {}})
      flat = flatten(results)
      flat.update(_derived(results, config))
      name = path.parent.relative_to(root).as_posix()
      runs.append({'name': name if name != '.' else root.name,
                   'path': path.parent, 'config': config, 'results': flat})
  if not runs:
    raise ValueError(f'no results.json found under {[str(r) for r in roots]}')
  return runs


def _hashable(value: Any) -> Any:
  return json.dumps(value, sort_keys=True)


def varying_keys(runs: Sequence[dict[str, Any]],
                 ignore: Iterable[str] = IGNORED_KEYS) -> list[str]:
  """Config keys whose values are not the same in every run, sorted.

  A key missing from some runs counts as varying (its value there is None).
  """
  ignore = set(ignore)
  keys = sorted(set().union(*(r['config'] for r in runs)) - ignore)
  out = []
  for key in keys:
    values = {_hashable(r['config'].get(key)) for r in runs}
    if len(values) > 1:
      out.append(key)
  return out


def _sort_value(value: Any) -> tuple[int, Any]:
  """Orders None < numbers (and bools) < strings < anything else."""
  if value is None:
    return (0, 0)
  if isinstance(value, (bool, int, float)):
    return (1, float(value))
  if isinstance(value, str):
    return (2, value)
  return (3, _hashable(value))


def sort_runs(runs: Sequence[dict[str, Any]],
              keys: Sequence[str]) -> list[dict[str, Any]]:
  """Runs sorted by the values of `keys` (then by name)."""
  return sorted(runs, key=lambda r: (
      tuple(_sort_value(r['config'].get(k)) for k in keys), r['name']))


def _fmt(value: Any) -> str:
  if value is None:
    return '-'
  if isinstance(value, bool):
    return str(value)
  if isinstance(value, float):
    if not math.isfinite(value):
      return str(value)
    return f'{value:.1f}' if abs(value) >= 10 else f'{value:.3g}'
  if isinstance(value, list):
    return '[' + ', '.join(_fmt(v) for v in value) + ']'
  return str(value).replace('|', '\\|')


def markdown_table(runs: Sequence[dict[str, Any]], keys: Sequence[str],
                   metrics: Sequence[str]) -> str:
  """A markdown table: one row per run, key columns then metric columns."""
  head = ['run'] + list(keys) + [HEADERS.get(m, m) for m in metrics]
  lines = ['| ' + ' | '.join(head) + ' |',
           '|' + '|'.join(['---'] * (1 + len(keys)) +
                          ['---:'] * len(metrics)) + '|']
  for r in runs:
    cells = ([r['name']] + [_fmt(r['config'].get(k)) for k in keys] +
             [_fmt(r['results'].get(m)) for m in metrics])
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def _numeric(values: Sequence[Any]) -> bool:
  return all(isinstance(v, (int, float)) and not isinstance(v, bool)
             for v in values)


def plot(runs: Sequence[dict[str, Any]], *, x: str, series: Sequence[str],
         metrics: Sequence[str], path: str | pathlib.Path,
         title: str = '', same_axes: bool = False) -> pathlib.Path:
  """Line plot of metrics against config key `x`, one line per series.

  Args:
    runs: from `load_runs`.
    x: config key on the horizontal axis (numeric: a log axis when its
      values span more than a factor 8; otherwise categorical).
    series: config keys whose value combination names one line.
    metrics: results keys; one panel each, or all in one panel with
      `same_axes` (one line per series x metric).
    path: output PNG.
    title: figure title.
    same_axes: draw every metric in one panel.

  Returns:
    The written path.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  xs_all = [r['config'].get(x) for r in runs]
  numeric = _numeric(xs_all)
  categories = sorted({_hashable(v) for v in xs_all},
                      key=lambda h: _sort_value(json.loads(h)))
  groups: dict[str, list[dict[str, Any]]] = {}
  for r in runs:
    label = ', '.join(f'{k.split(".")[-1]}={_fmt(r["config"].get(k))}'
                      for k in series)
    groups.setdefault(label, []).append(r)
  panels = 1 if same_axes else len(metrics)
  fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.4),
                           squeeze=False)
  for p in range(panels):
    ax = axes[0, p]
    for m_index, metric in enumerate(metrics):
      if not same_axes and m_index != p:
        continue
      for label, members in groups.items():
        members = sorted(members,
                         key=lambda r: _sort_value(r['config'].get(x)))
        pts = [(r['config'].get(x), r['results'].get(metric))
               for r in members]
        pts = [(a, b) for a, b in pts if isinstance(b, (int, float))]
        if not pts:
          continue
        xv = ([a for a, _ in pts] if numeric else
              [categories.index(_hashable(a)) for a, _ in pts])
        name = label
        if same_axes:
          name = HEADERS.get(metric, metric) + (f' ({label})' if label
                                                else '')
        ax.plot(xv, [b for _, b in pts], marker='o', label=name or None)
    ylabel = ('' if same_axes else HEADERS.get(metrics[p], metrics[p]))
    ax.set_ylabel(ylabel or ('mm' if all(m.endswith('_mm') for m in metrics)
                             else 'value'))
    ax.set_xlabel(x)
    if numeric:
      positive = [v for v in xs_all if v is not None and v > 0]
      if positive and len(positive) == len(xs_all) and (
          max(positive) / min(positive) > 8):
        ax.set_xscale('log')
      ticks = sorted({v for v in xs_all if v is not None})
      ax.set_xticks(ticks)
      ax.set_xticklabels([_fmt(v) for v in ticks])
      ax.minorticks_off()
    else:
      ax.set_xticks(range(len(categories)))
      ax.set_xticklabels([_fmt(json.loads(c)) for c in categories])
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
      ax.legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path, dpi=90)
  plt.close(fig)
  return path


def summarize(roots: Sequence[str | pathlib.Path], out: str | pathlib.Path,
              *, metrics: Sequence[str] = DEFAULT_METRICS,
              x: str | None = None, series: Sequence[str] | None = None,
              plot_metrics: Sequence[str] | None = None, title: str = '',
              same_axes: bool = False,
              ignore: Iterable[str] = IGNORED_KEYS) -> dict[str, Any]:
  """Writes OUT.md (table) and OUT.png (plot) for the runs under `roots`.

  Args:
    roots: sweep folders.
    out: output prefix (a trailing .md or .png is dropped).
    metrics: table columns (results.json dotted paths or derived names).
    x: plot's horizontal config key; default: the varying key with the most
      distinct values (numeric preferred).
    series: keys naming the lines; default: the other varying keys.
    plot_metrics: metrics plotted; default: the first table metric.
    title: plot title and the markdown heading.
    same_axes: every plotted metric in one panel.
    ignore: config keys never treated as varying.

  Returns:
    {'keys': varying keys, 'runs': run names in table order, 'markdown':
    path, 'plot': path}.

  Raises:
    ValueError: `x` or a series key is not a config key of the runs.
  """
  runs = load_runs(roots)
  keys = varying_keys(runs, ignore)
  known = set().union(*(r['config'] for r in runs))
  if x is None:
    if keys:
      x = max(keys, key=lambda k: (
          _numeric([r['config'].get(k) for r in runs]),
          len({_hashable(r['config'].get(k)) for r in runs})))
    else:
      x = 'seed' if 'seed' in known else sorted(known)[0]
  for k in [x] + list(series or []):
    if k not in known:
      raise ValueError(f'{k!r} is not a config key of the runs (varying: '
                       f'{keys})')
  if series is None:
    series = [k for k in keys if k != x]
  # The table sorts by the series keys first, then x, so each line of the
  # plot is a block of consecutive rows.
  order = list(series) + [x] + [k for k in keys
                                if k != x and k not in series]
  runs = sort_runs(runs, [k for k in order if k in keys])
  table_keys = [k for k in order if k in keys]
  plot_metrics = list(plot_metrics or metrics[:1])
  out = pathlib.Path(out)
  if out.suffix in ('.md', '.png'):
    out = out.with_suffix('')
  out.parent.mkdir(parents=True, exist_ok=True)
  png = plot(runs, x=x, series=series, metrics=plot_metrics,
             path=out.with_suffix('.png'), title=title, same_axes=same_axes)
  notes = []
  if 'ms_per_pose' in metrics:
    incl = [r['name'] for r in runs
            if r['results'].get('ms_per_pose_after_compile') is False]
    notes.append('ms / pose: fit time per pose after compilation '
                 '(result chunks after the first)' +
                 (f'; includes compilation for: {", ".join(incl)}'
                  if incl else '') + '.')
  constant = {k: runs[0]['config'].get(k)
              for k in ('data.name', 'data.split', 'data.input_2d',
                        'data.max_poses', 'init.adapted', 'fit.ipo_steps',
                        'fit.oil_steps', 'fit.t_max', 'fit.num_hypotheses',
                        'seed')
              if k in known and k not in keys}
  if constant:
    notes.append('Fixed: ' + ', '.join(f'{k}={_fmt(v)}'
                                       for k, v in constant.items()) + '.')
  text = (f'### {title or "Sweep"}\n\n' +
          markdown_table(runs, table_keys, metrics) + '\n' +
          ''.join(f'{n}\n' for n in notes) +
          f'\n![{title or "sweep"}]({png.name})\n')
  md = out.with_suffix('.md')
  md.write_text(text)
  return {'keys': keys, 'runs': [r['name'] for r in runs],
          'markdown': md, 'plot': png}


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split('\n\n')[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('roots', nargs='+', help='sweep folders')
  parser.add_argument('--out', required=True,
                      help='output prefix: writes OUT.md and OUT.png')
  parser.add_argument('--metrics', default=','.join(DEFAULT_METRICS),
                      help='comma-separated table columns')
  parser.add_argument('--x', default=None, help='config key on the x axis')
  parser.add_argument('--series', default=None,
                      help="comma-separated keys naming the lines ('' none)")
  parser.add_argument('--plot_metrics', default=None,
                      help='comma-separated metrics plotted')
  parser.add_argument('--same_axes', action='store_true',
                      help='all plotted metrics in one panel')
  parser.add_argument('--title', default='')
  parser.add_argument('--ignore', default=','.join(IGNORED_KEYS),
                      help='comma-separated config keys never varying')
  args = parser.parse_args(argv)
  split = lambda s: [v for v in s.split(',') if v]
  try:
    info = summarize(
        args.roots, args.out, metrics=split(args.metrics), x=args.x,
        series=None if args.series is None else split(args.series),
        plot_metrics=(None if args.plot_metrics is None else
                      split(args.plot_metrics)),
        title=args.title, same_axes=args.same_axes,
        ignore=split(args.ignore))
  except (FileNotFoundError, ValueError) as e:
    print(f'summarize: {e}', file=sys.stderr)
    return 1
  print(info['markdown'].read_text())
  print(f'wrote {info["markdown"]} and {info["plot"]}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
