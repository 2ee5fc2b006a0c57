"""Inference runtime: execution providers (providers.py), model contracts (manifest.py)
and session pools (pool.py)."""
