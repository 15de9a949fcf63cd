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

# For small policies that write no heading under the general wording: SmolLM2-135M wrote one in 1 of 32
# sampled first drafts with DRAFT_MARKDOWN_LAYOUT and in 9 of 32 with this one
# (benchmarks/draft_headings.py), so RL on the rendered memory has headings to reward or not.
DRAFT_MARKDOWN_LEAD = PromptTemplate(
    "draft-markdown-lead",
    1,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    "Write the updated memory in Markdown. You will see it later only as a picture, possibly shrunk to a "
    "few dozen pixels, so rank what you keep by layout: the fact most likely to answer the problem goes "
    "first, as a heading (a line starting with `# `); other useful facts follow as short lines of "
    "ordinary text.\n\n"
    'Example, for the problem "Who founded Kelva Mills?" after a section that says Kelva Mills was founded '
    "by Orin Dace in 1871:\n# Kelva Mills was founded by Orin Dace\nKelva Mills opened in 1871.\n\n"
    "The updated memory, in Markdown:",
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
# through `ChatModel.suggested_prompts`). Same turns, same blocks; what changes is that the memory has a
# fixed shape. Given the general wording, a 1.5B model copies whole documents into the memory or puts an
# invented answer at its top, and then carries that draft unchanged through every later chunk. A first
# line naming the fact still missing keeps it looking for the next hop (docs/models.md, "Prompt variants
# tried", has the variants measured).
def _brief_rules(looking_for: str, note: str, answer: str, example: str) -> str:
    return (
        f"{looking_for} naming the fact the problem needs that the notes do not give yet.\n"
        f"- Then the notes, one per line: every note of the previous memory, and each fact of the section "
        f"about a name in the problem or a name in the notes (for example, where a person the notes name "
        f"was born), in a few words{note}.\n"
        "- Leave out everything else. Never guess.\n"
        f"- Last, only if a note states the answer to the problem, {answer}.\n\n"
        'Example, for the problem "In which town was the founder of Kelva Mills born?" after a section '
        f"that says Kelva Mills was founded by Orin Dace:\n{example}\n\n"
    )


DRAFT_MARKDOWN_LAYOUT_BRIEF = PromptTemplate(
    "draft-markdown-layout-brief",
    2,
    f"{_DRAFT_OPENING}\n\n{_DRAFT_BLOCKS}\n\n"
    "Write the updated memory as short notes in Markdown:\n"
    + _brief_rules(
        "- Start with a heading `# Looking for: ...`",
        ", with names, places and years in bold",
        "a heading `# Answer: ...`",
        "# Looking for: where **Orin Dace** was born\n- **Kelva Mills** was founded by **Orin Dace**.",
    )
    + "The updated memory, in Markdown:",
)

DRAFT_TEXT_BRIEF = PromptTemplate(
    "draft-text-brief",
    2,
    f"{_DRAFT_OPENING}\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n<section>\n{chunk}\n</section>\n\n"
    "Write the updated memory as short plain sentences:\n"
    + _brief_rules(
        "- Start with a line `Looking for: ...`",
        "",
        "a line `Answer: ...`",
        "Looking for: where Orin Dace was born\nKelva Mills was founded by Orin Dace.",
    )
    + "Updated memory:",
)

_BRIEF_ANSWER = (
    "Reply with the answer alone, copied from the memory as it is written there (a name, a number, a "
    "date or a short phrase), inside \\boxed{{}}, for example \\boxed{{Paris}}."
)

ANSWER_FROM_IMAGE_BRIEF = PromptTemplate(
    "answer-image-brief",
    2,
    "You are given a problem and, in the attached image, your memory of a long article. Answer the "
    f"problem using only the memory. {_BRIEF_ANSWER}\n\n"
    "<problem>\n{question}\n</problem>\n\n"
    "Your answer:",
)

ANSWER_FROM_TEXT_BRIEF = PromptTemplate(
    "answer-text-brief",
    2,
    "You are given a problem and your memory of a long article. Answer the problem using only the "
    f"memory. {_BRIEF_ANSWER}\n\n"
    "<problem>\n{question}\n</problem>\n\n<memory>\n{memory}\n</memory>\n\n"
    "Your answer:",
)

# The closing turn of the small-model memories (memocr.headline): the answer in a few words, which then
# leads the memory. The memory comes first: on the 8 tuning memories, the same prompt with the problem
# first scored 25 % where this one scored 38 % (docs/models.md; within the noise of 8 questions).
HEADLINE_BRIEF = PromptTemplate(
    "headline-brief",
    1,
    "<memory>\n{memory}\n</memory>\n\n"
    "You are given a problem and, above, your memory of a long article. Answer the problem using only "
    "the memory. Reply with the answer alone, a short name, place or number taken from the memory, "
    "inside \\boxed{{}}, for example \\boxed{{Paris}}.\n\n"
    "<problem>\n{question}\n</problem>\n\n"
    "Your answer:",
)


# The drafting templates a Markdown mode can be told to use instead of its own (setting draft_prompt).
MARKDOWN_DRAFT_PROMPTS = {
    template.name: template
    for template in (
        DRAFT_MARKDOWN_LAYOUT,
        DRAFT_MARKDOWN_PLAIN,
        DRAFT_MARKDOWN_LAYOUT_BRIEF,
        DRAFT_MARKDOWN_LEAD,
    )
}


def headline_key(name: str) -> str:
    """The key under which a model suggests a headline prompt (`memocr.headline`) for the memories that
    drafting template `name` writes (see `ChatModel.suggested_prompts`)."""
    return f"{name}:headline"


# Standard template name -> its small-model variant.
BRIEF_PROMPTS = {
    template.name: brief
    for template, brief in [
        (DRAFT_MARKDOWN_LAYOUT, DRAFT_MARKDOWN_LAYOUT_BRIEF),
        (DRAFT_TEXT, DRAFT_TEXT_BRIEF),
        (ANSWER_FROM_IMAGE, ANSWER_FROM_IMAGE_BRIEF),
        (ANSWER_FROM_TEXT, ANSWER_FROM_TEXT_BRIEF),
    ]
} | {headline_key(template.name): HEADLINE_BRIEF for template in (DRAFT_MARKDOWN_LAYOUT, DRAFT_TEXT)}

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
