"""The HTML report's "Expand shown" on many flows: marked open at once, drawn near the viewport first, then all."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser
from test_report_html import browser, open_report, outline_row  # noqa: F401 (the module-scoped browser fixture)

from aitest_bdd.report.html import render_html
from aitest_bdd.results.schema import RunResults

# In one task: click "Expand shown", then count the flows marked open and those already drawn.
EXPAND = """() => {
  document.getElementById("expand").click();
  const heads = [...document.querySelectorAll("#list > .entry > .head")];
  const open = heads.filter((head) => head.getAttribute("aria-expanded") === "true" && !head.nextElementSibling.hidden);
  return {
    shown: heads.length,
    open: open.length,
    drawn: document.querySelectorAll("#list > .entry > .body > .flow").length,
  };
}"""


def test_expand_shown_marks_every_flow_open_and_draws_them_without_one_long_task(
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    tests = [outline_row(f"model-{n % 3}", n % 7 != 0) for n in range(400)]
    for n, test in enumerate(tests):
        test.nodeid += str(n)
    path = tmp_path / "many.html"
    path.write_text(render_html(RunResults(tests=tests)), encoding="utf-8")
    page = open_report(browser, path)
    page.click("#more")
    counts = page.evaluate(EXPAND)
    assert counts["shown"] == counts["open"] == 400
    assert counts["drawn"] < 400
    first = page.locator("#list > .entry").first
    last = page.locator("#list > .entry").last
    last.scroll_into_view_if_needed()
    assert "Savings balance?" in last.locator(".body .timeline .turn").inner_text()
    assert "Savings balance?" in first.locator(".body .timeline .turn").inner_text()
    page.wait_for_function("document.querySelectorAll('#list > .entry > .body > .flow').length === 400")
    page.click("#collapse")
    assert page.locator("#list > .entry > .head[aria-expanded=true]").count() == 0
    assert page.locator("#list > .entry > .body:not([hidden])").count() == 0
    page.context.close()
