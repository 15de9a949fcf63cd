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

# Training only (the T_augQ objective, see memocr.train.cloze): a window of the memory's own text with
# three words blanked, answered from the full-resolution image. Not wrapped in the answer template.
CLOZE = PromptTemplate(
    "cloze",
    1,
    "{passage}\n\n"
    "The passage above is part of your memory, shown in the attached image, with three words replaced "
    "by [______]. Read the image and fill the gaps in order. Put the three words, separated by commas, "
    "in \\boxed{{}}, for example \\boxed{{river, 1871, Kelvaford}}.",
)

# Variants for small models (the embedded tiers, see memocr.models.embedded; a model suggests them
# through `ChatModel.suggested_prompts`). Same turns, same blocks, same output format; what changes is
# that the instructions are blunter. Given the general wording, a 1.5B model copies whole documents into
# the memory, and it answers with a bare name where the scorer looks for \boxed{}.
_BRIEF_NOTES = (
    "Write short notes, not a copy of the article. Keep only the facts about the names in the problem "
    "and about whatever the problem leads to through them (if it asks about the founder of a firm, keep "
    "who founded it and then what the article says about that person). Leave out everything else. "
)

DRAFT_MARKDOWN_LAYOUT_BRIEF = PromptTemplate(
    "draft-markdown-layout-brief",
    1,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    f"Write the updated memory in Markdown. {_BRIEF_NOTES}You will see the memory later only as a "
    "picture, possibly shrunk a lot, so put the fact that answers the problem, or the most useful fact so "
    "far, in a heading at the top, and make names, places and years bold. Write each fact once.\n\n"
    "The updated memory, in Markdown:",
)

DRAFT_TEXT_BRIEF = PromptTemplate(
    "draft-text-brief",
    1,
    f"{_DRAFT_OPENING}\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n<section>\n{chunk}\n</section>\n\n"
    f"{_BRIEF_NOTES}Write plain sentences, each fact once.\n\n"
    "Updated memory:",
)

_BRIEF_ANSWER = (
    "Reply with the answer alone, a short name, place or number taken from the memory, inside "
    "\\boxed{{}}, for example \\boxed{{Paris}}."
)

ANSWER_FROM_IMAGE_BRIEF = PromptTemplate(
    "answer-image-brief",
    1,
    "You are given a problem and, in the attached image, your memory of a long article. Answer the "
    f"problem using only the memory. {_BRIEF_ANSWER}\n\n"
    "<problem>\n{question}\n</problem>\n\n"
    "Your answer:",
)

ANSWER_FROM_TEXT_BRIEF = PromptTemplate(
    "answer-text-brief",
    1,
    "You are given a problem and your memory of a long article. Answer the problem using only the "
    f"memory. {_BRIEF_ANSWER}\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n"
    "Your answer:",
)

# Standard template name -> its small-model variant.
BRIEF_PROMPTS = {
    template.name: brief
    for template, brief in [
        (DRAFT_MARKDOWN_LAYOUT, DRAFT_MARKDOWN_LAYOUT_BRIEF),
        (DRAFT_TEXT, DRAFT_TEXT_BRIEF),
        (ANSWER_FROM_IMAGE, ANSWER_FROM_IMAGE_BRIEF),
        (ANSWER_FROM_TEXT, ANSWER_FROM_TEXT_BRIEF),
    ]
}

# A system message for small embedded models (see memocr.models.embedded), sent before every drafting
# and answer turn. Small models otherwise fill a memory with facts they know or invent (a 1.5B model
# "remembered" a town the document never names) and repeat one paragraph until the token cap.
SYSTEM_SOURCE_ONLY = PromptTemplate(
    "system-source-only",
    1,
    "You are a careful reader. Use only the text given to you in this conversation: the problem, the "
    "article section and the memory. Never add facts from your own knowledge and never invent names, "
    "places, dates or numbers. Write each fact once: do not repeat a sentence or a paragraph.",
)
