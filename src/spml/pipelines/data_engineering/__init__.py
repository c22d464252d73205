"""Label tables, single positives and the train/val split, exactly as the reference protocol."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
