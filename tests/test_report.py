"""memocr report: tables (numbers, relative changes, failures), CSVs, plots, paper numbers, CLI, errors."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from importlib.resources import files
from urllib.parse import unquote

import pytest
from markupsafe import escape
from PIL import Image

from memocr import store
from memocr.cli import main
from memocr.commands.report import ReportConfig, write_report
from memocr.errors import InputError
from memocr.eval.results import RESULTS_FILE
from memocr.report import published
from memocr.report.data import Run, load_run
from memocr.report.html import write_html
from memocr.report.plot import accuracy_panels, average_panels, draw, write_plots
from memocr.report.published import MODE_METHODS
from memocr.report.table import (
    AVERAGE,
    build_table,
    details_csv,
    details_markdown,
    format_relative,
    markdown_table,
    relative_change,
    wide_csv,
)
from report_run import HOSTILE_MEMORY, make_run, result


def scores(prefix: str, values: list[float], **kwargs) -> list:
    return [result(f"{prefix}{i}", sub_em=v, **kwargs) for i, v in enumerate(values)]


def known_records() -> list:
    """hotpotqa: 75% at 1024, 25% at 16; triviaqa: 100% and 50%. Averages 87.5 and 37.5 (−57.1%)."""
    return [
        *scores("h", [1, 1, 1, 0], budget=1024),
        *scores("h", [1, 0, 0, 0], budget=16),
        *scores("t", [1, 1], dataset="triviaqa", budget=1024),
        *scores("t", [1, 0], dataset="triviaqa", budget=16),
    ]


def markdown_rows(markdown: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]


def test_table_cells_averages_and_relative_change_in_the_papers_layout():
    table = build_table(known_records())
    assert table.value("visual", 1024, "hotpotqa", 50) == 75.0
    assert table.value("visual", 16, "triviaqa", 50) == 50.0
    assert table.value("visual", 16, AVERAGE, 50) == 37.5
    assert table.relative("visual", 16, "hotpotqa", 50) == pytest.approx(-200 / 3)
    assert table.relative("visual", 16, AVERAGE, 50) == pytest.approx(-57.142857)
    assert table.relative("visual", 1024, AVERAGE, 50) is None

    rows = markdown_rows(markdown_table(table))
    assert rows[0] == ["mode", "B", "hotpotqa 50 (≈10K)", "triviaqa 50 (≈10K)", "Average 50"]
    assert rows[2] == ["visual (MemOCR)", "1024", "75.0", "100.0", "87.5"]
    assert rows[3] == ["", "16", "25.0", "50.0", "37.5 (−57.1%)"]


def test_relative_change_is_against_the_largest_budget_when_1024_is_missing():
    records = [*scores("a", [1, 1], budget=256), *scores("a", [1, 0], budget=64)]
    table = build_table(records)
    assert table.reference_budget("visual") == 256
    rows = markdown_rows(markdown_table(table))
    assert rows[2][:2] == ["visual (MemOCR)", "256"]
    assert rows[3] == ["", "64", "50.0", "50.0 (−50.0%)"]
    assert "own 256 row" in markdown_table(table)


def test_relative_change_formatting_matches_the_paper():
    assert format_relative(relative_change(72.6, 74.6)) == "(−2.7%)"
    assert format_relative(relative_change(67.1, 66.6)) == "(+0.8%)"
    assert format_relative(None) == ""


def test_failures_are_excluded_from_means_and_counted_separately():
    error = {"stage": "answering", "type": "ModelError", "message": "boom"}
    records = [
        *scores("h", [1, 0], budget=1024),
        result("h2", budget=1024, error=error),
        *scores("t", [1], dataset="triviaqa", budget=1024),
        result("t1", dataset="triviaqa", budget=16, error=error),  # every triviaqa@16 answer failed
        *scores("h", [1, 1], budget=16),
    ]
    table = build_table(records)
    cell = table.cell("visual", 1024, "hotpotqa", 50)
    assert (cell.n, cell.failures, cell.sub_em) == (2, 1, 50.0)  # not 33.3: the failure is not a 0
    assert table.cell("visual", 16, "triviaqa", 50).sub_em is None
    assert table.total_failures == 2 and table.total_records == 7

    markdown = markdown_table(table)
    rows = markdown_rows(markdown)
    assert rows[2] == ["visual (MemOCR)", "1024", "50.0 [1 failed]", "100.0", "75.0"]
    # The average at 16 covers hotpotqa only, and says so with a dagger.
    assert rows[3] == ["", "16", "100.0", "– [1 failed]", "100.0† (+33.3%)"]
    assert "2 of 7 records failed" in markdown
    assert "excluded from the means" in markdown

    details = list(csv.DictReader(io.StringIO(details_csv(table))))
    hotpot = next(r for r in details if (r["budget"], r["dataset"]) == ("1024", "hotpotqa"))
    assert (hotpot["n"], hotpot["failures"], float(hotpot["sub_em"])) == ("2", "1", 50.0)
    average = next(r for r in details if (r["budget"], r["dataset"]) == ("16", AVERAGE))
    assert (average["n"], average["failures"]) == ("2", "1")


def test_details_hold_em_f1_tokens_and_latency_per_cell():
    records = [
        result("a", budget=64, sub_em=1.0, em=0.0, f1=0.5, tokens=60, seconds={"draft": 8, "answer": 1.0}),
        result("b", budget=64, sub_em=0.0, em=0.0, f1=0.25, tokens=40, seconds={"draft": 12, "answer": 3.0}),
        result("a", mode="text", budget=64, sub_em=1.0, tokens=64, seconds={"answer": 0.5}),
    ]
    table = build_table(records)
    visual = table.cell("visual", 64, "hotpotqa", 50)
    assert (visual.sub_em, visual.em, visual.f1) == (50.0, 0.0, 37.5)
    assert (visual.tokens, visual.answer_seconds, visual.draft_seconds) == (50.0, 2.0, 10.0)
    assert table.cell("text", 64, "hotpotqa", 50).tokens == 64.0  # memory tokens for the text mode
    details = list(csv.DictReader(io.StringIO(details_csv(table))))
    kinds = {(r["mode"], r["dataset"]): r["token_kind"] for r in details}
    assert kinds[("visual", "hotpotqa")] == "visual" and kinds[("text", "hotpotqa")] == "memory"
    assert "| visual | 64 | hotpotqa | 50 | 2 | 0 | 50.0 |  | 0.0 | 37.5 | 50.0 | 2.00 | 10.0 |" in (
        details_markdown(table)
    )


def test_csvs_parse_back_to_the_tables_numbers():
    table = build_table(known_records())
    wide = list(csv.DictReader(io.StringIO(wide_csv(table))))
    assert [(r["mode"], r["budget"], r["source"]) for r in wide] == [
        ("visual", "1024", "run"),
        ("visual", "16", "run"),
    ]
    assert float(wide[1]["hotpotqa 50"]) == 25.0
    assert float(wide[1]["average 50"]) == 37.5
    assert float(wide[1]["average 50 change %"]) == pytest.approx(-57.14, abs=0.01)
    assert wide[0]["average 50 change %"] == "" and wide[0]["failed"] == "0"
    details = list(csv.DictReader(io.StringIO(details_csv(table))))
    assert len(details) == 2 * 3  # two budgets × (two datasets + the average)
    assert {r["dataset"] for r in details} == {"hotpotqa", "triviaqa", AVERAGE}


def test_rows_follow_mode_order_and_budgets_largest_first():
    records = [
        result("a", mode="text", budget=16),
        result("a", mode="text", budget=1024),
        result("a", mode="visual-plain", budget=64),
        result("a", mode="visual", budget=256),
    ]
    rows = markdown_rows(markdown_table(build_table(records)))[2:]
    assert [(r[0], r[1]) for r in rows] == [
        ("visual (MemOCR)", "256"),
        ("visual-plain (no layout)", "64"),
        ("text (MemAgent-style)", "1024"),
        ("", "16"),
    ]


# --- the paper's numbers -------------------------------------------------------------------------

# Table 1's printed averages over the four datasets at 10K/30K/100K and their printed relative changes
# against the method's 1024 row (reference/memocr-method.md §5.4), typed here apart from the packaged
# data file so that a slip in either shows.
PRINTED = {
    ("Qwen2.5", 100000): ((61.5, None, None), None),
    ("R1-Distill Qwen", 100000): ((47.9, 13.7, 1.4), None),
    ("Qwen2.5-1M", 100000): ((66.6, 63.3, 58.4), None),
    ("Mem0", 1024): ((62.0, 58.3, 53.6), None),
    ("Mem0", 256): ((61.3, 58.0, 55.0), (-1.1, -0.5, 2.5)),
    ("Mem0", 64): ((56.0, 53.2, 53.0), (-9.7, -8.8, -1.2)),
    ("Mem0", 16): ((43.0, 42.9, 41.1), (-30.6, -26.4, -23.4)),
    ("Mem-α", 1024): ((47.3, 46.5, 47.9), None),
    ("Mem-α", 256): ((40.3, 37.0, 38.7), (-14.9, -20.5, -19.2)),
    ("Mem-α", 64): ((25.2, 26.4, 26.4), (-46.8, -43.2, -44.9)),
    ("Mem-α", 16): ((23.7, 27.0, 26.2), (-50.0, -42.0, -45.3)),
    ("MemAgent", 1024): ((67.8, 66.7, 65.7), None),
    ("MemAgent", 256): ((67.3, 65.3, 63.9), (-0.7, -2.1, -2.8)),
    ("MemAgent", 64): ((50.7, 50.3, 48.7), (-25.3, -24.7, -25.9)),
    ("MemAgent", 16): ((31.6, 32.3, 27.2), (-53.3, -51.6, -58.6)),
    ("MemOCR", 1024): ((74.6, 69.8, 66.6), None),
    ("MemOCR", 256): ((72.6, 69.5, 67.1), (-2.7, -0.5, 0.8)),
    ("MemOCR", 64): ((67.3, 64.7, 60.7), (-9.8, -7.4, -8.8)),
    ("MemOCR", 16): ((62.2, 55.5, 52.8), (-16.6, -20.5, -20.7)),
}


@pytest.mark.parametrize(("method", "budget"), list(PRINTED))
def test_packaged_table1_matches_the_papers_printed_averages(method, budget):
    """The data file's averages and changes are the printed ones, and each printed average is the mean
    of the file's four cells (up to the paper's rounding): a mistyped cell shows here."""
    averages, changes = PRINTED[(method, budget)]
    for index, length in enumerate(published.LENGTHS):
        assert published.table1_average(method, budget, length) == averages[index]
        assert published.table1_change(method, budget, length) == (changes[index] if changes else None)
        cells = [published.table1(method, budget, d, length) for d in published.DATASETS]
        if averages[index] is not None:
            assert sum(cells) / 4 == pytest.approx(averages[index], abs=0.051)


def test_every_packaged_table1_row_is_printed_in_the_paper():
    rows = list(csv.DictReader(io.StringIO(files("memocr.report").joinpath("paper_table1.csv").read_text())))
    assert [(row["method"], int(row["budget"])) for row in rows] == list(PRINTED)


@pytest.mark.parametrize(
    ("mode", "method", "budget"),
    [(mode, method, budget) for mode, method in MODE_METHODS.items() for budget in (256, 64, 16)],
)
def test_paper_rows_show_the_published_averages_and_changes(mode, method, budget):
    table = build_table(
        [result("a", dataset=d, length=n, mode=mode) for d in published.DATASETS for n in published.LENGTHS],
        paper=True,
    )
    averages, changes = PRINTED[(method, budget)]
    for index, length in enumerate(published.LENGTHS):
        assert table.paper_value(mode, budget, AVERAGE, length) == averages[index]
        assert table.paper_relative(mode, budget, AVERAGE, length) == changes[index]


def test_paper_changes_print_as_in_the_paper():
    records = [result("a", dataset=d, length=n) for d in published.DATASETS for n in published.LENGTHS]
    table = build_table(records, paper=True)
    changes = [format_relative(table.paper_relative("visual", 256, AVERAGE, n)) for n in published.LENGTHS]
    assert changes == ["(−2.7%)", "(−0.5%)", "(+0.8%)"]


def test_paper_typo_is_corrected_and_noted():
    (typo,) = published.TYPOS
    cell = (typo.method, typo.budget, typo.dataset, typo.length)
    assert published.table1(*cell) == typo.used != typo.printed
    row = [published.table1(typo.method, typo.budget, d, typo.length) for d in published.DATASETS]
    assert round(sum(row) / 4, 1) == 60.7  # the printed average agrees with the corrected cell
    assert round((sum(row) - typo.used + typo.printed) / 4, 1) != 60.7  # and not with the printed one
    assert published.paper_value("visual", 1024, "2wiki", 200) == 73.7  # alias
    assert published.paper_value("visual-plain", 1024, "hotpotqa", 50) is None


def test_budget_sweep_is_read_from_its_data_file():
    sweep = published.budget_sweep_hotpotqa_50()
    assert list(sweep["MemOCR w/o layout"]) == [1024, 512, 256, 128, 64, 32, 16, 8]
    # The sweep's measured points are Table 1's HotpotQA-10K cells.
    for method in ("MemOCR", "MemAgent"):
        for budget in (1024, 64):
            assert sweep[method][budget] == published.table1(method, budget, "hotpotqa", 50)


def test_paper_rows_sit_beside_the_matching_modes():
    records = [*known_records(), *scores("x", [1], mode="text", budget=1024)]
    table = build_table(records, paper=True)
    markdown = markdown_table(table)
    rows = markdown_rows(markdown)
    labels = [row[0] for row in rows[2:] if row[0]]
    assert labels == ["visual (MemOCR)", "MemOCR, paper", "text (MemAgent-style)", "MemAgent, paper"]
    paper_1024 = rows[rows.index(next(r for r in rows if r[0] == "MemOCR, paper"))]
    # hotpotqa and triviaqa at 50 docs (10K); the average is over the run's two datasets.
    assert paper_1024 == ["MemOCR, paper", "1024", "84.8", "79.6", "82.2"]
    assert "70.2" in markdown and "65.8" in markdown  # the typo note
    wide = list(csv.DictReader(io.StringIO(wide_csv(table))))
    assert [r["budget"] for r in wide if r["source"] == "paper" and r["mode"] == "visual"] == [
        "1024",
        "256",
        "64",
        "16",
    ]
    details = list(csv.DictReader(io.StringIO(details_csv(table))))
    assert (
        float(next(r for r in details if r["dataset"] == "triviaqa" and r["budget"] == "16")["paper_sub_em"])
        == 80.8
    )


def test_no_paper_rows_where_the_paper_has_no_matching_column():
    table = build_table(scores("o", [1, 0], dataset="offline", length=8), paper=True)
    assert "paper" not in "".join(row[0] for row in markdown_rows(markdown_table(table)))


# --- plots ---------------------------------------------------------------------------------------


def test_plot_panels_hold_one_line_per_mode_with_the_tables_numbers(tmp_path):
    records = [*known_records(), *scores("h", [0, 0, 1, 1], mode="text", budget=1024)]
    table = build_table(records)
    panels = accuracy_panels(table)
    assert [p.title for p in panels] == [
        "hotpotqa, 50 docs (n=4 questions)",
        "triviaqa, 50 docs (n=2 questions)",
    ]
    lines = {line.mode: line for line in panels[0].lines}
    assert lines["visual"].budgets == [16, 1024] and lines["visual"].values == [25.0, 75.0]
    assert lines["text"].budgets == [1024] and lines["text"].values == [50.0]
    (average,) = average_panels(table)
    assert average.title.startswith("average of 2 datasets, 50 docs (n=6 questions")
    assert {line.mode: line.values for line in average.lines}["visual"] == [37.5, 87.5]

    plots = write_plots(table, tmp_path)
    assert [p.path.name for p in plots] == ["accuracy.png", "accuracy-average.png"]
    for plot in plots:
        with Image.open(plot.path) as image:
            image.verify()
            assert image.format == "PNG" and image.width > 400

    figure = draw(panels, "title", table.modes)
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["16", "1024"]
    assert "accuracy" in ax.get_ylabel() and "budget" in ax.get_xlabel()
    drawn = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.get_lines()}
    assert drawn["visual (MemOCR)"] == ([16, 1024], [25.0, 75.0])
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "visual (MemOCR)",
        "text (MemAgent-style)",
    ]


def test_plot_titles_count_failures_and_paper_lines_are_dashed():
    error = {"stage": "answering", "type": "ModelError", "message": "boom"}
    records = [*known_records(), result("h9", budget=16, error=error)]
    table = build_table(records, paper=True)
    hotpot = accuracy_panels(table)[0]
    assert hotpot.title == "hotpotqa, 50 docs (n=5 questions, 1 failed record)"
    paper = [line for line in hotpot.lines if line.paper]
    assert [(line.label, line.values) for line in paper] == [("MemOCR (paper)", [67.2, 77.6, 82.2, 84.8])]
    figure = draw([hotpot], "t", table.modes)
    styles = {line.get_label(): line.get_linestyle() for line in figure.axes[0].get_lines()}
    assert styles == {"visual (MemOCR)": "-", "MemOCR (paper)": "--"}


# --- the command ---------------------------------------------------------------------------------


def test_cli_writes_every_output_and_prints_the_table(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    assert main(["report", str(run)]) == 0
    printed = capsys.readouterr().out
    out = run / "report"
    for name in [
        "table.md",
        "table.csv",
        "details.md",
        "details.csv",
        "accuracy.png",
        "accuracy-average.png",
    ]:
        assert (out / name).is_file(), name
    assert (out / "index.html").is_file()
    assert (out / "questions" / "hotpotqa-50" / "q1.html").is_file()
    assert (out / "table.md").read_text(encoding="utf-8") in printed
    assert f"HTML report: {out / 'index.html'}" in printed
    assert str(out / "accuracy.png") in printed
    assert "| visual (MemOCR) | 1024 | 100.0 | 100.0 | 100.0 |" in printed
    assert "|  | 16 | 0.0 [1 failed] | 100.0 | 50.0 (−33.3%) |" in printed


def test_cli_out_and_paper_flags(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    out = tmp_path / "elsewhere"
    assert main(["report", str(run), "--out", str(out), "--paper", "--no-html"]) == 0
    assert "MemOCR, paper" in capsys.readouterr().out
    assert (out / "table.csv").is_file() and not (out / "index.html").exists()
    assert not (run / "report").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "does not exist"),
        ("empty-dir", "has no results.jsonl"),
        ("empty-file", "holds no results yet"),
        ("bad-line", "results.jsonl line 1: not valid JSON"),
        ("bad-budget", "budget that is not a whole number"),
        ("file", "is not a directory"),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path, capsys, setup, message):
    run = tmp_path / "run"
    if setup == "file":
        run.write_text("x")
    elif setup != "missing":
        run.mkdir()
    if setup == "empty-file":
        (run / RESULTS_FILE).write_text("")
    if setup == "bad-line":
        (run / RESULTS_FILE).write_text("{not json\n" + json.dumps({"question_id": "a"}) + "\n")
    if setup == "bad-budget":
        store.append(run / RESULTS_FILE, [dataclasses.replace(result("a"), budget="<b>64</b>")])
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memocr report: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_load_run_names_an_unreadable_line(tmp_path):
    run = make_run(tmp_path / "run")
    with (run / RESULTS_FILE).open("a") as stream:
        stream.write('{"question_id": 1}\n')
    store.append(run / RESULTS_FILE, [result("late")])
    with pytest.raises(InputError, match=r"results.jsonl line \d+: not a ResultRecord \(missing"):
        load_run(run)


# --- the HTML report: escaping and trace paths (read as files; tests/test_report_html.py opens them) --

HOSTILE = '"><script>window.pwned=1</script>'


def html_pages(out) -> dict[str, str]:
    return {path.relative_to(out).as_posix(): path.read_text() for path in out.rglob("*.html")}


def test_html_escapes_hostile_values_in_numeric_fields_and_questions(tmp_path):
    record = result("q" + HOSTILE, dataset="d" + HOSTILE, question="Why" + HOSTILE, prediction=HOSTILE)
    # load_run refuses a length or budget that is not a number; the pages escape one all the same.
    record = dataclasses.replace(record, length="50" + HOSTILE, budget="64" + HOSTILE, image_width=HOSTILE)
    run = Run(path=tmp_path, results=[record], drafts=[], config_text=HOSTILE)
    write_html(run, build_table(run.results), tmp_path / "out", [])
    pages = html_pages(tmp_path / "out")
    assert len(pages) == 2
    for name, page in pages.items():
        # Our own filter script on the index is the only script element; nothing else became markup.
        assert page.count("<script") == (name == "index.html"), name
        assert "&#34;&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;" in page, name
    index = pages["index.html"]
    assert 'data-length="50&#34;&gt;&lt;script&gt;' in index and 'data-budget="64&#34;&gt;' in index


def test_html_never_reads_or_links_a_trace_path_outside_the_run(tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "memory.md").write_text("SECRET memory")
    (secret / "steps.jsonl").write_text(json.dumps({"memory": "SECRET draft"}) + "\n")
    for name in ("rendered.png", "budget-1024.png"):
        Image.new("RGB", (8, 8)).save(secret / name)
    run = tmp_path / "run"
    (run / "traces" / "inside").mkdir(parents=True)
    (run / "traces" / "link").symlink_to(secret)
    (run / "traces" / "inside" / "memory.md").symlink_to(secret / "memory.md")
    traces = {"up": "../secret", "etc": "../../etc", "absolute": str(secret)}
    traces |= {"symlink": "traces/link", "file-symlink": "traces/inside"}
    store.append(run / RESULTS_FILE, [result(name, trace=trace) for name, trace in traces.items()])
    write_report(run, ReportConfig(plots=False))

    out = run / "report"
    pages = html_pages(out)
    for name, page in pages.items():
        assert "SECRET" not in page, name
        for url in re.findall(r'(?:src|href)="([^"#]+)', page):
            assert (out / name).parent.joinpath(unquote(url)).resolve().is_relative_to(run), (name, url)
    for name in traces:
        page = pages[f"questions/hotpotqa-50/{name}.html"]
        assert "is outside the run directory; it is not read" in page, name
        assert "drafting did not finish" in page and "no drafts recorded" in page
    assert pages["index.html"].count('<span class="err">trace file') == 4  # the thumbnails that would leak


def test_html_shows_an_unreadable_steps_file_as_an_error_of_its_question(tmp_path):
    run = make_run(tmp_path / "run")
    steps = run / "traces/hotpotqa-50/visual/q1/steps.jsonl"
    steps.write_text('{"memory": "# One"}\nnot json\n{"memory": "# Two"}\n')
    write_report(run, ReportConfig(plots=False))
    pages = html_pages(run / "report")
    q1 = pages["questions/hotpotqa-50/q1.html"]
    assert f'<p class="err">{steps} line 2: ' in q1
    assert str(escape(HOSTILE_MEMORY)) in q1  # the rest of the question shows
    assert "line 2" not in pages["questions/hotpotqa-50/q2.html"]
