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


def test_markdown_report_escapes_html_and_markdown_in_report_text() -> None:
    from consultations.insights import render_markdown

    r: dict[str, Any] = copy.deepcopy(report(stage="plan"))
    r["consultation"]["title"] = "# Booking | " + SCRIPT
    r["themes"][0]["label"] = "Theme | `code` " + SCRIPT
    r["themes"][0]["quotes"] = ["- They | said\n## " + SCRIPT]
    r["polls"][0]["question"] = "Poll | " + SCRIPT
    r["polls"][0]["options"][0]["label"] = "Option | " + SCRIPT
    seg = r["participation"]["by_segment"]["role"]
    seg["options"] = {"Group | " + SCRIPT: 7, **seg["options"]}

    md = render_markdown(r)

    assert "<script" not in md and "&lt;script&gt;" in md
    assert md.startswith("# \\# Booking \\| &lt;script&gt;")
    assert "> \\- They \\| said \\#\\# &lt;script&gt;" in md
    assert "\\`code\\`" in md and "### Theme \\| \\`code\\`" in md
    assert "### Poll \\| &lt;script&gt;" in md
    # Every table row keeps its columns: no unescaped | inside a cell.
    widths: list[int] = []
    for line in [*md.splitlines(), ""]:
        if line.startswith("|"):
            widths.append(len(re.split(r"(?<!\\)\|", line)))
        elif widths:
            assert len(set(widths)) == 1, widths  # every row as wide as its header
            widths = []
    assert "| Option \\| &lt;script&gt;alert('x')&lt;/script&gt; | " in md
    assert "| Group \\| &lt;script&gt;alert('x')&lt;/script&gt; | 7 |" in md
    # Only the report's own headings start lines with #.
    for line in md.splitlines():
        assert not line.startswith("#") or re.match(r"#{1,3} ", line)


def test_option_labels_and_segment_groups_are_marked_with_the_consultations_language() -> None:
    """A Welsh consultation's option labels, segment questions and groups are its own
    words: marked as Welsh on the English report, so a screen reader says them in Welsh;
    the report's own words around them (headers, counts) stay English."""
    r: dict[str, Any] = copy.deepcopy(report())
    r["consultation"]["language"] = "cy"
    html = render_html(r)

    assert '<td lang="cy">Very easy</td><td>' in html  # the poll's counts
    assert '<td lang="cy">Patient</td><td>' in html  # participation by segment
    question = "Which best describes you?"
    assert f'<caption><span lang="cy">{question}</span> (role)</caption>' in html
    assert f'aria-label="{question} (role)"' in html
    # The poll by segment: its caption's question, each group, each option's column.
    assert f'<caption>By <span lang="cy">{question}</span></caption>' in html
    assert f'aria-label="By {question}"' in html
    assert (
        '<th scope="col">Group</th><th scope="col">Answers</th>'
        '<th scope="col" lang="cy">Very easy</th>'
    ) in html
    # Groups hidden for small numbers are named in the consultation's words too.
    assert '(they may be under-represented):</strong> <span lang="cy">' in html

    english = render_html(report())
    assert english.count('lang="') == 1  # <html lang="en"> only


def test_marked_segment_words_are_escaped_in_captions_and_region_names() -> None:
    r: dict[str, Any] = copy.deepcopy(report())
    r["consultation"]["language"] = "cy"
    r["participation"]["by_segment"]["role"]["question"] = "Pa un " + SCRIPT
    html = render_html(r)
    assert "<script" not in html
    assert f'<caption><span lang="cy">Pa un {ESCAPED}</span> (role)</caption>' in html
    assert f'aria-label="Pa un {ESCAPED} (role)"' in html
