r"""Adds the complete fingerprint to format-1 exports (no retraining).

Format-1 model.json files (zedoi_jax before issue 13) fingerprint only the
parameters. This rewrites each given export's model.json with
`checkpoint.complete_meta`: the same fields plus `identity` (a hash of every
architecture / SDE / normalisation field) and `model_fingerprint`. Each
export's parameters are first checked against its recorded parameter
fingerprint, so a damaged export is refused rather than blessed. Priors are
done first; an adaptation (control / finetune) gets the complete fingerprint
of the given prior whose parameter fingerprint it records
(`prior_model_fingerprint`).

  PYTHONPATH=$PWD python experiments/refingerprint_models.py \
      zedoi_jax/checkpoints/*

Exports written by `checkpoint.export_model` already carry it.
"""

import json
import pathlib
import sys

from zedoi_jax import checkpoint


def refingerprint(dirs: list[str]) -> dict[str, str]:
  """Upgrades the exports in `dirs`; returns {folder: model_fingerprint}."""
  loaded = {}
  for d in dirs:
    path = pathlib.Path(d)
    # verify=True: the parameters must match their recorded fingerprint.
    _, meta = checkpoint.load_model(path)
    loaded[path] = meta
  priors = {}
  out = {}
  order = sorted(loaded, key=lambda p: loaded[p]['kind'] != 'prior')
  for path in order:
    meta = loaded[path]
    if meta['kind'] != 'prior' and meta.get('prior_fingerprint'):
      prior = priors.get(meta['prior_fingerprint'])
      if prior is None:
        raise SystemExit(f'{path}: its prior (fingerprint '
                         f'{meta["prior_fingerprint"]}) is not among the '
                         'given folders')
      meta = dict(meta, prior_model_fingerprint=prior)
    meta = checkpoint.complete_meta(meta, meta['fingerprint'])
    (path / checkpoint.MODEL_JSON).write_text(
        json.dumps(meta, indent=2, sort_keys=True) + '\n')
    checkpoint.read_meta(path)  # verifies what was written
    out[str(path)] = meta['model_fingerprint']
    if meta['kind'] in ('prior', 'finetune'):
      priors[meta['fingerprint']] = meta['model_fingerprint']
  return out


if __name__ == '__main__':
  for folder, fp in refingerprint(sys.argv[1:]).items():
    print(f'{folder}: model_fingerprint {fp}')
