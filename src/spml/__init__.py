"""Pseudo Multi-Labels for single-positive multi-label learning."""

__version__ = "0.1.0"
