r"""Accuracy versus time of the fit settings, side by side with the official loop.

For each candidate fit setting (overrides of configs/syrip.py's `fit.*`:
OIL steps, t_max / em_dt schedule, IPO steps, initial-pose steps,
hypotheses, ...) this script

1. fits the SyRIP validation split (`--split=val`: the fixed 100 of the 500
   adaptation images, `zedoi_jax.data.syrip.split_indices`; never the test
   split) with the chosen model and prints MPJPE / PA-MPJPE (mm, the
   headline 'mean' aggregate, 12 limb joints, root = mid-hip, GT 2D), beside
   the trivial baseline (the mean 'adapt'-split pose);
2. times the fit at N = 1, 64, 512 poses (the validation inputs tiled to N;
   compile excluded, best of the repeats) INTERLEAVED with the official
   loop's PyTorch proxy (`../shared/tools/ref_zedo_torch.py`, a subprocess)
   in the same run: for every repeat and N, proxy first, then every timed
   candidate, so a loaded machine slows both sides alike. Ratios (proxy
   s/pose over ours), not absolute times, are the result;
3. writes one JSON line per measurement (`--out`) and plots validation MPJPE
   against seconds per pose at the largest N, with the Pareto front and the
   proxy's time (`--plot`).

  python experiments/bench_pareto.py --out=/tmp/pareto.jsonl \
      --plot=experiments/figures/pareto.png
  # another model (e.g. a retrained one):
  python experiments/bench_pareto.py --prior=/path/prior \
      --adapted=/path/control --out=/tmp/pareto_new.jsonl
  # only some candidates / no timing:
  python experiments/bench_pareto.py --candidates='a:oil_steps=250;b:' --n=

A candidate is 'name:key=value,key=value' (name optional); keys are
`zedo.FitConfig` fields. `--time=` picks the candidates timed (default: all;
'' = none); `--baseline=` the reference candidate (default: the first).
The proxy runs with `--proxy_threads` threads (use 1 on a loaded machine,
and then also `taskset -c 0` for this script).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import time

from absl import app
from absl import flags
import jax
import numpy as np

# Run from anywhere: the repository root holds `configs` and `zedoi_jax`.
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# pylint: disable=g-import-not-at-top,wrong-import-position
from configs import syrip as syrip_config
from zedoi_jax import data as data_lib
from zedoi_jax import eval_sets
from zedoi_jax import jsonio
from zedoi_jax import scoring
from zedoi_jax import zedo
from zedoi_jax import metrics
from zedoi_jax import skeleton
from zedoi_jax.models import load
# pylint: enable=g-import-not-at-top,wrong-import-position

# The setting every candidate starts from: the paper's step counts with the
# infant config's noise level (the shipped setting before issue 14).
PAPER = ('oil_steps=1000,solve_t_last=50,ipo_steps=500,init_sample_steps=100,'
         'em_dt=0.001')
P250 = 'oil_steps=250,solve_t_last=12'
# The grid measured for issue 14 (experiments/RESULTS.md).
DEFAULT_CANDIDATES = [
    'paper1000:' + PAPER,
    'oil500:oil_steps=500,solve_t_last=25',
    'oil250:' + P250,
    'oil250_init10:' + P250 + ',init_sample_steps=10',
    'oil250_init50:' + P250 + ',init_sample_steps=50',
    'oil250_init25ode:' + P250 + ',init_sample_steps=25,'
    'init_sample_method=ode',
    'oil250_ipo100:' + P250 + ',ipo_steps=100',
    'oil250_dt2:' + P250 + ',em_dt=0.002',
    'oil250_dt4:' + P250 + ',em_dt=0.004',
    'oil150_dt4:oil_steps=150,solve_t_last=8,em_dt=0.004',
]

_PRIOR = flags.DEFINE_string('prior', '', "Prior: '' = shipped, a path.")
_ADAPTED = flags.DEFINE_string('adapted', syrip_config.SHIPPED_ADAPTED,
                               "Adaptation: a path/shipped name, '' = none.")
_SPLIT = flags.DEFINE_enum('split', 'val', ['val', 'adapt', 'train'],
                           'SyRIP split scored (never test here).')
_INPUT_2D = flags.DEFINE_enum('input_2d', 'gt', ['gt', 'fidip'], '2D input.')
_DATA_ROOT = flags.DEFINE_string('data_root', '', 'Data root (default: '
                                 '$ZEDOI_DATA or ../shared/data).')
_CANDIDATES = flags.DEFINE_string(
    'candidates', '', "Candidates 'name:k=v,k=v' separated by ';' (default: "
    'the preset grid DEFAULT_CANDIDATES).')
_TIME = flags.DEFINE_string('time', 'all', "Candidates timed: 'all', '' or "
                            "names separated by ';'.")
_BASELINE = flags.DEFINE_string('baseline', '', 'Reference candidate name '
                                '(default: the first).')
_N = flags.DEFINE_list('n', ['1', '64', '512'], 'Pose counts timed.')
_REPEAT = flags.DEFINE_integer('repeat', 2, 'Interleaved timing repeats.')
_PROXY = flags.DEFINE_string(
    'proxy', str(ROOT.parent / 'shared' / 'tools' / 'ref_zedo_torch.py'),
    "The official loop's proxy script ('' = skip it).")
_PROXY_PY = flags.DEFINE_string('proxy_python', sys.executable,
                                'Python with torch for the proxy.')
_PROXY_THREADS = flags.DEFINE_integer('proxy_threads', 2, 'Torch threads.')
_PROXY_FRACTION = flags.DEFINE_float(
    'proxy_step_fraction', 1.0, 'Run the proxy at this fraction of its 500 '
    'IPO / 1000 OIL steps and scale its per-step times back to the full '
    'counts (rows say extrapolated; for a loaded machine).')
_SEED = flags.DEFINE_integer('seed', 0, 'Fit seed (as config.seed).')
_OUT = flags.DEFINE_string('out', '', 'Append JSON lines here.')
_PLOT = flags.DEFINE_string('plot', '', 'Pareto plot (PNG) path.')
_ACCURACY = flags.DEFINE_bool('accuracy', True, 'Score the candidates on '
                              'the split (false: timing only).')
_PLOT_N = flags.DEFINE_integer('plot_n', 0, 'N whose times the plot uses '
                               '(0 = the largest timed).')
_PLOT_FROM = flags.DEFINE_string(
    'plot_from', '', 'Only plot: read rows from this JSON lines file.')


def parse_candidate(spec: str, base: dict) -> tuple[str, dict]:
  """'name:k=v,...' -> (name, fit kwargs); values typed as the field."""
  name, _, body = spec.strip().rpartition(':')
  kwargs = dict(base)
  types = {f.name: f.type for f in dataclasses.fields(zedo.FitConfig)}
  for item in filter(None, (s.strip() for s in body.split(','))):
    key, _, value = item.partition('=')
    if key not in types:
      raise ValueError(f'candidate {spec!r}: unknown fit field {key!r}')
    kind = type(getattr(zedo.FitConfig(), key))
    kwargs[key] = kind(float(value)) if kind is int else kind(value)
  return (name or body), kwargs


_ROWS: list[dict] = []  # this run's rows, for the summary


def _emit(row: dict) -> None:
  row = dict(row, loadavg_1m=round(os.getloadavg()[0], 2),
             time_utc=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()))
  _ROWS.append(row)
  print(jsonio.append_line(_OUT.value, row), flush=True)


def _root_centred(p, root_joints):
  return p - p[..., list(root_joints), :].mean(-2, keepdims=True)


def _accuracy(name, cfg, model, es, model_layout, rng, model_info):
  fit_batch = zedo.make_fit_fn(score_fn=model.score_fn, sde=model.sde,
                               scale=model.scale, cfg=cfg)
  t0 = time.perf_counter()
  out = zedo.fit_dataset(fit_batch, es.inputs, batch_size=len(es.gt),
                        rng=rng, params=model.params)
  seconds = time.perf_counter() - t0
  to_eval = lambda p: np.asarray(skeleton.convert(p, model_layout,
                                                  es.eval_layout))
  lay = skeleton.get_layout(es.eval_layout)
  res = scoring.score(to_eval(out['pose']),
                       {'mean': to_eval(out['pose_mean']),
                        'min_reproj': to_eval(out['pose_min_reproj'])},
                       es.gt, lay.root_joints)
  _emit({'kind': 'accuracy', 'name': name, 'split': _SPLIT.value,
         'input_2d': _INPUT_2D.value, 'seed': _SEED.value,
         'num_poses': int(len(es.gt)),
         'mpjpe_mm': res['mean']['mpjpe_mm'],
         'pa_mpjpe_mm': res['mean']['pa_mpjpe_mm'],
         'min_reproj_mpjpe_mm': res['min_reproj']['mpjpe_mm'],
         'reproj_error_px': float(np.mean(out['reproj_error'])),
         'fit_s_incl_compile': seconds, 'fit': dataclasses.asdict(cfg),
         'model': model_info})


def _baseline_row(root, model_info):
  """The trivial baseline: the mean root-centred 'adapt'-split 3D pose."""
  adapt = eval_sets.load_syrip_set(root, split='adapt', input_2d='gt',
                                  max_poses=0, model_layout='h36m17')
  val = eval_sets.load_syrip_set(root, split=_SPLIT.value, input_2d='gt',
                                max_poses=0, model_layout='h36m17')
  rj = skeleton.get_layout(val.eval_layout).root_joints
  mean = _root_centred(adapt.gt, rj).mean(0)
  pred = np.broadcast_to(mean, val.gt.shape)
  s = metrics.summarize(pred, val.gt, root_joints=rj)
  _emit({'kind': 'accuracy', 'name': 'mean_pose_baseline',
         'split': _SPLIT.value, 'num_poses': int(len(val.gt)),
         'mpjpe_mm': s['mpjpe_mm'], 'pa_mpjpe_mm': s['pa_mpjpe_mm'],
         'note': "the mean root-centred pose of the 'adapt' split, for "
                 'every image', 'model': model_info})


def _tiled(inputs, n):
  rows = np.arange(n) % len(inputs['id'])
  batch = {k: np.asarray(inputs[k])[rows] for k in ('keypoints',
                                                    'confidence', 'K')}
  batch['id'] = np.arange(n, dtype=np.int32)
  batch['mask'] = np.ones(n, bool)
  return batch


def _run_proxy(n: int) -> dict | None:
  if not _PROXY.value:
    return None
  f = _PROXY_FRACTION.value
  ipo, oil = max(1, round(500 * f)), max(1, round(1000 * f))
  cmd = [_PROXY_PY.value, _PROXY.value, '--num_poses', str(n), '--threads',
         str(_PROXY_THREADS.value), '--ipo_steps', str(ipo), '--oil_steps',
         str(oil)]
  got = subprocess.run(cmd, capture_output=True, text=True, check=True)
  row = [json.loads(l) for l in got.stdout.splitlines()
         if l.startswith('{')][-1]
  if f != 1.0:
    # Per-step costs are constant: scale to the official 500 + 1000 steps.
    row['total_s_measured'] = row['total_s']
    row['total_s'] = (500 * row['ipo_ms_per_step'] +
                      1000 * row['oil_ms_per_step']) / 1e3
    row['extrapolated_from_fraction'] = f
  return row


def _speed(timed, model, inputs, rng, model_info):
  """Interleaved timing: per repeat and N, the proxy, then each candidate."""
  compiled = {}
  for n in [int(v) for v in _N.value]:
    batch = _tiled(inputs, n)
    for name, cfg in timed:
      fb = zedo.make_fit_fn(score_fn=model.score_fn, sde=model.sde,
                            scale=model.scale, cfg=cfg)
      t0 = time.perf_counter()
      c = fb.jitted.lower(rng, batch, model.params,
                          fb.default_hparams).compile()
      compiled[name, n] = (c, fb.default_hparams,
                           time.perf_counter() - t0)
  for rep in range(_REPEAT.value):
    for n in [int(v) for v in _N.value]:
      batch = _tiled(inputs, n)
      proxy = _run_proxy(n)
      proxy_s = proxy['total_s'] / n if proxy else None
      if proxy:
        _emit({'kind': 'speed', 'name': 'official_proxy', 'n': n,
               'rep': rep, 's_per_pose': proxy_s, 'proxy': proxy})
      for name, cfg in timed:
        c, hp, compile_s = compiled[name, n]
        t0 = time.perf_counter()
        jax.block_until_ready(c(rng, batch, model.params, hp))
        run_s = time.perf_counter() - t0
        _emit({'kind': 'speed', 'name': name, 'n': n, 'rep': rep,
               's_per_pose': run_s / n, 'poses_per_s': n / run_s,
               'compile_s': compile_s,
               'ratio_vs_proxy': (proxy_s / (run_s / n)) if proxy else None,
               'fit': dataclasses.asdict(cfg), 'model': model_info})


def pareto_front(points):
  """Indices of the (time, error) points no other point beats on both."""
  order = sorted(range(len(points)), key=lambda i: points[i])
  front, best = [], float('inf')
  for i in order:
    if points[i][1] < best:
      front.append(i)
      best = points[i][1]
  return front


# The settings that decide a fit's cost (t_max, em_dt, ... do not).
COST_KEYS = ('oil_steps', 'solve_t_last', 'ipo_steps', 'init_sample_steps',
             'num_hypotheses', 'denoise', 'init_sample_method', 'init_pose',
             'init_bank_size', 'batch_size')


def _cost(fit_kwargs) -> str:
  return json.dumps([fit_kwargs.get(k) for k in COST_KEYS])


def summarize(rows, plot_path=''):
  """Prints the table (best-of-repeats times; median ratio) and plots.

  A candidate without its own timing rows takes those of a timed candidate
  of equal cost (equal `COST_KEYS`).
  """
  acc = {r['name']: r for r in rows if r.get('kind') == 'accuracy'}
  speed = [r for r in rows if r.get('kind') == 'speed']
  ns = sorted({r['n'] for r in speed})
  by_cost = {}
  for r in speed:
    if r['name'] == 'official_proxy':
      continue
    d = by_cost.setdefault(_cost(r['fit']), {})
    d.setdefault(r['n'], []).append(r)
  table = {name: by_cost.get(_cost(a.get('fit', {})), {})
           for name, a in acc.items() if 'fit' in a}
  for r in speed:
    if r['name'] != 'official_proxy' and r['name'] not in table:
      table[r['name']] = by_cost[_cost(r['fit'])]
  proxy = {n: min(r['s_per_pose'] for r in speed
                  if r['name'] == 'official_proxy' and r['n'] == n)
           for n in ns if any(r['name'] == 'official_proxy' and r['n'] == n
                              for r in speed)}
  head = ['name', 'MPJPE mm', 'PA-MPJPE mm']
  for n in ns:
    head += [f'ms/pose N={n}', f'x proxy N={n}']
  print('| ' + ' | '.join(head) + ' |')
  print('|' + '---|' * len(head))
  names = list(acc) + [n for n in table if n not in acc]
  for name in names:
    a = acc.get(name, {})
    cells = [name, f"{a['mpjpe_mm']:.1f}" if a else '',
             f"{a['pa_mpjpe_mm']:.1f}" if a else '']
    for n in ns:
      rs = table.get(name, {}).get(n, [])
      if rs:
        ratios = [r['ratio_vs_proxy'] for r in rs if r.get('ratio_vs_proxy')]
        cells += [f"{1e3 * min(r['s_per_pose'] for r in rs):.2f}",
                  f'{np.median(ratios):.1f}' if ratios else '']
      elif name == 'official_proxy':
        cells += ['', '']
      else:
        cells += ['', '']
    print('| ' + ' | '.join(cells) + ' |')
  if proxy:
    print('official proxy ms/pose (best): ' + ', '.join(
        f'N={n}: {1e3 * s:.2f}' for n, s in proxy.items()))
  if not plot_path or not ns:
    return
  n_plot = _PLOT_N.value if _PLOT_N.value in ns else max(ns)
  pts, labels = [], []
  for name, a in acc.items():
    rs = table.get(name, {}).get(n_plot, [])
    if rs:
      pts.append((min(r['s_per_pose'] for r in rs), a['mpjpe_mm']))
      labels.append(name)
  if not pts:
    return
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  front = pareto_front(pts)
  fig, ax = plt.subplots(figsize=(7, 4.5))
  xs, ys = zip(*pts)
  ax.scatter(np.array(xs) * 1e3, ys, c='tab:blue')
  for (x, y), label in zip(pts, labels):
    ax.annotate(label, (x * 1e3, y), fontsize=6, xytext=(3, 3),
                textcoords='offset points')
  fx, fy = zip(*[pts[i] for i in front])
  ax.plot(np.array(fx) * 1e3, fy, 'r-o', mfc='none', ms=10, label='Pareto front')
  if n_plot in proxy:
    ax.axvline(proxy[n_plot] * 1e3, color='gray', ls='--',
               label='official loop (proxy)')
  if 'mean_pose_baseline' in acc:
    ax.axhline(acc['mean_pose_baseline']['mpjpe_mm'], color='k', ls=':',
               label='mean-pose baseline')
  ax.set_xscale('log')
  if 'mean_pose_baseline' in acc:
    ax.set_ylim(top=acc['mean_pose_baseline']['mpjpe_mm'] * 1.05)
  ax.set_xlabel(f'ms per pose at N = {n_plot} (best of repeats, this CPU)')
  ax.set_ylabel('SyRIP validation MPJPE (mm)')
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(plot_path, dpi=120)
  print('wrote', plot_path)


def main(argv):
  del argv
  if _PLOT_FROM.value:
    rows = [json.loads(l) for l in open(_PLOT_FROM.value) if l.strip()]
    summarize(rows, _PLOT.value)
    return
  config = syrip_config.get_config()
  base = dict(config.fit.to_dict())
  base.update(parse_candidate(PAPER, {})[1])
  specs = ([s for s in _CANDIDATES.value.split(';') if s.strip()]
           or DEFAULT_CANDIDATES)
  model = load.load_pose_model(_PRIOR.value, _ADAPTED.value)
  model_layout = model.meta.get('layout', 'h36m17')
  cands = []
  for spec in specs:
    name, kwargs = parse_candidate(spec, dict(base, layout=model_layout))
    cands.append((name, zedo.FitConfig.from_dict(kwargs)))
  model_info = {'prior': _PRIOR.value or load.SHIPPED_PRIOR,
                'adapted': _ADAPTED.value,
                'fingerprint': model.meta.get('fingerprint'),
                'model': model.meta.get('model')}
  root = data_lib.data_root(_DATA_ROOT.value)
  es = eval_sets.load_syrip_set(root, split=_SPLIT.value,
                               input_2d=_INPUT_2D.value, max_poses=0,
                               model_layout=model_layout)
  # The seed rule of fit mode (fit_mode.fit).
  rng = jax.random.fold_in(jax.random.key(_SEED.value), 1)
  _emit({'kind': 'run', 'command': ' '.join(sys.argv),
         'devices': [str(d) for d in jax.devices()],
         'cpu_count': os.cpu_count(), 'model': model_info})
  if _ACCURACY.value:
    _baseline_row(root, model_info)
    for name, cfg in cands:
      _accuracy(name, cfg, model, es, model_layout, rng, model_info)
  if _TIME.value and _N.value:
    picked = (None if _TIME.value == 'all'
              else set(s.strip() for s in _TIME.value.split(';')))
    timed = [(n, c) for n, c in cands if picked is None or n in picked]
    _speed(timed, model, es.inputs, rng, model_info)
  summarize(_ROWS, _PLOT.value)


if __name__ == '__main__':
  app.run(main)
