"""Approvals that never stall: reminders, escalation and the daily digest, on business time."""
