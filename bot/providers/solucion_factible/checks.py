"""What the bot needs of the provider's WSDL, checked against the WSDL actually loaded.

At start (`PacClient.build`) a missing operation or element stops the bot with one sentence
per problem; `python -m bot provider check` prints every line, found or missing. The same
inspection tells where the loaded WSDL wants `motivoCancelacion`, if anywhere, and whether
the invoice's XML can be downloaded (`descargarXML` is optional: a provider without it can
still cancel and send; the bot then has no invoice XML from the provider).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.providers.solucion_factible.answers import RESULTS, STATUS, XML

Step = tuple[str, ...]            # a name, or the spellings accepted for it
Path = tuple[Step, ...]

# (operation, "sends" | "reads", path, required)
NEEDS: list[tuple[str, str, Path, bool]] = [
    ("cancelar", "sends", (("usuario",),), True),
    ("cancelar", "sends", (("password",),), True),
    ("cancelar", "sends", (("solicitudesCancelacion",),), True),
    ("cancelar", "sends", (("solicitudesCancelacion",), ("uuid",)), True),
    ("cancelar", "sends", (("solicitudesCancelacion",), ("folio",)), True),
    ("cancelar", "sends", (("solicitudesCancelacion",), ("serie",)), True),
    ("cancelar", "reads", (("return",),), True),
    ("cancelar", "reads", (("return",), STATUS), True),
    ("cancelar", "reads", (("return",), ("mensaje",)), True),
    ("cancelar", "reads", (("return",), RESULTS), True),
    ("cancelar", "reads", (("return",), RESULTS, ("uuid",)), True),
    ("cancelar", "reads", (("return",), RESULTS, ("estatusUUID",)), True),
    ("cancelar", "reads", (("return",), RESULTS, ("detalle",)), True),
    ("cancelar", "reads", (("return",), RESULTS, ("folio",)), False),
    ("cancelar", "reads", (("return",), RESULTS, ("serie",)), False),
    ("cancelar", "reads", (("return",), ("acuseSAT",)), False),
    ("enviar", "sends", (("usuario",),), True),
    ("enviar", "sends", (("password",),), True),
    ("enviar", "sends", (("solicitudEnvio",),), True),
    ("enviar", "sends", (("solicitudEnvio",), ("uuid",)), True),
    ("enviar", "sends", (("solicitudEnvio",), ("email",)), True),
    ("enviar", "sends", (("solicitudEnvio",), ("asunto",)), True),
    ("enviar", "sends", (("solicitudEnvio",), ("cuerpo",)), True),
    ("enviar", "sends", (("solicitudEnvio",), ("enviarPDF",)), True),
    ("enviar", "reads", (("return",),), True),
    ("enviar", "reads", (("return",), STATUS), True),
    ("enviar", "reads", (("return",), ("mensaje",)), True),
    ("descargarXML", "sends", (("usuario",),), False),
    ("descargarXML", "sends", (("password",),), False),
    ("descargarXML", "sends", (("folio",),), False),
    ("descargarXML", "sends", (("serie",),), False),
    ("descargarXML", "sends", (("uuid",),), False),
    ("descargarXML", "reads", (("return",),), False),
    ("descargarXML", "reads", (("return",), STATUS), False),
    ("descargarXML", "reads", (("return",), ("mensaje",)), False),
    ("descargarXML", "reads", (("return",), XML), False),
]
REQUIRED_OPERATIONS = ("cancelar", "enviar")
DOWNLOAD = "descargarXML"
MOTIVO = "motivoCancelacion"


@dataclass(frozen=True)
class Line:
    """One line of `provider check`: what was checked and whether it holds."""

    operation: str
    direction: str
    path: str            # e.g. "solicitudesCancelacion › uuid"
    found: bool
    required: bool
    problem: str = ""    # the sentence, when a required element is missing


@dataclass
class Inspection:
    """What the loaded WSDL offers the bot: operations, elements, namespace."""

    namespace: str
    operations: list[str]
    lines: list[Line] = field(default_factory=list)
    motivo_in_item: bool = False      # the loaded WSDL has motivoCancelacion in each item
    motivo_in_call: bool = False      # … or beside the list
    download: bool = False            # descargarXML is there with all the bot uses of it

    @property
    def problems(self) -> list[str]:
        return [line.problem for line in self.lines if line.problem]


def _elements(xsd_type: Any) -> list[tuple[str, Any]]:
    return list(getattr(xsd_type, "elements", None) or [])


def _type_name(xsd_type: Any) -> str:
    return getattr(xsd_type, "name", None) or "(anonymous)"


def _spell(step: Step) -> str:
    return "|".join(step)


def _walk(root: Any, path: Path, operation: str, direction: str) -> tuple[bool, str]:
    """(found, the sentence when missing)."""
    xsd_type = root
    where = "the request to" if direction == "sends" else "the answer to"
    names: list[str] = []
    for step in path:
        children = dict(_elements(xsd_type))
        match = next((name for name in step if name in children), None)
        if match is None:
            inside = f" › {' › '.join(names)}" if names else ""
            has = ", ".join(sorted(children)) or "no elements"
            return False, (f"The provider's WSDL has no `{_spell(step)}` in {where} "
                           f"{operation}{inside}; its type {_type_name(xsd_type)} has: {has}.")
        names.append(match)
        xsd_type = children[match].type
    return True, ""


def inspect(binding: Any) -> Inspection:
    """Check a SOAP binding of the loaded WSDL against NEEDS."""
    operations = dict(binding._operations)
    namespace = ""
    result = Inspection(namespace="", operations=sorted(operations))
    for name in REQUIRED_OPERATIONS:
        if name not in operations:
            result.lines.append(Line(name, "sends", "(the operation)", False, True,
                                     f"The provider's WSDL has no operation {name}; it has: "
                                     f"{', '.join(sorted(operations)) or 'none'}."))
    if DOWNLOAD not in operations:
        result.lines.append(Line(DOWNLOAD, "sends", "(the operation)", False, False))
    for operation, direction, path, required in NEEDS:
        op = operations.get(operation)
        if op is None:
            continue
        body = op.input.body if direction == "sends" else op.output.body
        namespace = namespace or body.qname.namespace
        found, problem = _walk(body.type, path, operation, direction)
        text = " › ".join(_spell(step) for step in path)
        result.lines.append(Line(operation, direction, text, found, required,
                                 problem if required else ""))
    result.namespace = namespace
    result.download = DOWNLOAD in operations and all(
        line.found for line in result.lines if line.operation == DOWNLOAD)
    if "cancelar" in operations:
        call = dict(_elements(operations["cancelar"].input.body.type))
        result.motivo_in_call = MOTIVO in call
        item = call.get("solicitudesCancelacion")
        result.motivo_in_item = item is not None and MOTIVO in dict(_elements(item.type))
    return result
