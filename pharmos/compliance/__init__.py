"""Compliance core: audit trail, electronic signatures, record lifecycles."""
