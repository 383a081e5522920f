"""Amaranth generators: one component per file."""
