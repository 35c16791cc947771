"""proctor: measure how far oversight of AI research can be trusted, against hidden truth."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
