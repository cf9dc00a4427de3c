"""The SAT's domain: what a CFDI cancellation is, independent of any provider.

Reasons (01-04), invoice references (UUID or serie + folio), the outcome of asking to cancel
one invoice and the SAT's own `EstatusUUID`. Providers (bot.providers) translate their wire into
these; nothing here knows a provider, Slack or the database.
"""
