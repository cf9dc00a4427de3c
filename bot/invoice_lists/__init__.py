"""Invoices listed for a cancellation: typed lines or a file's rows, each with its own reason."""
