"""memocr: layout-aware visual memory for long-document question answering (MemOCR)."""

__version__ = "0.1.0"
