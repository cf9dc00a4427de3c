"""The month's invoices as a spreadsheet an accountant opens: XLSX (openpyxl, write-only, so
10,000 rows stream out without building the workbook in memory) and CSV (UTF-8 with a BOM,
which Excel needs to read accents). Every text cell is neutralised as `audit export` does:
what a requester typed never runs as a formula."""

from __future__ import annotations

import csv
import io
from dataclasses import fields
from decimal import Decimal
from typing import Any

from bot.i18n import t
from bot.reporting.figures import Line, MonthReport
from storage.export import neutralise

COLUMNS = [f.name for f in fields(Line)]
WIDTHS = {"uuid": 38, "ref": 38, "replacement": 38, "customer": 30, "provider_words": 40,
          "approvers": 24, "requester": 18}


def headers(lang: str) -> list[str]:
    return [t(f"report.column.{name}", lang) for name in COLUMNS]


def cells(line: Line, lang: str) -> list[Any]:
    """One row: amounts as numbers (the accountant sums them), the rest as neutralised text."""
    row: list[Any] = []
    for name in COLUMNS:
        value = getattr(line, name)
        if name == "status":
            value = t(f"outcome.{value}", lang)
        if isinstance(value, Decimal):
            row.append(float(round(value, 2)))
        elif value is None:
            row.append(None)
        elif name == "request_id":
            row.append(value)
        else:
            row.append(neutralise(str(value)))
    return row


def xlsx(report: MonthReport, lang: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=t("report.sheet.title", lang, month=str(report.month)))
    for number, name in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = WIDTHS.get(name, 14)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for text in headers(lang):
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    for line in report.lines:
        sheet.append(cells(line, lang))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(report: MonthReport, lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers(lang))
    for line in report.lines:
        writer.writerow(["" if c is None else c for c in cells(line, lang)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")

