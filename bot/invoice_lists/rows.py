"""A file's rows read as invoices: which column is which (a header row in Spanish or English,
or the order `invoice, reason, replacement` without one; a PAC file's `Folio|UUID|motivo|folio
de sustitución`), then each row through the same reading as a typed line
(bot.invoice_lists.entries)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from bot.i18n import t
from bot.invoice_lists.entries import Listed, entry, excel_number
from bot.invoice_lists.tables import Table

# Header words (lower case, without accents, spaces or punctuation) for each column.
HEADERS: dict[str, frozenset[str]] = {
    "invoice": frozenset({
        "uuid", "foliofiscal", "uuidfactura", "factura", "facturas", "invoice", "invoices",
        "invoiceuuid", "cfdi", "uuidcfdi", "comprobante", "referencia", "reference"}),
    "serie": frozenset({"serie", "series"}),
    "folio": frozenset({"folio", "numero", "number", "foliofactura", "invoicenumber", "no"}),
    "reason": frozenset({
        "motivo", "motivocancelacion", "clavemotivo", "reason", "cancellationreason",
        "reasoncode", "motivosat", "satreason"}),
    "replacement": frozenset({
        "sustitucion", "foliodesustitucion", "foliosustitucion", "uuidsustitucion",
        "sustituto", "sustituta", "sustituye", "uuidsustituye", "uuidsustituto",
        "facturasustituta", "facturaquesustituye", "sustituidapor", "replacement",
        "replacementuuid", "replacedby", "replacinginvoice", "replacinguuid", "substitute",
        "substitution"}),
    "replacement_serie": frozenset({
        "seriesustitucion", "seriesustituye", "seriesustituta", "seriedesustitucion",
        "replacementserie", "replacementseries"}),
    "replacement_folio": frozenset({
        "foliosustituye", "foliosustituta", "replacementfolio", "replacementnumber"}),
}
# Without a header: the invoice, its reason, its replacement, as a typed line has them.
POSITIONAL = {"invoice": 0, "reason": 1, "replacement": 2}
# A PAC bulk file (after `format|version|RFC`): Folio|UUID|motivo|folio de sustitución.
PAC_ROWS = {"pac_folio": 0, "invoice": 1, "reason": 2, "replacement": 3}


@dataclass(frozen=True)
class Layout:
    """Which column holds what, and the header row's index (-1: no header)."""
    columns: dict[str, int]
    header: int = -1


def _word(cell: str) -> str:
    plain = unicodedata.normalize("NFKD", cell).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


def layout(table: Table) -> Layout:
    """The header row (the first non-blank row, when it names an invoice column) or the
    positional order."""
    first = next((i for i, row in enumerate(table.rows) if any(c.strip() for c in row)), 0)
    found: dict[str, int] = {}
    for column, cell in enumerate(table.rows[first] if table.rows else []):
        word = _word(cell)
        for name, words in HEADERS.items():
            if word in words and name not in found:
                found[name] = column
    if "invoice" in found or {"serie", "folio"} <= found.keys():
        return Layout(found, header=first)
    return Layout(PAC_ROWS if table.preamble else POSITIONAL)


def _at(row: list[str], column: int | None) -> str:
    return row[column].strip() if column is not None and column < len(row) else ""


def read_rows(table: Table, lang: str) -> tuple[Layout, list[tuple[int, Listed | str]]]:
    """Each data row (blank ones skipped) as its spreadsheet number and the invoice it
    lists, or the problem with it."""
    shape = layout(table)
    cols = shape.columns
    read: list[tuple[int, Listed | str]] = []
    for index, row in enumerate(table.rows):
        if index <= shape.header or not any(cell.strip() for cell in row):
            continue
        number = table.number(index)
        rounded = next((row[c] for c in cols.values() if (index, c) in table.rounded), None)
        if rounded is not None:
            read.append((number, t("bulk.excel_number", lang, text=rounded[:30])))
            continue
        invoice = _at(row, cols.get("invoice"))
        if not invoice:
            serie, folio = _at(row, cols.get("serie")), _at(row, cols.get("folio"))
            invoice = _serie_folio(serie, folio)
        replacement = _at(row, cols.get("replacement"))
        if serie := _at(row, cols.get("replacement_serie")):
            replacement = _serie_folio(serie, _at(row, cols.get("replacement_folio")) or
                                       replacement)
        if not invoice:
            read.append((number, t("bulk.no_invoice", lang)))
            continue
        read.append((number, entry(invoice, _at(row, cols.get("reason")), replacement,
                                   number, lang)))
    return shape, read


def _serie_folio(serie: str, folio: str) -> str:
    """A serie and a folio from two cells, as they would be typed (`FAC 1001`); a folio
    Excel wrote as 1.23E+18 stays so, to be refused by name."""
    if not (serie or folio):
        return ""
    if excel_number(folio) or not serie:
        return folio
    return f"{serie} {folio}"
