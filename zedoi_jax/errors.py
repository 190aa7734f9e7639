"""Errors raised on bad user input.

`InputError` is a `ValueError` whose message names the offending file and
field, so a user can fix the input without reading a traceback.
"""

from __future__ import annotations


class InputError(ValueError):
  """Bad user input: wrong shape, non-finite values, unknown layout, ...

  Args:
    message: what is wrong.
    source: the file (or argument) the bad value came from.
    field: the key, column or argument name inside `source`.
  """

  def __init__(self, message: str, *, source: str | None = None,
               field: str | None = None):
    where = []
    if source:
      where.append(str(source))
    if field:
      where.append(f'field {field!r}')
    prefix = f'{": ".join(where)}: ' if where else ''
    super().__init__(prefix + message)
    self.source = source
    self.field = field
