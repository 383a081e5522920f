"""Host runtime: compiler and backends (golden, rtl)."""
