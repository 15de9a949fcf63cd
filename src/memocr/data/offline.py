"""The offline set: two-hop questions about invented people, towns, rivers, companies and bridges.

Nothing is downloaded and no model can know the answers: every name is made of invented syllables.
Question ``index`` is a small chain of two facts, each in its own document (e.g. "Velmora Glassworks
was founded by Orsa Thelwick in 1871." in the Velmora Glassworks document, "Orsa Thelwick was born in
Kelvaford in 1840." in the Orsa Thelwick document; question: "In which town was the founder of
Velmora Glassworks born?", answer "Kelvaford"). The other documents are distractors written the same
way about other invented entities; a distractor never names the question's entities or its answer,
so the answer occurs once in the context and nothing contradicts the chain. The same index gives the
same question and gold documents at every length; longer contexts only add distractors (document
``j`` of a question's distractors is the same at every length). ``supporting_facts`` are the two fact
sentences, verbatim.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from memocr.data import contexts
from memocr.data.record import QARecord

DATASET = "offline"
# Documents per context: about 2K, 6.5K and 20K tokens (SmolLM2 tokenizer; see docs/data.md).
OFFLINE_LENGTHS = (20, 64, 200)

_ONSETS = [
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "z",
    "br",
    "dr",
    "gr",
    "th",
    "st",
]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ae", "ei"]
_CODAS = ["n", "r", "l", "s", "m", "th", "nd", "rk"] + [""] * 5
_TOWN_ENDS = ["ford", "mere", "wick", "holm", "stead", "thorpe", "bury", "haven"]
_TRADES = ["Glassworks", "Ironworks", "Mills", "Shipyards", "Tannery", "Brewery", "Ropeworks", "Foundry"]


def _word(rng: random.Random, syllables: int = 2) -> str:
    parts = [rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)] + [rng.choice(_CODAS)]
    return "".join(parts).capitalize()


_NAMES: dict[str, Callable[[random.Random], str]] = {
    "person": lambda r: f"{_word(r)} {_word(r, r.choice((2, 3)))}",
    "town": lambda r: _word(r) + r.choice(_TOWN_ENDS),
    "river": lambda r: f"{_word(r)} River",
    "company": lambda r: f"{_word(r)} {r.choice(_TRADES)}",
    "bridge": lambda r: f"{_word(r)} Bridge",
}

# Relations: (subject kind, object kind, sentence). {s} = subject, {o} = object; births ({early}) come
# before foundings and openings ({late}), which come before anything a filler dates ({y}).
_FACTS = {
    "founder": ("company", "person", "{s} was founded by {o} in {late}."),
    "born": ("person", "town", "{s} was born in {o} in {early}."),
    "river": ("town", "river", "The {o} flows through {s}."),
    "designer": ("bridge", "person", "{s} was designed by the engineer {o} and opened in {late}."),
    "founded": ("person", "company", "In {late}, {s} founded {o}."),
    "seat": ("company", "town", "{s} has its headquarters in {o}."),
    "mayor": ("town", "person", "The mayor of {s} is {o}."),
    "crosses": ("bridge", "river", "{s} crosses the {o}."),
    "source": ("river", "town", "The {s} has its source in the hills above {o}."),
}

# Two-hop templates: (first relation, second relation, question about the first subject).
_TEMPLATES = [
    ("founder", "born", "In which town was the founder of {a} born?"),
    ("born", "river", "Which river flows through the town where {a} was born?"),
    ("designer", "founded", "Which company was founded by the engineer who designed {a}?"),
    ("seat", "mayor", "Who is the mayor of the town where {a} has its headquarters?"),
    ("crosses", "source", "In which town does the river crossed by {a} have its source?"),
]

# Filler sentences by kind: no names but the document's own entity ({x}).
_FILLER = {
    "person": [
        "{x} worked for {k}0 years as a {job}.",
        "{x} wrote {k} books about {topic}.",
        "Colleagues remembered {x} for a habit of {habit}.",
        "{x} kept a large collection of {collection}.",
        "{x} learned to play the {instrument} as a child.",
        "In later life {x} spent the winters {pastime}.",
    ],
    "town": [
        "{x} has a population of about {n},{m}00 people.",
        "{x} holds a {festival} festival every {season}.",
        "The market square of {x} is paved with {stone}.",
        "Many families in {x} once made their living from {trade}.",
        "The town hall of {x} was rebuilt in {y}.",
        "{x} is known in the region for its {food}.",
    ],
    "river": [
        "The {x} is about {n} kilometres long.",
        "The {x} freezes over in hard winters.",
        "Anglers on the {x} mostly catch {fish}.",
        "Barges carried {things} along the {x} until {y}.",
        "The banks of the {x} flood every {season}.",
    ],
    "company": [
        "{x} employs about {n} people.",
        "{x} is best known for its {product}.",
        "The first workshop of {x} had only {k} workers.",
        "{x} opened a second workshop in {y}.",
        "{x} publishes a catalogue of {product} every {season}.",
    ],
    "bridge": [
        "{x} is {m}{k}0 metres long.",
        "{x} rests on {k} stone arches.",
        "{x} was repaired after a flood in {y}.",
        "{x} carries a road and a narrow footpath.",
        "At night {x} is lit by {k}{m} iron lamps.",
    ],
}
_SLOTS = {
    "job": ["surveyor", "clockmaker", "schoolteacher", "printer", "pharmacist", "cartographer"],
    "topic": ["local birds", "old roads", "weaving", "winter weather", "stone walls", "bee keeping"],
    "habit": ["walking everywhere", "writing long letters", "humming while working", "rising before dawn"],
    "collection": ["maps", "clay pipes", "brass bells", "pressed flowers", "old coins"],
    "things": ["salt", "timber", "wool", "coal", "grain"],
    "instrument": ["fiddle", "cello", "flute", "accordion", "organ"],
    "pastime": ["by the sea", "repairing clocks", "painting harbours", "reading in the library"],
    "festival": ["lantern", "harvest", "cheese", "boat", "music"],
    "season": ["spring", "summer", "autumn", "winter"],
    "stone": ["grey granite", "red brick", "river cobbles", "pale limestone"],
    "trade": ["wool", "fishing", "pottery", "salt", "timber"],
    "food": ["smoked fish", "plum cake", "sheep cheese", "rye bread"],
    "fish": ["trout", "perch", "eels", "pike"],
    "product": ["window glass", "rope", "farm tools", "copper pans", "ship fittings", "barrels"],
}


def _filler(kind: str, name: str, rng: random.Random, count: int) -> list[str]:
    slots = {key: rng.choice(values) for key, values in _SLOTS.items()}
    slots.update(
        x=name, n=rng.randint(12, 95), m=rng.randint(1, 9), k=rng.randint(2, 9), y=rng.randint(1890, 1960)
    )
    return [
        template.format(**slots) for template in rng.sample(_FILLER[kind], min(count, len(_FILLER[kind])))
    ]


def _document(kind: str, name: str, fact: str, rng: random.Random) -> str:
    """``title\\ntext``: the entity's fact sentence among filler sentences about it."""
    sentences = _filler(kind, name, rng, 5)
    sentences.insert(rng.randint(1, len(sentences)), fact)
    return f"{name}\n{' '.join(sentences)}"


def _fact(relation: str, subject: str, obj: str, rng: random.Random) -> str:
    sentence = _FACTS[relation][2].format(
        s=subject, o=obj, early=rng.randint(1760, 1820), late=rng.randint(1840, 1880)
    )
    return sentence[0].upper() + sentence[1:]


def _chain(seed: int, index: int) -> tuple[str, list[str], list[str], list[str], str]:
    """(question, [first, bridge, answer] names, [fact 1, fact 2], [gold document 1, 2], template)."""
    rng = random.Random(f"offline/{seed}/gold/{index}")
    first, second, question = _TEMPLATES[index % len(_TEMPLATES)]
    kinds = [_FACTS[first][0], _FACTS[first][1], _FACTS[second][1]]
    names: list[str] = []
    while len(names) < 3:  # three different names, none inside another
        name = _NAMES[kinds[len(names)]](rng)
        if all(name not in other and other not in name for other in names):
            names.append(name)
    facts = [_fact(first, names[0], names[1], rng), _fact(second, names[1], names[2], rng)]
    documents = [_document(kinds[0], names[0], facts[0], rng), _document(kinds[1], names[1], facts[1], rng)]
    return question.format(a=names[0]), names, facts, documents, f"{first}+{second}"


def _distractor(seed: int, index: int, j: int, avoid: list[str]) -> str:
    """Distractor ``j`` of question ``index``: an invented entity with one fact, naming none of ``avoid``."""
    rng = random.Random(f"offline/{seed}/distractor/{index}/{j}")
    while True:
        relation = rng.choice(sorted(_FACTS))
        subject_kind, object_kind, _ = _FACTS[relation]
        subject, obj = _NAMES[subject_kind](rng), _NAMES[object_kind](rng)
        document = _document(subject_kind, subject, _fact(relation, subject, obj, rng), rng)
        if not any(name in document or document.split("\n", 1)[0] in name for name in avoid):
            return document


def build_offline(num_docs: int, n: int, seed: int = 0) -> list[QARecord]:
    """``n`` questions (index 0 … n-1), each in a context of ``num_docs`` documents (at least 2)."""
    num_docs = max(2, num_docs)
    records = []
    for index in range(n):
        question, names, facts, gold, template = _chain(seed, index)
        documents = gold + [_distractor(seed, index, j, names) for j in range(num_docs - 2)]
        order = list(range(num_docs))
        random.Random(f"offline/{seed}/order/{index}/{num_docs}").shuffle(order)
        shuffled = [documents[k] for k in order]
        records.append(
            QARecord(
                id=f"{DATASET}-{num_docs}-{index}",
                dataset=DATASET,
                input=question,
                answers=[names[2]],
                context=contexts.format_context(shuffled),
                num_docs=num_docs,
                index=index,
                supporting_facts=facts,
                extra={
                    "template": template,
                    "entities": names,
                    "evidence_idx": [order.index(0), order.index(1)],
                },
            )
        )
    return records
