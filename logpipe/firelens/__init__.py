"""firelens."""
