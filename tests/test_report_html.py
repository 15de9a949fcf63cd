"""The HTML report as a person sees it: opened from file:// in headless Chromium (Playwright)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from memocr import store
from memocr.commands.report import ReportConfig, write_report
from memocr.eval.results import RESULTS_FILE
from memocr.trace import DraftStep
from report_run import HOSTILE_MEMORY, make_run, result

CHROMIUM = "/usr/bin/chromium"
HOSTILE_PREDICTION = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'

pytestmark = pytest.mark.chromium


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A run with the usual questions, one hostile answer and one question whose drafting failed."""
    run = make_run(tmp_path_factory.mktemp("report") / "run")
    store.append(
        run / RESULTS_FILE,
        [
            result(
                "t1",
                dataset="triviaqa",
                mode="visual-html",
                budget=64,
                prediction=HOSTILE_PREDICTION,
                sub_em=0.0,
            )
        ],
    )
    folder = "traces/nq-50/visual/broken"
    (run / folder).mkdir(parents=True)
    step = DraftStep(0, 100, "# Partial draft before the crash", 10, 5, 0.5)
    (run / folder / "steps.jsonl").write_text(json.dumps(dataclasses.asdict(step)) + "\n")
    error = {"stage": "drafting", "type": "ModelError", "message": "server gave up <after 3 tries>"}
    for budget in (1024, 16):
        store.append(
            run / RESULTS_FILE,
            [
                result(
                    "broken", dataset="nq", budget=budget, error=error, trace=folder, question="Who broke it?"
                )
            ],
        )
    _, files = write_report(run, ReportConfig(out=run.parent / "out"))
    assert files.index is not None
    return files.index


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    yield page
    context.close()


def visible_rows(page: Page) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "#answers tbody tr",
        "rows => rows.filter(r => r.offsetParent !== null).map(r => ({...r.dataset, text: r.innerText}))",
    )


def all_images_load(page: Page) -> list[tuple[str, int]]:
    """Scroll every image into view (they load lazily), wait for it, return (src, naturalWidth)."""
    sizes = []
    for image in page.locator("img").all():
        image.scroll_into_view_if_needed()
        image.evaluate(
            "img => img.complete ? null : new Promise(done => { img.onload = img.onerror = done; })"
        )
        sizes.append((image.get_attribute("src") or "", image.evaluate("img => img.naturalWidth")))
    return sizes


@pytest.mark.slow
def test_index_lists_every_answer_with_its_outcome(page: Page, report: Path):
    page.goto(report.as_uri())
    rows = visible_rows(page)
    assert len(rows) == 12 + 1 + 2
    assert page.locator("#shown").inner_text() == "15"
    first = next(r for r in rows if (r["mode"], r["budget"], r["dataset"]) == ("visual", "1024", "hotpotqa"))
    assert (
        "What is the capital of France?" in first["text"]
        and "Paris" in first["text"]
        and "✓" in first["text"]
    )
    failed = [r for r in rows if r["outcome"] == "failed"]
    assert len(failed) == 3
    assert any("server said 500 <oops>" in r["text"] for r in failed)  # the error shows, as text
    assert any("server gave up <after 3 tries>" in r["text"] for r in failed)
    assert page.locator("table.summary").inner_text().count("visual (MemOCR)") == 1
    assert not page.errors  # type: ignore[attr-defined]


@pytest.mark.slow
def test_filters_hide_the_other_rows(page: Page, report: Path):
    page.goto(report.as_uri())
    page.select_option("#filter-mode", "text")
    rows = visible_rows(page)
    assert len(rows) == 6 and {r["mode"] for r in rows} == {"text"}
    assert page.locator("#shown").inner_text() == "6"
    page.select_option("#filter-budget", "16")
    rows = visible_rows(page)
    assert {(r["mode"], r["budget"]) for r in rows} == {("text", "16")} and len(rows) == 3
    page.select_option("#filter-outcome", "failed")
    assert len(visible_rows(page)) == 1
    page.select_option("#filter-mode", "")
    page.select_option("#filter-outcome", "")
    page.select_option("#filter-dataset", "triviaqa")
    assert {(r["dataset"], r["budget"]) for r in visible_rows(page)} == {("triviaqa", "16")}
    page.select_option("#filter-budget", "")
    assert len(visible_rows(page)) == 5  # visual ×2, text ×2, visual-html ×1


@pytest.mark.slow
def test_images_load_from_the_trace_folders(page: Page, report: Path):
    page.goto(report.as_uri())
    sizes = all_images_load(page)
    sources = [src for src, _ in sizes]
    assert "accuracy.png" in sources and "accuracy-average.png" in sources
    assert any(src.endswith("visual/q2-2/budget-16.png") for src in sources)  # answered in a resumed folder
    assert len(sizes) == 2 + 6  # the plots and one thumbnail per visual answer with an image
    assert all(width > 0 for _, width in sizes), sizes

    page.goto(report.parent.joinpath("questions", "hotpotqa-50", "q2.html").as_uri())
    sizes = dict(all_images_load(page))
    assert len(sizes) == 3 and all(width > 0 for width in sizes.values()), sizes
    assert any(src.endswith("q2/rendered.png") for src in sizes)


def test_model_output_shows_as_text_and_never_runs(page: Page, report: Path):
    page.goto(report.as_uri())
    assert HOSTILE_PREDICTION in page.locator("#answers").inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.locator("#answers img[src=x]").count() == 0

    page.goto(report.parent.joinpath("questions", "hotpotqa-50", "q1.html").as_uri())
    assert HOSTILE_MEMORY in page.locator("pre.final").first.inner_text()
    assert page.locator("script").count() == 0
    assert page.locator("pre.final b").count() == 0  # <b>bold</b> in the memory is not markup
    page.goto(report.parent.joinpath("questions", "triviaqa-50", "t1.html").as_uri())
    assert HOSTILE_PREDICTION in page.locator("#visual-html").inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_question_page_shows_drafts_in_order_answers_and_gold(page: Page, report: Path):
    page.goto(report.as_uri())
    page.locator("tr[data-mode=visual][data-budget='1024'][data-dataset=hotpotqa] a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("questions/hotpotqa-50/q1.html#visual")
    assert page.locator("h1").inner_text() == "What is the capital of France?"
    assert page.locator(".gold").inner_text() == "Paris"
    visual = page.locator("#visual")
    summaries = visual.locator("ol.drafts summary").all_inner_texts()
    assert [s.split(" (")[0] for s in summaries] == ["Draft 1", "Draft 2", "Draft 3"]
    assert "chunk 0" in summaries[0] and "chunk 2" in summaries[2]
    drafts = visual.locator("ol.drafts pre").evaluate_all("pres => pres.map(p => p.textContent)")
    assert drafts == ["# One", "# Two", HOSTILE_MEMORY]
    answers = visual.locator("table tbody tr").all_inner_texts()
    assert [a.split("\t")[0] for a in answers] == ["1024", "16"]
    assert all("Paris" in a and "✓" in a for a in answers)
    assert page.locator("#text table tbody tr").count() == 2
    assert "1024 mem" in page.locator("#text").inner_text()


def test_question_whose_drafting_failed_shows_its_partial_draft_and_error(page: Page, report: Path):
    page.goto(report.parent.joinpath("questions", "nq-50", "broken.html").as_uri())
    assert page.locator("h1").inner_text() == "Who broke it?"
    text = page.locator("#visual").inner_text()
    assert "drafting did not finish" in text
    assert "drafting: ModelError: server gave up <after 3 tries>" in text
    assert "B=1024: no image (the answer failed)" in text
    assert (
        page.locator("#visual ol.drafts details").first.get_attribute("open") is not None
    )  # the last is open
    assert page.locator("#visual ol.drafts pre").first.inner_text() == "# Partial draft before the crash"


def test_large_index_shows_a_page_of_rows_and_more_on_request(page: Page, report: Path):
    from memocr.report.data import load_run
    from memocr.report.html import write_html
    from memocr.report.table import build_table

    run = load_run(report.parent.parent / "run")
    index = write_html(run, build_table(run.results), report.parent.parent / "paged", [], page_rows=4)
    page.goto(index.as_uri())
    assert len(visible_rows(page)) == 4
    assert (page.locator("#shown").inner_text(), page.locator("#matching").inner_text()) == ("4", "15")
    page.click("#more")
    assert len(visible_rows(page)) == 8
    page.select_option("#filter-mode", "visual")  # a new filter starts again from one page
    rows = visible_rows(page)
    assert len(rows) == 4 and {r["mode"] for r in rows} == {"visual"}
    assert page.locator("#matching").inner_text() == "8"
    page.click("#more")
    assert len(visible_rows(page)) == 8 and page.locator("#more").is_hidden()
