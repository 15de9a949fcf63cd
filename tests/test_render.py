"""The rendering engine: profiles and geometry, HTML memories, golden images, safety, robustness."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_resize

import memocr.render.capture as capture_module
import memocr.render.renderer as renderer_module
import memocr.render.sync as sync_module
from hostile import HOSTILE
from memocr.budget import fit_to_budget, processor_kwargs, visual_tokens
from memocr.errors import RenderError, RenderTimeout
from memocr.render import FULL, AsyncRenderer, Renderer, RenderResult
from memocr.render.converter import Conversion, MarkdownConverter
from memocr.render.page import extract_html, layout_text, normalise_markdown
from memocr.render.profiles import COMPACT
from render_helpers import kill_chromium, mean_abs_diff, request_recorder

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_TOLERANCE = 1.0  # mean absolute difference per channel, out of 255

SHORT = "# Ocean (band)\n\n**Gene MacLellan** wrote the hit.\n\n- one\n- two"
LONG = "# Crucial fact on top\n\n" + "\n\n".join(
    f"Paragraph {i}: detail with **bold** words that fills a line of the memory." for i in range(120)
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    with Renderer(pages=2) as shared:
        yield shared


def test_memocr_v1_cuts_a_long_memory_at_the_viewport_and_full_keeps_it(renderer: Renderer) -> None:
    v1 = renderer.render(LONG, profile="memocr-v1")
    assert v1.height == 656 and v1.width <= 1152
    assert v1.content_height > 656
    assert v1.clipped_px == v1.content_width * v1.content_height - v1.width * v1.height > 0

    full = renderer.render(LONG, profile="full")
    assert full.clipped_px == 0
    assert full.height == full.content_height > 656
    assert full.width <= 1152


def test_short_memory_is_whole_in_both_profiles(renderer: Renderer) -> None:
    for profile in ("memocr-v1", "full"):
        result = renderer.render(SHORT, profile=profile)
        assert result.profile == profile
        assert result.clipped_px == 0
        assert (result.width, result.height) == (result.content_width, result.content_height)
        assert result.height < 656
        assert result.image.mode == "RGB" and result.image.size == (result.width, result.height)


def test_text_wraps_at_1152_px_in_both_profiles(renderer: Renderer) -> None:
    paragraph = "word " * 2000
    for profile in ("memocr-v1", "full"):
        result = renderer.render(paragraph, profile=profile)
        assert result.width == 1152


def test_compact_draws_headings_as_full_and_body_text_at_three_quarters(renderer: Renderer) -> None:
    heading = "# Answer: Larch Crossing"
    body = "Edda Vale was born in the hill village of Larch Crossing."
    full, compact = (renderer.render(heading, profile=name) for name in ("full", "compact"))
    assert (compact.width, compact.height) == (full.width, full.height)
    full, compact = (renderer.render(body, profile=name) for name in ("full", "compact"))
    assert 0.7 < compact.width / full.width < 0.8  # 12-px text against 16-px
    assert compact.height < full.height
    paragraph = "word " * 2000
    assert renderer.render(paragraph, profile="compact").width == 1152  # the same page width
    # Smaller text still fills the height cap before the layout window runs out, so nothing left out
    # could have been seen.
    for memory in ("- a\n" * 2000, "x" * 300_000):
        cut = renderer.render(memory, profile="compact")
        assert cut.omitted_chars > 0 and cut.content_height > cut.height == COMPACT.max_height


def test_height_cap_reports_what_it_cut(renderer: Renderer) -> None:
    capped = renderer.render(LONG, profile=replace(FULL, max_height=300))
    assert capped.height == 300
    assert capped.clipped_px == capped.content_width * (capped.content_height - 300)


def test_code_line_wider_than_the_page(renderer: Renderer) -> None:
    memory = "```\n" + "x" * 400 + "\n```"
    v1 = renderer.render(memory, profile="memocr-v1")
    assert v1.content_width > v1.width and v1.clipped_px > 0
    full = renderer.render(memory, profile="full")  # `full` wraps code instead of cutting it
    assert full.clipped_px == 0 and full.width <= 1152


@pytest.mark.slow
def test_long_pages_are_shot_in_tiles_with_the_same_pixels(renderer: Renderer, monkeypatch) -> None:
    # Taller and wider than the 1280x720 viewport: tiles meet in both directions.
    memory = LONG + '\n\n<div style="width:2000px">' + "wide words in a wide block " * 300 + "</div>"
    shots = 0
    real_shoot = capture_module._shoot

    async def counting_shoot(*args, **kwargs):
        nonlocal shots
        shots += 1
        return await real_shoot(*args, **kwargs)

    monkeypatch.setattr(capture_module, "_shoot", counting_shoot)
    monkeypatch.setattr(capture_module, "TILED_CAPTURE_MIN_CHARS", 10**9)
    monkeypatch.setattr(capture_module, "TILED_CAPTURE_MIN_VIEWPORTS", 10**9)
    whole = renderer.render(memory)
    assert shots == 1 and whole.width > 1280 and whole.height > 720
    monkeypatch.setattr(capture_module, "TILED_CAPTURE_MIN_CHARS", 0)
    tiled = renderer.render(memory)
    columns, rows = -(-whole.width // 1280), -(-whole.height // 720)
    assert shots == 1 + columns * rows
    assert tiled.image.size == whole.image.size and mean_abs_diff(tiled.image, whole.image) == 0
    assert tiled.encoded_png is None and tiled.to_bytes("png").startswith(b"\x89PNG")


def test_markdown_is_normalised_like_the_released_server() -> None:
    assert normalise_markdown("  ```\n# Memory\n```  ") == "\n# Memory\n"


def test_fence_backticks_do_not_change_the_picture(renderer: Renderer) -> None:
    plain = renderer.render(SHORT, profile="memocr-v1")
    fenced = renderer.render(f"```\n{SHORT}\n```", profile="memocr-v1")
    assert plain.image.size == fenced.image.size and mean_abs_diff(plain.image, fenced.image) == 0


@pytest.mark.parametrize("case", sorted(json.loads((GOLDEN_DIR / "cases.json").read_text())))
@pytest.mark.parametrize("profile", ["memocr-v1", "full"])
def test_golden_images(renderer: Renderer, profile: str, case: str) -> None:
    memory = json.loads((GOLDEN_DIR / "cases.json").read_text(encoding="utf-8"))[case]
    expected = Image.open(GOLDEN_DIR / f"{profile}__{case}.png")
    result = renderer.render(memory, profile=profile)
    hint = "if the change is intended, run: .venv/bin/python tests/golden/regenerate.py"
    assert result.image.size == expected.size, hint
    assert mean_abs_diff(result.image, expected) <= GOLDEN_TOLERANCE, hint


def test_html_memory_from_a_fence_or_whole(renderer: Renderer) -> None:
    html = "<h2>Answer</h2><table><tr><th>who</th><td>Gene MacLellan</td></tr></table>"
    fenced = renderer.render(f"Here is my memory:\n```html\n{html}\n```\nDone.", input_format="html")
    whole = renderer.render(html, input_format="html")
    assert fenced.image.size == whole.image.size and mean_abs_diff(fenced.image, whole.image) == 0
    assert extract_html("```html\n<p>x</p>\n```") == "<p>x</p>"


def test_html_width_is_the_viewport_and_the_element_is_not_viewport_clipped(renderer: Renderer) -> None:
    html = "<p>" + "filler words " * 400 + "</p>"
    narrow = renderer.render(html, input_format="html", width=400)
    default = renderer.render(html, input_format="html")
    assert narrow.width <= 400 < default.width <= 800
    assert narrow.height > 720 and narrow.clipped_px == 0  # the released HTML server shot the element
    v1 = renderer.render(html, input_format="html", profile="memocr-v1")
    assert v1.clipped_px == 0 and v1.height > 720


def test_nothing_named_in_the_memory_is_fetched(renderer: Renderer) -> None:
    with request_recorder() as (base, paths):
        httpx.get(f"{base}/probe")  # the recorder itself works
        assert paths == ["/probe"]
        paths.clear()
        memory = f"""# Memory ![pic]({base}/img.png)

[a link]({base}/link) and <a href="{base}/anchor">anchor</a>

<img src="{base}/img2.png" srcset="{base}/img3.png 2x">
<iframe src="{base}/frame"></iframe>
<link rel="stylesheet" href="{base}/sheet.css">
<link rel="prefetch" href="{base}/prefetch">
<style>@import url("{base}/import.css"); @font-face {{ font-family: X; src: url("{base}/font.woff"); }}
h1 {{ font-family: X; background: url("{base}/bg.png"); }}</style>
<div style="background-image: url('{base}/inline-bg.png')">styled</div>
<object data="{base}/object"></object><video poster="{base}/poster.png"></video>
<meta http-equiv="refresh" content="0; url={base}/refresh">
"""
        for profile in ("memocr-v1", "full"):
            renderer.render(memory, profile=profile)
        renderer.render(memory, input_format="html")
        after = renderer.render(SHORT)  # the page was not navigated away
        assert after.clipped_px == 0
        time.sleep(0.5)  # anything late would have arrived by now
        assert paths == []


def test_scripts_do_not_run(renderer: Renderer) -> None:
    script = (
        "<script>document.body.innerHTML = '<h1 style=\"font-size:300px\">HACKED</h1>';"
        "document.querySelector('.content').style.width = '1000px';</script>"
    )
    handler = '<img src="x" onerror="document.body.style.background=\'red\'">'
    for input_format in ("markdown", "html"):
        clean = renderer.render("Hello world", input_format=input_format)
        with_script = renderer.render(f"Hello {script}world", input_format=input_format)
        assert with_script.image.size == clean.image.size
        assert mean_abs_diff(with_script.image, clean.image) == 0
        with_handler = renderer.render(f"Hello world{handler}", input_format=input_format)
        pixels = np.asarray(with_handler.image)
        assert not ((pixels[..., 0] > 200) & (pixels[..., 1] < 60)).any()


def test_inline_style_renders(renderer: Renderer) -> None:
    result = renderer.render('# Key: <span style="color:red">Gene MacLellan</span>')
    pixels = np.asarray(result.image).astype(int)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    assert red.sum() > 50


def test_render_many_keeps_the_order(renderer: Renderer) -> None:
    memories = ["\n\n".join(f"line {j}" for j in range(i + 1)) for i in (5, 0, 9, 2, 7, 1)]
    many = renderer.render_many(memories, profile="full")
    one_by_one = [renderer.render(memory, profile="full").height for memory in memories]
    assert [result.height for result in many] == one_by_one
    assert len(set(one_by_one)) == len(memories)


def test_result_bytes_and_metadata(renderer: Renderer) -> None:
    result = renderer.render(SHORT)
    png = result.to_bytes("png")
    assert png.startswith(b"\x89PNG") and Image.open(io.BytesIO(png)).size == result.image.size
    assert result.to_bytes("jpeg").startswith(b"\xff\xd8")
    meta = result.metadata()
    assert "image" not in meta and meta["width"] == result.width and meta["clipped_px"] == 0
    json.dumps(meta)
    with pytest.raises(ValueError, match="png, jpeg"):
        result.to_bytes("gif")


def test_bad_input_gives_clear_errors(renderer: Renderer) -> None:
    with pytest.raises(ValueError, match=r"unknown render profile 'nope'.*full, memocr-v1"):
        renderer.render(SHORT, profile="nope")
    with pytest.raises(ValueError, match=r"unknown input format 'pdf'.*markdown, html"):
        renderer.render(SHORT, input_format="pdf")
    with pytest.raises(ValueError, match="HTML memories only"):
        renderer.render(SHORT, width=500)
    with pytest.raises(ValueError, match="width"):
        renderer.render(SHORT, input_format="html", width=5)
    with pytest.raises(TypeError, match="str"):
        renderer.render(b"bytes")  # type: ignore[arg-type]


def test_empty_memory_still_renders(renderer: Renderer) -> None:
    v1 = renderer.render("   ", profile="memocr-v1")  # released server: whole viewport for a tiny box
    assert (v1.width, v1.height, v1.clipped_px) == (1280, 720, 0)
    full = renderer.render("", profile="full")  # an empty box: the smallest image there is
    assert (full.width, full.height, full.content_width, full.content_height, full.clipped_px) == (
        1,
        1,
        0,
        0,
        0,
    )


@pytest.mark.slow
def test_killed_browser_is_relaunched_and_the_render_retried(renderer: Renderer) -> None:
    before = renderer.stats()["relaunches"]
    expected = renderer.render(SHORT)
    assert kill_chromium() > 0
    results = renderer.render_many([SHORT] * 4)  # every page of the pool was dead
    assert all(mean_abs_diff(result.image, expected.image) == 0 for result in results)
    assert renderer.stats()["relaunches"] > before
    assert renderer.stats()["browsers_running"]


@pytest.mark.slow
def test_async_renderer_captures_on_every_page_at_once_and_never_more(monkeypatch) -> None:
    active, peak = 0, 0
    real_capture = renderer_module.capture

    async def counting_capture(*args, **kwargs):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        if active == 2:
            both_busy.set()
        try:
            # The first capture waits for a second one to start: with two pages they overlap.
            await asyncio.wait_for(both_busy.wait(), 20)
            return await real_capture(*args, **kwargs)
        finally:
            active -= 1

    monkeypatch.setattr(renderer_module, "capture", counting_capture)

    async def main() -> list[RenderResult]:
        async with AsyncRenderer(pages=2, profile="memocr-v1") as renderer:
            return await asyncio.gather(*(renderer.render(f"# Memory {i}") for i in range(6)))

    both_busy = asyncio.Event()
    results = asyncio.run(main())
    assert peak == 2  # both pages captured at once, and the other four callers waited for a page
    assert all(result.profile == "memocr-v1" and result.clipped_px == 0 for result in results)
    assert len({result.image.tobytes() for result in results}) == 6


def test_closing_fails_renders_waiting_for_a_page_at_once() -> None:
    class SignallingQueue(asyncio.Queue):
        """The pool's idle-page queue, telling the test when a render starts waiting on it."""

        def __init__(self, waiting: asyncio.Event) -> None:
            super().__init__()
            self.waiting = waiting

        async def get(self):
            if self.empty():
                self.waiting.set()
            return await super().get()

    async def main() -> None:
        renderer = await AsyncRenderer(pages=1).start()
        pool = renderer._pool
        waiting = asyncio.Event()
        queue = SignallingQueue(waiting)
        while not pool._idle.empty():
            queue.put_nowait(pool._idle.get_nowait())
        pool._idle = queue
        async with pool.page():  # the only page is busy
            render = asyncio.create_task(renderer.render(SHORT))
            await asyncio.wait_for(waiting.wait(), 20)
            await renderer.close()
            with pytest.raises(RenderError, match="renderer closed"):
                await asyncio.wait_for(render, 5)

    asyncio.run(main())


@pytest.mark.slow
def test_sync_renderer_gives_up_on_a_stuck_event_loop(monkeypatch) -> None:
    monkeypatch.setattr(sync_module, "WAIT_MARGIN_S", 0.5)
    unblock = threading.Event()
    with Renderer(pages=1, render_timeout_s=1) as stuck:
        stuck._loop.call_soon_threadsafe(unblock.wait, 60)  # something blocks the renderer's loop
        started = time.monotonic()
        with pytest.raises(RenderTimeout, match=r"did not finish within 1\.5 s"):
            stuck.render(SHORT)
        assert time.monotonic() - started < 10
        unblock.set()
        assert stuck.render(SHORT).clipped_px == 0  # the loop is free again


def test_width_cap_cuts_and_reports_wide_content(renderer: Renderer) -> None:
    memory = '<div style="width:60000px">x</div>'
    for input_format in ("markdown", "html"):
        result = renderer.render(memory, input_format=input_format)
        assert result.width == FULL.max_width == 2304 and result.content_width >= 60000
        assert result.clipped_px == result.content_width * result.content_height - 2304 * result.height > 0
    narrow = replace(FULL, max_width=300)
    unbreakable = renderer.render('<p style="white-space:nowrap">' + "word " * 200 + "</p>", profile=narrow)
    assert unbreakable.width == 300 and unbreakable.content_width > 300 and unbreakable.clipped_px > 0
    # A cap below the text width narrows the layout: text that can wrap wraps at the cap, nothing is cut.
    wrapped = renderer.render("word " * 200, profile=narrow)
    assert wrapped.width == wrapped.content_width <= 300 and wrapped.clipped_px == 0


def test_width_and_height_caps_are_renderer_options() -> None:
    with Renderer(pages=1, max_width=400, max_height=200) as small:
        result = small.render(LONG + '\n\n<div style="width:5000px">wide</div>')
        assert (result.width, result.height) == (400, 200) and result.clipped_px > 0
        with pytest.raises(ValueError, match="width must be whole pixels from 100 to 400"):
            small.render(SHORT, input_format="html", width=800)
        assert small.render(SHORT, input_format="html").width <= 400  # the default 800 follows the cap
    with pytest.raises(ValueError, match="max_width"):
        AsyncRenderer(max_width=0)


def test_content_past_the_layout_window_is_left_out_and_reported(renderer: Renderer) -> None:
    memory = "- a\n" * 3000
    laid_out, omitted = layout_text(memory, FULL, "markdown")
    assert laid_out.count("- a") == FULL.max_layout_lines == 1250 and omitted == len(memory.strip()) - len(
        laid_out
    )
    result = renderer.render(memory)
    assert result.omitted_chars == omitted > 0
    # What was laid out already runs past the height cap, so nothing left out could have been seen.
    assert result.content_height > result.height == FULL.max_height and result.clipped_px > 0
    long_word = "x" * 300_000
    assert layout_text(long_word, FULL, "html") == ("x" * FULL.max_layout_chars, 100_000)
    blank_lines = "a" + "\n" * 5000 + "b"  # blank lines start no line box and do not count
    assert layout_text(blank_lines, FULL, "markdown") == (blank_lines, 0)
    assert renderer.render(SHORT).omitted_chars == 0


@pytest.mark.slow
def test_markdown_too_slow_to_convert_is_drawn_as_plain_text() -> None:
    # Python-Markdown takes seconds on a few thousand unclosed links (quadratic: 3,000 `[a](` ~1.8 s);
    # the worker is abandoned.
    with Renderer(pages=1, markdown_timeout_s=0.3) as quick:
        slow = quick.render("# Title\n\n" + "[a](" * 3000)
        assert slow.plain_text and slow.clipped_px == 0
        pixels = np.asarray(slow.image.convert("L"))
        assert (pixels < 128).any()  # the text is drawn
        normal = quick.render("# Title\n\n**bold**")
        assert not normal.plain_text  # a fresh worker converts the next memory
        assert normal.height < slow.height
        assert quick.stats()["markdown_fallbacks"] == 1


def test_markdown_workers_that_die_are_replaced() -> None:
    async def main() -> list[Conversion]:
        converter = MarkdownConverter(workers=2, timeout_s=10)
        converter.start()
        try:
            first = await converter.convert("# one")
            for worker in list(converter._idle):
                worker.process.kill()
                worker.process.wait()
            return [first, *await asyncio.gather(*(converter.convert(f"# {i}") for i in range(3)))]
        finally:
            converter.close()

    conversions = asyncio.run(main())
    assert [c.html for c in conversions] == ["<h1>one</h1>", "<h1>0</h1>", "<h1>1</h1>", "<h1>2</h1>"]
    assert not any(c.plain_text for c in conversions)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_memories_render_and_fit_every_budget(renderer: Renderer, name: str) -> None:
    memory = HOSTILE[name]
    for profile in ("full", "memocr-v1"):
        for input_format in ("markdown", "html"):
            result = renderer.render(memory, profile=profile, input_format=input_format)
            assert 1 <= result.width <= 2304 and 1 <= result.height <= 10_000
            assert result.image.size == (result.width, result.height)
            for budget in (1, 16, 1024):
                fitted = fit_to_budget(result.image, budget)
                # The processor takes it as it is (it raises for an aspect ratio it refuses).
                size = hf_resize(fitted.height, fitted.width, **processor_kwargs([fitted]))
                assert size == (fitted.height, fitted.width)
                assert visual_tokens(*fitted.size) <= budget


def test_renderer_must_be_started() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        Renderer().render(SHORT)
