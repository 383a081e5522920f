"""Amaranth generators: one component per file (helpers beside them: `copies`, `dma_common`, ...)."""
