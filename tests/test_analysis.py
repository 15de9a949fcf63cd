"""Density statistics of final memories (regions, tokens, evidence precision) and `memocr analyze`."""

from __future__ import annotations

import csv
import json

import pytest

import memocr.models
from memocr import store
from memocr.analysis.density import (
    STOPWORDS,
    density_rows,
    evidence_vocabulary,
    region_density,
    summarize,
    tokens,
)
from memocr.analysis.regions import split_regions
from memocr.cli import main
from memocr.eval.results import DRAFTS_FILE, DraftRecord
from scripted_model import ScriptedModel

# --- regions ------------------------------------------------------------------------------------


def test_atx_headings_are_crucial_and_their_markers_go():
    regions = split_regions(
        "# Ocean (band)\n\nbody one\n\n### Gene MacLellan ###\n  ## Indented two\nbody two"
    )
    assert regions.crucial == ["Ocean (band)", "Gene MacLellan", "Indented two"]
    assert regions.detailed == ["body one", "body two"]


def test_setext_headings_follow_python_markdown():
    memory = "Big Title\n=========\n\nSub title\n---\n\nline one\nline two\n---\n\nplain\n\n---\nafter rule"
    regions = split_regions(memory)
    # Underlined first lines of a block are headings; --- under a paragraph's later line is a rule,
    # and --- after a blank line is a rule too.
    assert regions.crucial == ["Big Title", "Sub title"]
    assert "line two" in regions.detailed and "after rule" in regions.detailed


def test_hash_lines_inside_code_are_not_headings():
    memory = "```python\n# a comment\nx = 1\n```\n\n~~~\n# also code\n~~~\n\n    # indented code\n\n# Real"
    regions = split_regions(memory)
    assert regions.crucial == ["Real"]
    assert "# a comment" in regions.detailed and "# also code" in regions.detailed
    assert "    # indented code" in regions.detailed


def test_an_unclosed_fence_keeps_the_rest_as_code():
    assert split_regions("```\n# not a heading\n## nor this").crucial == []


def test_hashtags_and_empty_atx_headings():
    regions = split_regions("#hashtag in text\n#\n####### seven is too many\n# \\# escaped")
    assert regions.crucial == ["\\# escaped"]
    assert regions.detailed == ["#hashtag in text", "####### seven is too many"]


def test_html_headings_count_even_across_lines_and_with_inner_tags():
    memory = '<h1 class="x">Grestombury</h1>\n<p>born there</p>\n<H2>Two\nlines <b>bold</b></H2>\n<h3>x</h4>'
    regions = split_regions(memory)
    assert regions.crucial == ["Grestombury", "Two lines bold"]
    # A mismatched pair (<h3>…</h4>) is not a heading; tags never become tokens.
    assert regions.detailed == ["<p>born there</p>", "<h3>x</h4>"]
    assert tokens(regions.detailed_text) == ["born", "there", "x"]


def test_empty_and_heading_only_memories():
    assert split_regions("") == split_regions("\n\n  \n")
    assert split_regions("").crucial == [] and split_regions("").detailed == []
    only = split_regions("# One\n## Two\nThree\n=====")
    assert only.crucial == ["One", "Two", "Three"] and only.detailed == []


def test_bold_only_lines_are_body_unless_asked():
    memory = "**Ocean (band)**\n- **Gene MacLellan**:\nsome **bold** inside a sentence"
    assert split_regions(memory).crucial == []
    assert split_regions(memory, bold_lines=True).crucial == ["Ocean (band)", "Gene MacLellan"]
    assert split_regions(memory, bold_lines=True).detailed == ["some **bold** inside a sentence"]


# --- tokens and precision -------------------------------------------------------------------------


def test_tokens_are_squad_normalised_words_without_markup():
    assert tokens("# The **Bezun River**, flows!") == ["bezun", "river", "flows"]
    assert tokens("<h1>An Owl</h1>") == ["owl"]


def test_evidence_vocabulary_drops_stopwords():
    vocabulary = evidence_vocabulary(["Grestombury"], ["Feimei Thakofaer was born in Grestombury in 1819."])
    assert vocabulary == {"grestombury", "feimei", "thakofaer", "born", "1819"}
    assert "was" in STOPWORDS and "in" in STOPWORDS


def test_precision_per_region_on_a_hand_made_memory():
    memory = (
        "# Founder born in Grestombury\n\n"  # 4 tokens, evidence: born, grestombury
        "The mill opened in 1861. Feimei Thakofaer ran it.\n"  # 9 tokens: feimei, thakofaer
        "- Weather was cold"  # 3 tokens, none
    )
    density = region_density(memory, ["Grestombury"], ["Feimei Thakofaer was born in Grestombury in 1819."])
    assert (density.crucial_tokens, density.crucial_evidence) == (4, 2)
    assert (density.detailed_tokens, density.detailed_evidence) == (11, 2)
    assert density.crucial_precision == pytest.approx(0.5)
    assert density.detailed_precision == pytest.approx(2 / 11)


def test_an_empty_region_has_no_precision():
    density = region_density("just body Grestombury", ["Grestombury"], [])
    assert density.crucial_tokens == 0 and density.crucial_precision is None
    assert density.detailed_precision == pytest.approx(1 / 3)
    heading_only = region_density("# Grestombury", ["Grestombury"], [])
    assert heading_only.crucial_precision == 1.0 and heading_only.detailed_precision is None


def draft(question_id: str, mode: str, memory: str, facts: list[str] | None = None) -> DraftRecord:
    return DraftRecord(
        question_id=question_id,
        dataset="offline",
        length=10,
        mode=mode,
        question=f"Where was the founder of mill {question_id} born?",
        golds=["Grestombury"],
        final_memory=memory,
        model="scripted",
        document_tokens=100,
        chunks=1,
        draft_seconds=1.0,
        supporting_facts=["Feimei Thakofaer was born in Grestombury."] if facts is None else facts,
    )


def test_rows_and_mode_summaries():
    drafts = [
        draft("a", "visual", "# Grestombury\n\nfiller words here"),
        draft("b", "visual", "# Born Grestombury\n\nmore filler words here now"),
        draft("a", "text", "Feimei Thakofaer was born in Grestombury"),
    ]
    rows = density_rows(drafts)
    assert [(r.question_id, r.mode, r.headings) for r in rows] == [
        ("a", "visual", 1),
        ("b", "visual", 1),
        ("a", "text", 0),
    ]
    summaries = {s.mode: s for s in summarize(rows)}
    assert list(summaries) == ["visual", "text"]
    visual = summaries["visual"]
    assert visual.memories == 2 and visual.memories_with_headings == 2
    assert visual.median_crucial_tokens == 1.5 and visual.median_detailed_tokens == 4
    assert visual.mean_crucial_precision == 1.0 and visual.mean_detailed_precision == 0.0
    assert summaries["text"].mean_crucial_precision is None  # no memory had a heading
    assert summaries["text"].mean_detailed_precision == pytest.approx(4 / 6)


# --- the command ----------------------------------------------------------------------------------


def fake_run(tmp_path, facts: list[str] | None = None):
    run = tmp_path / "run"
    run.mkdir()
    memories = {
        "visual": "# Feimei Thakofaer, mill founder, Grestombury\n\nThe mill opened in 1861 near the river.",
        "text": "The mill opened in 1861. Feimei Thakofaer was born in Grestombury.",
    }
    for question_id in ("q1", "q2"):
        for mode, memory in memories.items():
            store.append(run / DRAFTS_FILE, [draft(question_id, mode, memory, facts)])
    return run


def test_analyze_without_oracle_writes_density_files(tmp_path, capsys):
    run = fake_run(tmp_path)
    assert main(["analyze", str(run), "--no-oracle"]) == 0
    out = run / "analysis"
    with (out / "density.csv").open() as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 4 and {row["mode"] for row in rows} == {"visual", "text"}
    visual = next(row for row in rows if row["mode"] == "visual")
    assert visual["crucial_tokens"] == "5" and visual["crucial_precision"] == "0.6000"
    assert (out / "density.png").read_bytes().startswith(b"\x89PNG")
    report = (out / "analysis.md").read_text()
    assert "| visual | 2 | 2 | 5 |" in report and "Not run (--no-oracle)" in report
    printed = capsys.readouterr().out
    assert "# Analysis of" in printed and str(out / "density.csv") in printed
    assert not (out / "oracle.jsonl").exists()


@pytest.mark.slow
def test_analyze_runs_the_oracle_on_the_run_questions(tmp_path, monkeypatch, capsys):
    run = fake_run(tmp_path)
    models: list[ScriptedModel] = []

    def reply(prompt: str, images: list) -> str:
        return "\\boxed{Grestombury}" if images[0].width > 300 else "\\boxed{no idea}"

    def fake_load_model(spec: str, **options):
        assert spec == "embedded"
        models.append(ScriptedModel(reply))
        return models[-1]

    monkeypatch.setattr(memocr.models, "load_model", fake_load_model)
    out = tmp_path / "out"
    code = main(["analyze", str(run), "--budgets", "1024", "16", "--n", "1", "--out", str(out)])
    assert code == 0
    lines = [json.loads(line) for line in (out / "oracle.jsonl").read_text().splitlines()]
    assert len(lines) == 4 == len(models[0].calls)  # one question × two placements × two budgets
    assert {line["question_id"] for line in lines} == {"q1"}
    with (out / "oracle.csv").open() as stream:
        cells = {(row["placement"], row["budget"]): row for row in csv.DictReader(stream)}
    assert cells[("heading", "1024")]["accuracy"] == "100.0" and cells[("body", "16")]["accuracy"] == "0.0"
    assert "| heading | 100.0 (n=1) | 0.0 (n=1) |" in (out / "oracle.md").read_text()
    assert (out / "oracle.png").read_bytes().startswith(b"\x89PNG")
    report = (out / "analysis.md").read_text()
    assert "Premise NOT shown" in report and "## Density of final memories" in report
    assert str(out / "oracle.png") in capsys.readouterr().out


def test_missing_and_empty_run_directories_are_user_errors(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["analyze", str(empty)]) == 2
    err = capsys.readouterr().err
    assert DRAFTS_FILE in err and "memocr eval" in err
    assert main(["analyze"]) == 2
    assert "no run directory" in capsys.readouterr().err


def test_oracle_without_supporting_facts_fails_after_saving_the_density(tmp_path, capsys):
    run = fake_run(tmp_path, facts=[])
    assert main(["analyze", str(run)]) == 2
    assert "supporting facts" in capsys.readouterr().err
    assert (run / "analysis" / "density.csv").exists()
    assert (
        "Not run: no question of the run has supporting facts"
        in (run / "analysis" / "analysis.md").read_text()
    )


def test_bad_budgets_are_refused(tmp_path, capsys):
    run = fake_run(tmp_path)
    assert main(["analyze", str(run), "--budgets", "0"]) == 2
    assert "budgets" in capsys.readouterr().err


@pytest.mark.slow
def test_oracle_alone_on_the_offline_set_from_an_empty_run(tmp_path, monkeypatch):
    monkeypatch.setattr(memocr.models, "load_model", lambda spec, **o: ScriptedModel(lambda p, i: "no idea"))
    run = tmp_path / "run"
    run.mkdir()
    assert main(["analyze", str(run), "--questions", "offline", "--n", "1", "--budgets", "16"]) == 0
    lines = [json.loads(line) for line in (run / "analysis" / "oracle.jsonl").read_text().splitlines()]
    assert [(line["placement"], line["budget"]) for line in lines] == [("heading", 16), ("body", 16)]
    assert lines[0]["memory"] == "# " + lines[1]["memory"]
    report = (run / "analysis" / "analysis.md").read_text()
    assert "The run has no finished drafts yet." in report
    assert "the first 1 of 20" in report and "Premise NOT shown" in report
    assert not (run / "analysis" / "density.csv").exists()
