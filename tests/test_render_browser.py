"""static/signoff/render.js in a real Chromium, on a bare page: hostile Content stays inert, and the pane tools work."""

import base64
import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from reviews.content import render_content

# render.js on a bare page (no server): nothing here reads the database or the broker.
pytestmark = [pytest.mark.browser, pytest.mark.db_agnostic]

STATIC = Path(__file__).resolve().parent.parent / "static" / "signoff"
PWN = "window.__pwned=1"


def page_html() -> str:
    css = "\n".join((STATIC / name).read_text() for name in ("app.css", "render.css"))
    script = (STATIC / "render.js").read_text()
    assert "</script" not in script.lower() and "</style" not in css.lower()
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{css}</style></head><body>
    <div class="review-page"><div class="outputs">
      <div class="card output"><div id="a" class="content pane"></div></div>
      <div class="card output"><div id="b" class="content pane"></div></div>
    </div></div>
    <script>{script}</script></body></html>"""


@pytest.fixture
def page(new_page):
    page = new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_content(page_html())
    page.requests = requests
    return page


def render(page, pane: str, content: dict) -> None:
    page.evaluate("([id, content]) => SignoffRender.render(document.getElementById(id), content)", [pane, content])


def pair(page, content_a: dict, content_b: dict) -> dict:
    """Render both panes and enhance them; the controller is kept as window.pair."""
    render(page, "a", content_a)
    render(page, "b", content_b)
    return page.evaluate(
        """([a, b]) => {
        window.pair = SignoffRender.enhancePair(document.getElementById("a"), document.getElementById("b"), a, b);
        return {hasDiff: window.pair.hasDiff, hasOverlay: window.pair.hasOverlay};
    }""",
        [content_a, content_b],
    )


def png_b64(size=(16, 12), colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


HOSTILE_STRINGS = [
    f"<script>{PWN}</script>",
    f'<img src=x onerror="{PWN}">',
    f'<svg onload="{PWN}"></svg><iframe src="javascript:{PWN}"></iframe>',
    f'<a href="javascript:{PWN}">link</a>',
]
HOSTILE_JSON = {
    f'<img src=x onerror="{PWN}">': [f"<script>{PWN}</script>", {"<b>k</b>": f'<iframe src="javascript:{PWN}">'}],
    "image": f'x" onerror="{PWN}',
}


def assert_nothing_ran(page) -> None:
    page.wait_for_timeout(150)  # an image error handler would fire asynchronously
    assert page.evaluate("window.__pwned") is None
    assert (
        page.evaluate("document.querySelectorAll('#a img, #a script, #a iframe, #a svg, #b img, #b script').length")
        == 0
    )
    assert all(url.startswith(("about:", "data:")) for url in page.requests), page.requests


@pytest.mark.parametrize("fmt", ["auto", "markdown", "code"])
def test_hostile_strings_render_without_running_or_creating_elements(page, fmt):
    for value in HOSTILE_STRINGS:
        render(page, "a", render_content(value, fmt))
        render(page, "b", render_content({"prompt": value, "n": 1}, fmt))
        assert_nothing_ran(page)
    if fmt != "markdown":  # text and code show what the model wrote, escaped
        assert PWN in page.inner_text("#a")


def test_markdown_javascript_link_does_nothing_when_clicked(page):
    render(page, "a", render_content(f"[x](javascript:{PWN})", "markdown"))
    link = page.locator("#a a")
    assert link.get_attribute("href") is None
    link.click()
    assert_nothing_ran(page)
    assert page.url == "about:blank"


def test_json_with_html_in_keys_and_values_is_text(page):
    content = render_content(HOSTILE_JSON)
    assert content["type"] == "json"  # the "image" is not one, so the whole record stays data
    render(page, "a", content)
    render(page, "b", render_content([{"<b>col</b>": f"<script>{PWN}</script>", "n": 1}]))
    assert_nothing_ran(page)
    text = page.inner_text("#a")
    assert f"<script>{PWN}</script>" in text and '"<b>k</b>"' in text
    assert page.inner_text("#b th") == "<b>col</b>"


def test_image_src_that_is_not_png_or_jpeg_data_is_not_drawn(page):
    for src in [
        f"javascript:{PWN}",
        "https://example.com/x.png",
        "data:image/svg+xml;base64,PHN2Zz4=",
        'data:image/png;base64,AAAA" onerror="x',
    ]:
        render(page, "a", {"type": "image", "src": src})
        assert_nothing_ran(page)
        assert "not a PNG or JPEG" in page.inner_text("#a")


def test_json_tree_folds_and_summarises_long_arrays(page):
    render(
        page,
        "a",
        render_content({"config": {"depth": 3, "deep": {"deeper": {"deepest": True}}}, "xs": list(range(120))}),
    )
    assert page.locator("#a .json-tree > details").get_attribute("open") is not None
    assert page.locator("#a .json-tree > details > summary").inner_text() == "{2 keys}"
    assert page.locator("#a summary", has_text='"deeper"').count() == 1  # open down to depth 2 ...
    assert page.locator("#a .json-key", has_text='"deepest"').count() == 0  # ... deeper ones drawn when opened
    depth_key = page.locator("#a .json-key", has_text='"depth"')
    expect(depth_key).to_be_visible()
    page.locator("#a .json-tree > details > .json-children > details > summary").first.click()
    expect(depth_key).to_be_hidden()
    long_array = page.locator("#a summary", has_text="[… 120 items]")
    expect(long_array).to_be_visible()
    assert page.locator("#a .json-number", has_text="119").count() == 0
    long_array.click()
    expect(page.locator("#a .json-number", has_text="119")).to_be_visible()
    page.locator("#a .json-tree > details > summary").click()
    expect(page.locator("#a .json-tree > details > .json-children")).to_be_hidden()


def test_table_has_a_row_per_record_and_a_cell_per_column(page):
    render(page, "a", render_content([{"name": "a", "score": 1}, {"name": "b"}, {"score": 3, "ok": False}]))
    assert page.locator("#a .table-wrap table.content-table th").all_inner_texts() == ["name", "score", "ok"]
    assert page.locator("#a table.content-table tbody tr").count() == 3
    assert page.locator("#a table.content-table tbody td").count() == 9
    assert page.locator("#a tbody tr").nth(2).locator("td").all_inner_texts() == [
        "",
        "3",
        "false",
    ]  # null is drawn by CSS


def test_word_diff_marks_exactly_the_changed_word(page):
    controls = pair(
        page, render_content("the cat sat on the mat"), render_content("the dog sat on the mat", "markdown")
    )
    assert controls == {"hasDiff": True, "hasOverlay": False}
    assert page.evaluate("window.pair.toggleDiff()") is True
    assert page.locator("#a mark.diff-changed").all_inner_texts() == ["cat"]
    assert page.locator("#b mark.diff-changed").all_inner_texts() == ["dog"]
    assert page.inner_text("#a") == "the cat sat on the mat"
    assert page.evaluate("window.pair.toggleDiff()") is False
    assert page.locator("#a mark, #b mark").count() == 0
    assert page.locator("#b .markdown p").inner_text() == "the dog sat on the mat"


def test_word_diff_marks_both_sides_alike_so_neither_looks_preferred(page):
    pair(page, render_content("the cat sat on the mat"), render_content("the dog sat on a mat"))
    page.evaluate("window.pair.toggleDiff()")
    styles = page.evaluate(
        """() => ["#a", "#b"].map(pane => [...document.querySelectorAll(pane + " mark")].map(mark => {
            const style = getComputedStyle(mark);
            return [style.backgroundColor, style.color, style.textDecorationLine, style.borderBottomColor];
        }))"""
    )
    a, b = styles
    assert a and b and len({tuple(style) for style in a + b}) == 1, styles
    background = [int(part) for part in a[0][0].strip("rgba()").split(",")[:3]]
    red, green, _ = background
    assert abs(red - green) < 40  # a neutral highlight: neither the red of a deletion nor the green of an insertion
    assert page.locator("#a del, #a ins, #b del, #b ins").count() == 0


def test_auto_detected_markdown_is_rendered_and_a_script_in_it_does_not_run(page):
    content = render_content(
        f"# Steps\n\n1. **add** them\n2. check\n\n<script>{PWN}</script>\n<img src=x onerror={PWN}>"
    )
    assert content["type"] == "markdown"
    render(page, "a", content)
    assert page.inner_text("#a h1") == "Steps"
    assert page.locator("#a ol li").count() == 2 and page.inner_text("#a strong") == "add"
    assert_nothing_ran(page)


def test_long_texts_fall_back_to_a_line_diff(page):
    a = "\n".join(f"line {i} " + "word " * 9 for i in range(300))
    b = a.replace("line 150 ", "line 150 changed ")
    result = page.evaluate("([a, b]) => SignoffRender.diff(a, b)", [a, b])
    assert result["mode"] == "words"  # common prefix and suffix are trimmed before the LCS budget applies
    assert [s["text"] for s in result["b"] if s["changed"]] == ["changed"]
    b_scattered = "\n".join(f"line {i} " + ("other " if i % 2 else "word ") * 9 for i in range(300))
    result = page.evaluate("([a, b]) => SignoffRender.diff(a, b)", [a, b_scattered])
    assert result["mode"] == "lines"
    assert sum(s["text"].count("other") for s in result["b"] if s["changed"]) == 150 * 9


def test_scrolling_one_pane_scrolls_the_other_proportionally(page):
    pair(
        page,
        render_content("\n".join(f"a{i}" for i in range(300))),
        render_content("\n".join(f"b{i}" for i in range(600))),
    )
    box = page.locator("#a").bounding_box()
    assert box["height"] <= 0.45 * 720 + 1
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 600)
    page.wait_for_function("document.getElementById('b').scrollTop > 0")
    page.wait_for_timeout(200)  # no echo: A stays where the wheel put it
    ratios = page.evaluate("""['a', 'b'].map((id) => { const e = document.getElementById(id);
        return e.scrollTop / (e.scrollHeight - e.clientHeight); })""")
    assert ratios[0] > 0 and abs(ratios[0] - ratios[1]) < 0.01
    page.evaluate("window.pair.destroy()")
    page.evaluate("document.getElementById('a').scrollTop = 0")
    page.wait_for_timeout(100)
    assert page.evaluate("document.getElementById('b').scrollTop") > 0  # listeners are gone


def test_overlay_shows_a_keyboard_slider_over_both_images(page):
    controls = pair(page, render_content({"image": png_b64()}), render_content({"image": png_b64(colour=(0, 0, 255))}))
    assert controls == {"hasDiff": False, "hasOverlay": True}
    assert page.locator("input[type=range]").count() == 0
    assert page.evaluate("window.pair.toggleOverlay()") is True
    slider = page.locator("#a input[type=range]")
    assert slider.is_visible() and page.locator("#a .overlay-stack img").count() == 2
    slider.focus()
    page.keyboard.press("ArrowRight")
    assert slider.input_value() == "51"
    assert page.eval_on_selector("#a img.overlay-b", "img => img.style.clipPath") == "inset(0px 0px 0px 51%)"
    assert page.evaluate("window.pair.toggleOverlay()") is False
    assert page.locator("input[type=range]").count() == 0 and page.locator("#b img.zoomable").count() == 1


def test_clicking_an_image_or_the_zoom_key_toggles_zoom(page):
    render(page, "a", render_content({"image": png_b64()}))
    page.wait_for_function("document.querySelector('#a img').classList.contains('pixelated')")
    page.click("#a img.zoomable")
    assert "zoomed" in page.get_attribute("#a .zoom-box", "class")
    assert page.evaluate("SignoffRender.toggleZoom(document.getElementById('a'))") is False
    assert "zoomed" not in page.get_attribute("#a .zoom-box", "class")


def test_nothing_scrolls_the_page_sideways_at_1280x720(page):
    wide = "x" * 3000
    render(page, "a", render_content({"prompt": wide, "code": "y = '" + wide + "'", "n": 1}, "code"))
    render(page, "b", render_content([{f"column {i}": wide[:80] for i in range(30)}] * 5))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    render(page, "a", render_content(f"| {wide} |\n|---|\n| {wide} |\n\n```\n{wide}\n```\n\n{wide}", "markdown"))
    render(page, "b", render_content({"image": png_b64(size=(3000, 40))}))
    page.wait_for_function("document.querySelector('#b img').complete")
    page.click("#b img.zoomable")
    render(page, "a", render_content({"k": [wide, {"deep": wide}]}))
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
