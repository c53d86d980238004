"""Tables that fit the terminal: ids, symbols and prices shown whole at any width, other columns wrap or go first.

rich shrinks every column of a table that is too wide, the last ones down to "…", order ids and prices
included. A :class:`FitTable` decides at render time, from the width it is given: columns marked ``whole``
are never narrower than their longest cell, the others may wrap, and optional columns are left out (the
least useful first) until the rest fits. When even the columns that must stay do not fit, each row is shown
as a block of ``header: value`` lines instead, so a value is never cut at any width.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

__all__ = ["ALWAYS", "Cell", "Col", "FitTable"]

#: A cell: plain text is shown as written (never read as rich markup), a ``Text`` keeps its style.
Cell = str | Text

#: ``Col.keep`` of a column that is never left out.
ALWAYS = 1_000_000


@dataclass(frozen=True)
class Col:
    """One column of a :class:`FitTable`.

    Args:
        header: the column's header.
        whole: every cell is shown on one line, never wrapped or cut (ids, symbols, prices).
        keep: how long the column stays when room is short: the lowest goes first (ties: the rightmost);
            :data:`ALWAYS` never goes.
        justify: how cells are aligned.
    """

    header: str
    whole: bool = False
    keep: int = 0
    justify: Literal["left", "center", "right"] = "left"


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(cell)


class FitTable:
    """A table that picks its columns and their widths for the width it is rendered at.

    Args:
        columns: the columns, left to right.
        title: the table's title.
        show_header: False for a table of ``field  value`` rows.
        footer: the label of a footer row (e.g. "total"), shown in the first column shown; its values are
            set with :meth:`set_footer`.
        title_justify: where the title goes above the table.
    """

    def __init__(
        self,
        *columns: Col,
        title: str | None = None,
        show_header: bool = True,
        footer: str | None = None,
        title_justify: Literal["left", "center", "right"] = "center",
    ) -> None:
        self.columns = list(columns)
        self.title = title
        self.title_justify = title_justify
        self.show_header = show_header
        self.footer_label = footer
        self.rows: list[list[Text]] = []
        self.footers: list[Text] = [Text() for _ in columns]

    def add_row(self, *cells: Cell) -> None:
        """Add a row of one cell per column."""
        if len(cells) != len(self.columns):
            raise ValueError(f"a row of {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append([_text(c) for c in cells])

    def set_footer(self, header: str, cell: Cell) -> None:
        """Set the footer of the column named ``header``."""
        self.footers[[c.header for c in self.columns].index(header)] = _text(cell)

    def shown(self, width: int, console: Console) -> list[str] | None:
        """Return the headers of the columns shown at ``width``, or None when the rows become blocks."""
        options = console.options.update_width(width)
        picked = self._pick(console, options)
        return None if picked is None else [self.columns[i].header for i in picked[0]]

    # -- rendering ----------------------------------------------------------------------------------
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        picked = self._pick(console, options)
        if picked is None:
            yield from self._blocks()
            return
        shown, widths = picked
        yield self._table(shown, widths)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        spans = [self._span(console, options, i) for i in range(len(self.columns))]
        every = list(range(len(self.columns)))
        return Measurement(1, sum(s.maximum for s in spans) + self._overhead(console, options, every))

    def _cells(self, index: int) -> list[Text]:
        cells = [row[index] for row in self.rows]
        if self.show_header:
            cells.append(Text(self.columns[index].header))
        if self.footer_label is not None:
            cells.append(self.footers[index])
            if index == 0 or self.columns[index].keep >= ALWAYS:  # the columns the label may land in
                cells.append(Text(self.footer_label))
        return cells

    def _footers(self, shown: list[int]) -> list[Text] | None:
        """Return the footer row of these columns (the label in the first), or None when it would be empty."""
        if self.footer_label is None or not any(self.footers[i].plain for i in shown):
            return None
        row = [self.footers[i] for i in shown]
        if not row[0].plain:
            row[0] = Text(self.footer_label)
        return row

    def _span(self, console: Console, options: ConsoleOptions, index: int) -> Measurement:
        """Return the narrowest and widest the column's content can be (a whole column: its longest line)."""
        wide = options.update_width(10**6)
        sizes = [Measurement.get(console, wide, cell) for cell in self._cells(index)]
        widest = max((s.maximum for s in sizes), default=1)
        if self.columns[index].whole:
            return Measurement(widest, widest)
        return Measurement(max((s.minimum for s in sizes), default=1), widest)

    def _overhead(self, console: Console, options: ConsoleOptions, shown: list[int]) -> int:
        """Return what borders and padding take for these columns (measured on rich's own table)."""
        probe = self._table(shown, [1] * len(shown), rows=False)
        return Measurement.get(console, options.update_width(10**6), probe).maximum - len(shown)

    def _pick(self, console: Console, options: ConsoleOptions) -> tuple[list[int], list[int]] | None:
        """Return the columns to show and their widths at ``options.max_width``; None if the must-stays do not fit."""
        width = options.max_width
        spans = [self._span(console, options, i) for i in range(len(self.columns))]
        shown = list(range(len(self.columns)))
        going = sorted(
            (i for i, c in enumerate(self.columns) if c.keep < ALWAYS), key=lambda i: (self.columns[i].keep, -i)
        )
        while True:
            room = width - self._overhead(console, options, shown)
            if sum(spans[i].minimum for i in shown) <= room:
                return shown, _widths([spans[i] for i in shown], room)
            if not going:
                return None
            shown.remove(going.pop(0))

    def _table(self, shown: list[int], widths: list[int], rows: bool = True) -> Table:
        footers = self._footers(shown)
        table = Table(
            title=self.title,
            title_justify=self.title_justify,
            show_header=self.show_header,
            show_footer=footers is not None and rows,
        )
        for n, (i, width) in enumerate(zip(shown, widths, strict=True)):
            col = self.columns[i]
            table.add_column(
                col.header,
                footer=footers[n] if footers else "",
                justify=col.justify,
                width=width,
                no_wrap=col.whole,
                # A cell wider than its column can only be one of a wrapping column's long words: fold it
                # onto the next line rather than cut it to "…".
                overflow="fold",
            )
        if rows:
            for row in self.rows:
                table.add_row(*(row[i] for i in shown))
        return table

    def _blocks(self) -> RenderResult:
        """Yield each row as ``header: value`` lines (with the footers last), for a terminal too narrow."""
        if self.title:
            yield Text(self.title, style="bold")
        labelled = [c.header or f"column {n}" for n, c in enumerate(self.columns, 1)]
        groups: list[Sequence[Text]] = list(self.rows)
        footers = self._footers(list(range(len(self.columns))))
        if footers is not None:
            groups.append(self.footers)
        for n, cells in enumerate(groups):
            if n:
                yield Text("")
            if n == len(self.rows):
                yield Text(str(self.footer_label), style="bold")
            for label, cell in zip(labelled, cells, strict=True):
                if cell.plain:
                    yield Text.assemble((f"{label}: ", "dim"), cell, overflow="fold")


def _widths(spans: list[Measurement], room: int) -> list[int]:
    """Return each column's width: its widest when all fit, else its narrowest plus a share of the spare room.

    The spare room goes to the columns that can use it, in proportion to how much wider they would be.
    """
    if sum(s.maximum for s in spans) <= room:
        return [s.maximum for s in spans]
    widths = [s.minimum for s in spans]
    spare = room - sum(widths)
    wants = [s.maximum - s.minimum for s in spans]
    total = sum(wants)
    if spare <= 0 or not total:
        return widths
    given = [spare * want // total for want in wants]
    # What the rounding down left goes one column at a time to those that want most.
    for i in sorted(range(len(spans)), key=lambda i: -wants[i])[: spare - sum(given)]:
        given[i] += 1
    return [w + g for w, g in zip(widths, given, strict=True)]
