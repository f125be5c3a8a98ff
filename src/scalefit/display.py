"""Tables printed whole: every row and column, never cut by pandas' display limits (issue 20).

pandas shortens a wide or long table to fit the terminal (``...`` in place of columns such as
R-hat, ESS or coverage). The reprs of scalefit's results, and the tables its methods return,
print every row and column instead.
"""

from __future__ import annotations

import pandas as pd

#: pandas display options that print a table whole.
WHOLE = (
    "display.max_columns",
    None,
    "display.max_rows",
    None,
    "display.width",
    100_000,
    "display.max_colwidth",
    None,
)


def whole(*options):
    """``pd.option_context`` printing tables whole, plus ``options`` (name, value pairs)."""
    return pd.option_context(*WHOLE, *options)


class WholeFrame(pd.DataFrame):
    """A :class:`pandas.DataFrame` whose repr (terminal and notebook) shows every row and column.

    Anything derived from it (a selection, a copy, arithmetic) is a plain DataFrame again.
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        with whole():
            return super().__repr__()

    def _repr_html_(self) -> str | None:
        with whole():
            return super()._repr_html_()


def whole_frame(frame: pd.DataFrame) -> WholeFrame:
    """``frame`` (same data, index and ``attrs``) as a :class:`WholeFrame`."""
    out = WholeFrame(frame)
    out.attrs = dict(frame.attrs)
    return out
