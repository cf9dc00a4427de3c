"""A file of invoices read into rows of text cells: CSV (comma, semicolon, tab or pipe; UTF-8
with or without Excel's BOM, UTF-16 as Excel's "Unicode text", else Windows-1252), the pipe
TXT of PAC bulk files (a first line `format|version|RFC`), and XLSX (openpyxl, read-only).

Reading is pure and synchronous (bot.slack.invoice_files runs it in a worker thread): no Slack, no
database. Cells are kept as the file has them, so the file can be handed back with an
`error` column (bot.invoice_lists.returned).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime

MAX_LIST_BYTES = 10 * 1024 * 1024  # Slack's file_input: 10 MB a file
EXTENSIONS = ("csv", "txt", "tsv", "xlsx")
DELIMITERS = ",;\t|"
# Reachcore's first line: a format name, its version and the issuer's RFC.
_RFC = re.compile(r"^[A-ZÑ&]{3,4}\d{6}[A-Z0-9]{3}$")
# Excel keeps 15 significant digits: a larger whole number in a cell has lost its last ones.
EXCEL_EXACT = 10**15


class UnreadableList(Exception):
    """The file is not a list the bot can read; `kind` names why (bulk.file.<kind>)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Table:
    """A file's rows as text cells, numbered as a spreadsheet numbers them (from 1)."""
    kind: str                      # "csv", "txt" or "xlsx"
    rows: list[list[str]]
    delimiter: str = ","
    preamble: list[list[str]] = field(default_factory=list)  # a PAC file's `format|version|RFC`
    rounded: set[tuple[int, int]] = field(default_factory=set)  # (row, column) Excel rounded

    def number(self, index: int) -> int:
        """The spreadsheet row number of `rows[index]` (after the preamble)."""
        return index + 1 + len(self.preamble)


def is_list(name: str) -> bool:
    """A file name that says it is a list of invoices (the rest are the invoices' XML)."""
    return name.lower().rsplit(".", 1)[-1] in EXTENSIONS and "." in name


def read(name: str, content: bytes, max_rows: int) -> Table:
    """The file as rows; more than `max_rows` data rows raise UnreadableList("too_many")
    before they are all read."""
    if len(content) > MAX_LIST_BYTES:
        raise UnreadableList("too_large")
    if content.startswith(b"PK\x03\x04") or name.lower().endswith(".xlsx"):
        table = _xlsx(content, max_rows)
    else:
        table = _text(name, _decode(content), max_rows)
    table.rows = _trimmed(table.rows)
    if not any(any(cell.strip() for cell in row) for row in table.rows):
        raise UnreadableList("empty")
    return table


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        return content[3:].decode("utf-8", errors="replace")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return content.decode("utf-16", errors="replace")
    if b"\x00" in content[:4096]:
        raise UnreadableList("binary")
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")  # Excel's "CSV" on Windows


def _delimiter(lines: list[str]) -> str:
    """The candidate found most often, outside quotes, on the first lines alike."""
    sample = [line for line in lines[:20] if line.strip()]
    best, most = ",", 0
    for candidate in DELIMITERS:
        counts = [len(next(csv.reader([line], delimiter=candidate))) - 1 for line in sample]
        score = min(counts) if counts else 0
        if score > most:
            best, most = candidate, score
    return best


def _text(name: str, text: str, max_rows: int) -> Table:
    lines = text.splitlines()
    first = next((line for line in lines if line.strip()), "")
    delimiter = "|" if first.count("|") >= 2 and _preamble(first.split("|")) else \
        _delimiter([line for line in lines[1:] if line.strip()] or lines)
    rows: list[list[str]] = []
    for row in csv.reader(io.StringIO(text), delimiter=delimiter):
        rows.append(row)
        if len(rows) > max_rows + 2:  # a header and a preamble besides the limit
            raise UnreadableList("too_many")
    kind = "txt" if name.lower().endswith(".txt") else "csv"
    table = Table(kind=kind, rows=rows, delimiter=delimiter)
    if rows and _preamble(rows[0]):
        table.preamble, table.rows = rows[:1], rows[1:]
    return table


def _preamble(cells: list[str]) -> bool:
    """Reachcore's header line `format|version|RFC`."""
    parts = [cell.strip() for cell in cells if cell.strip()]
    return len(parts) == 3 and bool(_RFC.match(parts[2].upper()))


def _xlsx(content: bytes, max_rows: int) -> Table:
    from openpyxl import load_workbook  # a well-kept reader; only needed for XLSX
    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise UnreadableList("not_xlsx") from exc
    try:
        sheet = book.worksheets[0]
        table = Table(kind="xlsx", rows=[])
        for index, values in enumerate(sheet.iter_rows(values_only=True)):
            if index > max_rows + 1:
                raise UnreadableList("too_many")
            cells = []
            for column, value in enumerate(values):
                text, rounded = _cell(value)
                if rounded:
                    table.rounded.add((index, column))
                cells.append(text)
            table.rows.append(cells)
        return table
    finally:
        book.close()


def _cell(value: object) -> tuple[str, bool]:
    """A cell as text, and whether Excel had already rounded it (a long folio typed into a
    number cell keeps 15 digits: 1.23E+18)."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return str(value), False
    if isinstance(value, float):
        if value.is_integer() and abs(value) < EXCEL_EXACT:
            return str(int(value)), False
        return (f"{value:.2E}" if abs(value) >= EXCEL_EXACT else repr(value)), \
            abs(value) >= EXCEL_EXACT
    if isinstance(value, int):
        return str(value), abs(value) >= EXCEL_EXACT
    if isinstance(value, datetime | date):
        return value.isoformat(), False
    return str(value), False


def _trimmed(rows: list[list[str]]) -> list[list[str]]:
    """Without the blank rows and the empty cells Excel leaves at the end of the sheet."""
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    return rows
