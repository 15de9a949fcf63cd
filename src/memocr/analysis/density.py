"""Density statistics of final memories: how many tokens each region holds and how much is evidence.

Tokens are model-independent: a text is stripped of HTML tags, put through the SQuAD normalisation
of `memocr.metrics.normalize_answer` (lower case, no punctuation, no articles a/an/the) and split on
white space. Markdown markers (``#``, ``**``, ``-``) are punctuation and disappear with it.

Evidence precision of a region is the share of its tokens that are evidence tokens. The evidence
vocabulary of a question is the set of tokens of its gold answers (every alias) and of its supporting
facts, minus `STOPWORDS`. A region token counts as evidence when it is in that set; stopwords in a
region still count in the denominator (they are tokens of the region that carry no evidence). A region
with no tokens has no precision (None), and is left out of averages rather than counted as 0.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from memocr.analysis.regions import split_regions
from memocr.metrics import normalize_answer

# Function words that occur in almost any sentence; the articles are already gone after normalisation.
STOPWORDS = frozenset(
    """
    i me my we our you your he him his she her it its they them their this that these those am
    is are was were be been being have has had do does did will would shall should can could may
    might must and or but if then than so as of at by for with about into onto from to in on off
    out over under up down not no nor only own same too very just also there here when where
    which who whom whose what why how all any both each few more most other some such s t
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_TAG = re.compile(r"<[^>]*>")


def tokens(text: str) -> list[str]:
    """The normalised word tokens of ``text`` (see the module docstring)."""
    return normalize_answer(_TAG.sub(" ", text)).split()


def evidence_vocabulary(golds: Iterable[str], supporting_facts: Iterable[str]) -> frozenset[str]:
    """Tokens of every gold alias and supporting fact, stopwords removed."""
    vocabulary: set[str] = set()
    for text in [*golds, *supporting_facts]:
        vocabulary.update(tokens(text))
    return frozenset(vocabulary - STOPWORDS)


@dataclass
class RegionDensity:
    """One memory's counts; precisions are None for an empty region."""

    crucial_tokens: int
    detailed_tokens: int
    crucial_evidence: int
    detailed_evidence: int

    @property
    def crucial_precision(self) -> float | None:
        return self.crucial_evidence / self.crucial_tokens if self.crucial_tokens else None

    @property
    def detailed_precision(self) -> float | None:
        return self.detailed_evidence / self.detailed_tokens if self.detailed_tokens else None


def region_density(
    memory: str, golds: Sequence[str], supporting_facts: Sequence[str], *, bold_lines: bool = False
) -> RegionDensity:
    """Token counts and evidence counts of the crucial and detailed regions of ``memory``."""
    regions = split_regions(memory, bold_lines=bold_lines)
    vocabulary = evidence_vocabulary(golds, supporting_facts)
    crucial = tokens(regions.crucial_text)
    detailed = tokens(regions.detailed_text)
    return RegionDensity(
        crucial_tokens=len(crucial),
        detailed_tokens=len(detailed),
        crucial_evidence=sum(token in vocabulary for token in crucial),
        detailed_evidence=sum(token in vocabulary for token in detailed),
    )


@dataclass
class DensityRow:
    """One row of density.csv: a question × mode."""

    question_id: str
    dataset: str
    length: int
    mode: str
    headings: int
    crucial_tokens: int
    detailed_tokens: int
    crucial_evidence: int
    detailed_evidence: int
    crucial_precision: float | None
    detailed_precision: float | None
    has_supporting_facts: bool


def density_rows(drafts: Iterable, *, bold_lines: bool = False) -> list[DensityRow]:
    """A row per draft record (anything with the fields of `memocr.eval.results.DraftRecord`)."""
    rows = []
    for draft in drafts:
        density = region_density(
            draft.final_memory, draft.golds, draft.supporting_facts, bold_lines=bold_lines
        )
        rows.append(
            DensityRow(
                question_id=draft.question_id,
                dataset=draft.dataset,
                length=draft.length,
                mode=draft.mode,
                headings=len(split_regions(draft.final_memory, bold_lines=bold_lines).crucial),
                crucial_tokens=density.crucial_tokens,
                detailed_tokens=density.detailed_tokens,
                crucial_evidence=density.crucial_evidence,
                detailed_evidence=density.detailed_evidence,
                crucial_precision=density.crucial_precision,
                detailed_precision=density.detailed_precision,
                has_supporting_facts=bool(draft.supporting_facts),
            )
        )
    return rows


@dataclass
class ModeSummary:
    """Medians and means per mode; precisions are means over the memories whose region is not empty."""

    mode: str
    memories: int
    median_crucial_tokens: float
    median_detailed_tokens: float
    mean_crucial_precision: float | None
    mean_detailed_precision: float | None
    memories_with_headings: int


def summarize(rows: Sequence[DensityRow]) -> list[ModeSummary]:
    summaries = []
    for mode in sorted({row.mode for row in rows}, key=_mode_order):
        group = [row for row in rows if row.mode == mode]
        crucial = [row.crucial_precision for row in group if row.crucial_precision is not None]
        detailed = [row.detailed_precision for row in group if row.detailed_precision is not None]
        summaries.append(
            ModeSummary(
                mode=mode,
                memories=len(group),
                median_crucial_tokens=statistics.median(row.crucial_tokens for row in group),
                median_detailed_tokens=statistics.median(row.detailed_tokens for row in group),
                mean_crucial_precision=statistics.fmean(crucial) if crucial else None,
                mean_detailed_precision=statistics.fmean(detailed) if detailed else None,
                memories_with_headings=sum(row.headings > 0 for row in group),
            )
        )
    return summaries


MODE_ORDER = ("visual", "visual-plain", "visual-html", "text")


def _mode_order(mode: str) -> tuple[int, str]:
    return (MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), mode)
