"""Adapters of the quantum routers to other MoE libraries (optional dependencies)."""
