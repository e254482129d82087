"""Controlled site settings: the small built-in record type that demonstrates the lifecycle core."""
