"""The HTML report comes from an autoescaped template: report text stays text."""

from __future__ import annotations

import copy
import re
from typing import Any

from consultations.insights import render_html
from tests.insights.test_insights_report import report

SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"


def test_html_report_escapes_titles_labels_and_quotes() -> None:
    r: dict[str, Any] = copy.deepcopy(report(stage="act"))
    r["consultation"]["title"] = "Booking " + SCRIPT
    r["consultation"]["organisation"] = 'Health "&" co'
    r["themes"][0]["label"] = "Theme " + SCRIPT
    r["themes"][0]["quotes"] = ["They said " + SCRIPT]
    r["polls"][0]["options"][0]["label"] = "Option " + SCRIPT

    html = render_html(r)

    assert "<script" not in html
    assert f"<title>Booking {ESCAPED}: act report</title>" in html
    assert f"<h1>Booking {ESCAPED}</h1>" in html
    assert "Health &#34;&amp;&#34; co" in html
    assert f"<h3>Theme {ESCAPED}</h3>" in html
    assert f"<blockquote>They said {ESCAPED}</blockquote>" in html
    assert f"<td>Option {ESCAPED}</td>" in html
    # Charts are markup of their own, and escape the labels they draw.
    assert html.count("<svg") >= 2
    assert re.search(r"<text [^>]*>Option &lt;script&gt;", html)


def test_stage_summary_keeps_its_structure() -> None:
    html = render_html(report(stage="act"))
    assert "<h2>Act stage summary</h2>" in html
    assert re.search(r"<pre>Thank you to the \d+ people", html)
    assert "<ul>\n<li>" in html and "**" not in html
