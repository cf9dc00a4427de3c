"""Evidence an auditor can trust: signed checkpoints of the audit log, published off the host."""
