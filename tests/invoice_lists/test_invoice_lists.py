"""Lists of invoices: typed lines with their own reasons, and files (CSV in its dialects,
the PAC pipe TXT, XLSX) read row by row, with the same rules, and handed back with errors."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook

from bot.invoice_lists.entries import Listed, checked, typed_entry
from bot.invoice_lists.returned import file_name, returned
from bot.invoice_lists.rows import read_rows
from bot.invoice_lists.tables import UnreadableList, read
from bot.sat.reasons import CancelReason
from bot.sat.refs import InvoiceRef
from bot.slack.forms import parse_line, validate_cancel

U1 = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2B"
U2 = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2C"
U3 = "3F2A9C10-4D1B-4E8A-9C21-0B7D5E6F1A2D"


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for line in sheet.iter_rows():
        for cell in line:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # typed as text, even "=…"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def listed(name: str, content: bytes, lang: str = "es") -> list[tuple[int, Listed | str]]:
    return read_rows(read(name, content, max_rows=100), lang)[1]


@pytest.mark.parametrize("line", ["FAC -5", "FAC --12", "A1 -3"])
def test_a_negative_folio_is_refused_on_its_line(line: str) -> None:
    assert parse_line(line, 4, "es") == (
        f"Línea 4: «{line}» tiene un folio negativo; un folio es un número desde 1.")
    with pytest.raises(ValueError):
        InvoiceRef.parse(line)


def test_a_serie_dash_folio_is_still_a_folio() -> None:
    assert parse_line("FAC-5", 1, "es") == InvoiceRef(serie="FAC", folio=5)
    assert parse_line("FAC - 5", 1, "es") == InvoiceRef(serie="FAC", folio=5)


@pytest.mark.parametrize(("line", "reason", "replacement"), [
    (f"{U1} 01 {U2}", "01", U2),
    (f"{U1} | 01 | FAC 7", "01", "FAC-7"),
    (f"{U1}\t02", "02", None),
    ("FAC 1 03", "03", None),
    ("FAC 1 01 FAC 2", "01", "FAC-2"),
    (f"{U1}", None, None),
    ("FAC 01", None, None),  # serie FAC, folio 1: a whole reference is never split
])
def test_a_typed_line_may_carry_its_own_reason(line: str, reason: str | None,
                                               replacement: str | None) -> None:
    item = typed_entry(line, 1, "es")
    assert isinstance(item, Listed), item
    assert (item.reason, item.replacement.key if item.replacement else None) == (
        reason, replacement)


@pytest.mark.parametrize(("line", "problem"), [
    (f"{U1} 01", "con el motivo 01 indica la factura que la sustituye"),
    (f"{U1} 02 {U2}", "solo se indica con el motivo 01"),
    (f"{U1} | 07", "«07» no es un motivo del SAT"),
    (f"{U1} | 01 | hola", "la factura que la sustituye no se entiende"),
])
def test_a_typed_reason_is_checked_on_its_line(line: str, problem: str) -> None:
    form, errors = validate_cancel(invoices=f"FAC 1\n{line}", reason="02", replacement=None,
                                   justification="x", limit=10, lang="es",
                                   active=lambda keys: [])
    assert form is None and errors["invoices"].startswith("Línea 2: ") and \
        problem in errors["invoices"]


def test_each_invoice_keeps_its_reason_and_the_rest_take_the_forms() -> None:
    form, errors = validate_cancel(
        invoices=f"{U1} 01 {U2}\nFAC 1\nFAC 2 04", reason="01", replacement="FAC 9",
        justification="x", limit=10, lang="es", active=lambda keys: [])
    assert errors == {} and form is not None
    chosen = [form.chosen(ref) for ref in form.refs]
    assert [(c.reason.value, c.replacement.key if c.replacement else None)
            for c in chosen] == [("01", U2), ("01", "FAC-9"), ("04", None)]


def test_the_forms_replacement_is_needed_only_when_a_line_takes_the_forms_01() -> None:
    form, errors = validate_cancel(invoices=f"{U1} 02\nFAC 1 03", reason="01",
                                   replacement=None, justification="x", limit=10,
                                   lang="es", active=lambda keys: [])
    assert errors == {} and form is not None


def test_a_replacement_that_is_also_cancelled_is_named_on_its_line() -> None:
    _, errors = validate_cancel(invoices=f"{U1} 01 {U2}\n{U2}", reason="02",
                                replacement=None, justification="x", limit=10, lang="en",
                                active=lambda keys: [])
    assert errors["invoices"] == (
        f"Line 1: the replacing invoice ({U2}) is also among those being cancelled.")


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_a_csv_is_read_in_each_dialect_excel_writes(delimiter: str, encoding: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerows([["Factura", "Motivo", "Sustitución", "Cliente"],
                      [U1, "01", U2, "Pérez, S.A."], ["FAC 7", "", "", "Ñandú"],
                      ["", "", "", ""], ["B 9", "3", "", "x"]])
    rows = listed("lista.csv", out.getvalue().encode(encoding))
    assert [(n, i.ref.key, i.reason, i.replacement) for n, i in rows if isinstance(i, Listed)] \
        == [(2, U1, CancelReason.WITH_RELATION, InvoiceRef(uuid=U2)), (3, "FAC-7", None, None),
            (5, "B-9", CancelReason.NOT_CARRIED_OUT, None)]


def test_an_english_header_with_serie_and_folio_columns() -> None:
    content = b"Series,Number,Reason,Replacement series,Replacement folio\n" \
              b"FAC,1001,01,FAC,2001\nFAC,1002,2,,\n"
    rows = listed("list.csv", content)
    assert [(i.ref.key, i.reason, i.replacement.key if i.replacement else None)
            for _, i in rows] == [("FAC-1001", "01", "FAC-2001"), ("FAC-1002", "02", None)]


def test_without_a_header_the_columns_are_invoice_reason_replacement() -> None:
    rows = listed("l.csv", f"{U1};01;{U2}\n{U3};02;\n".encode())
    assert [(n, i.ref.key, i.reason) for n, i in rows] == [(1, U1, "01"), (2, U3, "02")]


def test_the_pac_pipe_txt() -> None:
    content = (f"CANCELACION|1.0|AAA010101AAA\n1001|{U1}|01|{U2}\n1002|{U3}|02|\n").encode()
    table = read("masivo.txt", content, 100)
    assert table.preamble == [["CANCELACION", "1.0", "AAA010101AAA"]]
    rows = read_rows(table, "es")[1]
    assert [(n, i.ref.key, i.reason, i.replacement) for n, i in rows] == [
        (2, U1, "01", InvoiceRef(uuid=U2)), (3, U3, "02", None)]


def test_an_xlsx_with_numbers_and_a_folio_excel_rounded() -> None:
    content = xlsx([["Serie", "Folio", "Motivo", "Folio fiscal"],
                    ["FAC", 1001, 2, None], ["FAC", 1.23e18, 2, None], [None, None, 1, U1]])
    rows = listed("lista.xlsx", content)
    assert rows[0] == (2, Listed(ref=InvoiceRef(serie="FAC", folio=1001),
                                 reason=CancelReason.WITHOUT_RELATION, place=2))
    assert rows[1][0] == 3 and "1.23E+18" in rows[1][1] and "Excel" in rows[1][1]
    assert rows[2][0] == 4 and "motivo 01" in rows[2][1]


def test_a_folio_excel_wrote_in_scientific_notation_in_a_csv() -> None:
    rows = listed("l.csv", b"serie,folio,motivo\nFAC,1.23E+18,02\n")
    assert "«1.23E+18» es un número que Excel convirtió" in rows[0][1]


@pytest.mark.parametrize(("name", "content", "kind"), [
    ("l.xlsx", b"PK\x03\x04 not really", "not_xlsx"),
    ("l.csv", b"\x00\x01\x02binary", "binary"),
    ("l.csv", b"\n\n ,, \n", "empty"),
    ("l.csv", b"".join(f"{U1[:-4]}{n:04X}\n".encode() for n in range(200)), "too_many"),
])
def test_a_file_that_is_no_list(name: str, content: bytes, kind: str) -> None:
    with pytest.raises(UnreadableList) as raised:
        read(name, content, max_rows=100)
    assert raised.value.kind == kind


def test_rows_checked_together_name_the_first_place() -> None:
    items = [Listed(InvoiceRef(uuid=U1), place=2), Listed(InvoiceRef(uuid=U1), place=3),
             Listed(InvoiceRef(uuid=U2), CancelReason.WITH_RELATION, InvoiceRef(uuid=U1),
                    place=4),
             Listed(InvoiceRef(serie="FAC", folio=1), place=5)]
    problems = checked(items, reason=CancelReason.WITHOUT_RELATION, replacement=None,
                       active=lambda keys: [], lang="en", row=True,
                       earlier=[Listed(InvoiceRef(serie="FAC", folio=1), place=1)])
    assert [(item.place, problem) for item, problem in problems] == [
        (3, "repeats row 2."),
        (4, f"the replacing invoice ({U1}) is also among those being cancelled."),
        (5, "is already on line 1 of the form.")]


def test_a_csv_comes_back_whole_with_an_error_column() -> None:
    content = "\ufeffFactura;Motivo\nFAC 1;02\nFAC -1;02\n".encode()
    table = read("mis facturas.csv", content, 100)
    shape, rows = read_rows(table, "es")
    errors = {n: r for n, r in rows if isinstance(r, str)}
    back = returned(table, errors, shape.header, "es").decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(back), delimiter=";")) == [
        ["Factura", "Motivo", "error"], ["FAC 1", "02", ""],
        ["FAC -1", "02", "«FAC -1» tiene un folio negativo; un folio es un número desde 1."]]
    assert file_name("mis facturas.csv", "es") == "mis facturas-errores.csv"


def test_an_xlsx_comes_back_as_xlsx_with_its_text_untouched() -> None:
    table = read("l.xlsx", xlsx([[U1, "02"], ["=cmd()", "02"]]), 100)
    shape, rows = read_rows(table, "en")
    back = load_workbook(io.BytesIO(returned(table, {n: r for n, r in rows
                                                     if isinstance(r, str)},
                                             shape.header, "en")))
    values = [[c.value for c in row] for row in back.active.iter_rows()]
    assert values[0] == [None, None, "error"] and values[1] == [U1, "02", None]
    assert values[2][0] == "=cmd()" and "neither a UUID" in values[2][2]
    assert back.active.cell(3, 1).data_type == "s"


def test_a_prefill_longer_than_the_field_keeps_the_whole_lines_that_fit() -> None:
    from bot.slack.render.modals import cancel_modal
    lines = [f"{n:08X}-1111-4111-F021-{n:012X}" for n in range(100)]  # 3,699 characters
    view = cancel_modal(prefill="\n".join(lines), channel_id=None, limit=5000, lang="es",
                        sandbox=True)
    element = next(b for b in view["blocks"] if b.get("block_id") == "invoices")["element"]
    assert element["max_length"] == 3000
    assert element["initial_value"].split("\n") == lines[:81]  # 81 × 37 − 1 = 2,996


def test_an_invoice_live_elsewhere_is_named_beside_the_other_rows_problems() -> None:
    items = [Listed(InvoiceRef(uuid=U1), place=2), Listed(InvoiceRef(uuid=U1), place=3),
             Listed(InvoiceRef(uuid=U2), place=4)]
    asked: list[list[str]] = []

    def active(keys: list[str]) -> list[dict]:
        asked.append(list(keys))
        return [{"ref_key": U2, "status": "pending", "request_id": 7}] if U2 in keys else []

    problems = checked(items, reason=CancelReason.WITHOUT_RELATION, replacement=None,
                       active=active, lang="es", row=True)
    assert [(item.place, problem) for item, problem in problems] == [
        (3, "repite la fila 2."), (4, "ya está «Pendiente» en la solicitud #7.")]
    assert asked == [[U1, U2]]  # the repeated row is not asked about
