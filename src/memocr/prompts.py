"""Every prompt the agent sends, named and versioned in one place.

The wording is ours; the structure follows the method: drafting turns see the problem, one chunk of
the document and the previous memory (tagged blocks), the answer turn sees the problem and the memory
(as an image for the visual modes, as truncated text for the MemAgent-style baseline). A template's
``version`` changes whenever its wording does, and every trace records the names and versions used.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.name}@v{self.version}"

    def format(self, **fields: str) -> str:
        return self.text.format(**fields)


_DRAFT_OPENING = (
    "You are given a problem, one section of a long article that may contain part of the answer, and "
    "your memory of the sections read so far. Read the section and write an updated memory: keep every "
    "detail of the previous memory that matters for the problem and add what this section contributes."
)

_DRAFT_BLOCKS = (
    "<problem>\n{question}\n</problem>\n\n<article>\n{chunk}\n</article>\n\n<memory>\n{memory}\n</memory>"
)

DRAFT_MARKDOWN_LAYOUT = PromptTemplate(
    "draft-markdown-layout",
    1,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    "Write the updated memory in Markdown. You will see it later only as a picture, possibly shrunk to "
    "a few dozen pixels of height, so use layout to rank what you keep: put the facts most likely to "
    "answer the problem in headings near the top (large, bold text stays readable when the picture is "
    "small), make key names and numbers bold, and leave supporting details in ordinary text or lists "
    "below them. Do not wrap the memory in a ```markdown block.\n\n"
    "The updated memory, in Markdown:",
)

DRAFT_MARKDOWN_PLAIN = PromptTemplate(
    "draft-markdown-plain",
    1,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    "Write the updated memory as plain paragraphs of text: no headings, no bold or italics, no lists, "
    "no tables.\n\n"
    "The updated memory:",
)

DRAFT_HTML = PromptTemplate(
    "draft-html",
    1,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    "Write the updated memory as an HTML fragment inside one ```html block. You will see it later only "
    "as a picture, possibly shrunk a lot, so make the facts most likely to answer the problem the most "
    "visible (headings, bold, larger font sizes, colour) and keep supporting details in small text. "
    "No scripts and no external resources.\n\n"
    "The updated memory, in HTML:",
)

# MemAgent's order is problem, memory, section; its tag is <section>.
DRAFT_TEXT = PromptTemplate(
    "draft-text",
    1,
    f"{_DRAFT_OPENING}\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n<section>\n{chunk}\n</section>\n\n"
    "Updated memory:",
)

ANSWER_FROM_IMAGE = PromptTemplate(
    "answer-image",
    1,
    "You are given a problem and, in the attached image, your memory of a long article. Answer the "
    "problem using the memory and put the final answer in \\boxed{{}}.\n\n"
    "<problem>\n{question}\n</problem>\n\n"
    "Your answer:",
)

ANSWER_FROM_TEXT = PromptTemplate(
    "answer-text",
    1,
    "You are given a problem and your memory of a long article. Answer the problem using the memory "
    "and put the final answer in \\boxed{{}}.\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n"
    "Your answer:",
)

INITIAL_MEMORY = "No previous memory"
