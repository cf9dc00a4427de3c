"""A list handed back to the requester: every row of their file as it was, with an `error`
column saying what is wrong with each bad row (empty on the good ones). CSV and TXT come back
with their delimiter, as UTF-8 with the BOM Excel looks for; XLSX comes back as XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from bot.i18n import t
from bot.invoice_lists.tables import Table


def file_name(name: str, lang: str) -> str:
    """`facturas.csv` -> `facturas-errores.csv`."""
    stem, dot, extension = name.rpartition(".")
    if not dot:
        stem, extension = name, "csv"
    return f"{stem}-{t('bulk.errors_suffix', lang)}.{extension}"


def _with_errors(table: Table, errors: Mapping[int, str], header: int, lang: str
                 ) -> list[list[str]]:
    """The rows with the error column; `errors` by spreadsheet row number."""
    width = max((len(row) for row in table.rows), default=0)
    rows = [list(row) for row in table.preamble]
    for index, row in enumerate(table.rows):
        padded = row + [""] * (width - len(row))
        if index == header:
            rows.append([*padded, t("bulk.error_column", lang)])
        else:
            rows.append([*padded, errors.get(table.number(index), "")])
    if header < 0:  # no header of theirs: name the column above the first row
        rows.insert(len(table.preamble), [""] * width + [t("bulk.error_column", lang)])
    return rows


def returned(table: Table, errors: Mapping[int, str], header: int, lang: str) -> bytes:
    """The file's content, with the error column."""
    rows = _with_errors(table, errors, header, lang)
    if table.kind == "xlsx":
        return _xlsx(rows)
    out = io.StringIO()
    csv.writer(out, delimiter=table.delimiter, lineterminator="\r\n").writerows(rows)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def _xlsx(rows: list[list[str]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"  # text as it was: a cell starting with "=" is no formula
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
