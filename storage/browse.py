"""The canned queries of `python -m bot audit browse` (Datasette over the audit file, opened
read-only and immutable): what auditors ask, in SQL. `in_words`, `local_time` and
`local_month` are SQL functions the browser registers (bot/cli/browse.py)."""

from __future__ import annotations

_MONTH_SQL = """
SELECT r.id AS request, local_time(r.created_at) AS requested, r.requester_name AS requester,
  r.reason, i.ref_key AS invoice, i.status,
  json_extract(i.facts, '$.invoice.receiver_name') AS customer,
  json_extract(i.facts, '$.invoice.receiver_rfc') AS rfc,
  json_extract(i.facts, '$.invoice.total') AS total,
  json_extract(i.facts, '$.invoice.currency') AS currency,
  json_extract(i.facts, '$.sat.estado') AS sat, i.detalle AS provider_answer
FROM requests r JOIN invoices i ON i.request_id = r.id
WHERE r.kind = 'cancel' AND local_month(r.created_at) = :month
ORDER BY r.id, i.position
"""

_STORY_SQL = """
WITH rows AS (SELECT request_id, ref_key FROM invoices
              WHERE upper(trim(:invoice)) IN (ref_key, uuid))
SELECT e.id AS event, local_time(e.at) AS at, e.actor_name AS who,
  in_words(e.action, e.details, e.request_id) AS what, e.request_id AS request,
  e.action, e.details
FROM events e JOIN rows ON rows.request_id = e.request_id
WHERE e.invoice_ref IS NULL OR e.invoice_ref = rows.ref_key
ORDER BY e.id
"""

_APPROVALS_SQL = """
SELECT d.request_id AS request, local_time(d.at) AS decided, d.actor_name AS who,
  in_words(d.action, d.details, d.request_id) AS decision,
  json_extract(x.value, '$.ref') AS invoice, f.id AS facts_event,
  json_extract(f.details, '$.invoice.receiver_rfc') AS rfc,
  json_extract(f.details, '$.invoice.total') AS total,
  json_extract(f.details, '$.invoice.currency') AS currency,
  json_extract(f.details, '$.sat.estado') AS sat
FROM events d LEFT JOIN json_each(d.details, '$.facts') x
LEFT JOIN events f ON f.id = json_extract(x.value, '$.event')
WHERE d.action IN ('decision_approve', 'decision_reject')
ORDER BY d.id DESC, x.key
"""

_EVENTS_SQL = """
SELECT e.id AS event, local_time(e.at) AS at, e.actor_name AS who,
  in_words(e.action, e.details, e.request_id) AS what, e.request_id AS request,
  e.invoice_ref AS invoice, e.action
FROM events e ORDER BY e.id DESC LIMIT 1000
"""


# Name -> SQL; Datasette shows each as a page with a form for its :parameters.
CANNED: dict[str, str] = {
    "month_cancellations": _MONTH_SQL.strip(),   # :month, AAAA-MM in TIMEZONE
    "invoice_story": _STORY_SQL.strip(),         # :invoice, a UUID or SERIE-FOLIO
    "approvals": _APPROVALS_SQL.strip(),         # each decision and the facts it was made on
    "events_in_words": _EVENTS_SQL.strip(),      # the latest 1,000 events
}
