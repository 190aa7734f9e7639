"""experiments/run_notebook.py and the Colab notebook's guards (no Jupyter)."""

import importlib.util
import json
import pathlib
import sys
import tempfile

from absl.testing import absltest

REPO = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / 'experiments' / 'colab_tpu.ipynb'


def _runner():
  spec = importlib.util.spec_from_file_location(
      'run_notebook', REPO / 'experiments' / 'run_notebook.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _write(cells, path):
  nb = {'cells': [{'cell_type': 'code', 'metadata': {}, 'outputs': [],
                   'execution_count': None, 'source': c} for c in cells],
        'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}
  path.write_text(json.dumps(nb))
  return path


def _cell(index):
  return ''.join(json.loads(NOTEBOOK.read_text())['cells'][index]['source'])


class RunNotebookTest(absltest.TestCase):

  def setUp(self):
    super().setUp()
    self._tmp = tempfile.TemporaryDirectory()
    self.addCleanup(self._tmp.cleanup)
    self.tmp = pathlib.Path(self._tmp.name)

  def test_display_cells_run_without_ipython(self):
    saved = {k: sys.modules.get(k) for k in ('IPython', 'IPython.display')}

    def restore():
      for k, v in saved.items():
        sys.modules.pop(k, None)
        if v is not None:
          sys.modules[k] = v
    self.addCleanup(restore)
    sys.modules['IPython'] = None  # import IPython -> ImportError
    sys.modules.pop('IPython.display', None)
    picture = self.tmp / 'p.png'
    picture.write_bytes(b'png')
    nb = _write([
        'from IPython.display import Image, Markdown, display\n',
        f"display(Markdown('| a |'))\ndisplay(Image(filename={str(picture)!r}))\n",
        "!echo shell-ok\n"], self.tmp / 'nb.ipynb')
    runner = _runner()
    self.assertEqual(runner.run(nb, local=True), 3)
    missing = _write(['from IPython.display import Image, display\n'
                      "display(Image(filename='/nonexistent.png'))\n"],
                     self.tmp / 'bad.ipynb')
    with self.assertRaisesRegex(FileNotFoundError, 'nonexistent.png'):
      runner.run(missing, local=True)

  def test_placeholder_repo_url_is_refused(self):
    params = _cell(1)
    self.assertIn('<owner>', params)
    namespace = {}
    with self.assertRaisesRegex(ValueError, 'REPO_URL.*placeholder'):
      exec(params.replace("os.environ.get('ZEDOI_NOTEBOOK_LOCAL', '') == '1'",
                          'False'), namespace)  # pylint: disable=exec-used
    edited = params.replace('<owner>', 'someone')
    exec(edited.replace("os.environ.get('ZEDOI_NOTEBOOK_LOCAL', '') == '1'",
                        'False'), namespace)  # pylint: disable=exec-used
    self.assertEqual(namespace['REPO_URL'], 'https://github.com/someone/zedoi_jax')

  def test_install_pins_jax_tpu(self):
    params, install = _cell(1), _cell(3)
    self.assertIn('jax[tpu]=={JAX_VERSION}', install)
    self.assertLess(install.index('jax[tpu]'), install.index('pip install -q -e .'))
    self.assertIn("JAX_VERSION = '", params)
    self.assertIn('setup.cfg', install)  # a failed clone stops the notebook


if __name__ == '__main__':
  absltest.main()
