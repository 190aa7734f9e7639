"""docs/DESIGN.md is the map of the code: every module is on it, imports
flow one way (a module imports only modules listed above it), and each
`config.mode` is `zedoi_jax/modes/<mode>.py` with a function of its name."""

import ast
import pathlib
import re

from absl.testing import absltest

from zedoi_jax import modes

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'zedoi_jax'


def design_order() -> list[str]:
  """Dotted module names in the order of DESIGN.md's module tree."""
  text = (REPO / 'docs' / 'DESIGN.md').read_text()
  tree = text[text.index('```\nzedoi_jax/'):]
  tree = tree[:tree.index('```', 4)]
  order, stack = [], []
  for line in tree.splitlines()[2:]:
    m = re.match(r'^( *)([\w/]+?)(\.py|/)\s', line + ' ')
    if not m:
      continue
    indent, name, kind = len(m.group(1)), m.group(2), m.group(3)
    while stack and stack[-1][0] >= indent:
      stack.pop()
    order.append('.'.join([s[1] for s in stack] + [name]))
    if kind == '/':
      stack.append((indent, name))
  return order


def module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def project_imports(path: pathlib.Path) -> set[str]:
  """zedoi_jax modules `path` imports (top level or inside functions)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module == 'zedoi_jax' or node.module.startswith('zedoi_jax.')):
      base = node.module[len('zedoi_jax'):].lstrip('.')
      for alias in node.names:
        found.add(f'{base}.{alias.name}' if base else alias.name)
  return found


class DesignTest(absltest.TestCase):

  def test_every_module_is_on_the_map(self):
    order = set(design_order())
    missing = [module_name(p) for p in PACKAGE.rglob('*.py')
               if module_name(p) and module_name(p) not in order]
    self.assertEqual(missing, [])

  def test_imports_flow_down_the_map(self):
    order = design_order()
    pos = {name: i for i, name in enumerate(order)}
    packages = {n for n in order if any(o.startswith(n + '.') for o in order)}
    wrong = []
    for path in PACKAGE.rglob('*.py'):
      mod = module_name(path)
      if not mod:
        continue
      for dep in project_imports(path):
        if dep not in pos:  # `from zedoi_jax.data import checks`-style
          dep = dep.rpartition('.')[0] if dep.rpartition('.')[0] in pos \
              else dep
        if dep in packages or dep.startswith(mod + '.'):
          continue  # a package, or a package re-exporting its parts
        if mod.startswith('modes.'):
          # Modes drive the library; only modes.common is shared by them.
          if dep.startswith('modes.') and dep != 'modes.common':
            wrong.append((mod, dep))
          continue
        if dep not in pos or pos[dep] >= pos[mod]:
          wrong.append((mod, dep))
    self.assertEqual(wrong, [])

  def test_each_mode_is_its_own_module_and_function(self):
    for name in modes.NAMES:
      self.assertTrue((PACKAGE / 'modes' / f'{name}.py').is_file(), name)
      self.assertEqual(modes.entry(name).__name__, name)
    with self.assertRaisesRegex(KeyError, 'train_prior'):
      modes.entry('dance')


if __name__ == '__main__':
  absltest.main()
