"""Importing people and organizations from CSV or XLSX: upload, mapping, dry run, import."""
