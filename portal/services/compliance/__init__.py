"""Compliance: the audit chain's format, per-thread reports and their verifier, legal holds,
retention and the staff activity export."""
