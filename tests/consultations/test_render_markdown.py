"""Text in Markdown reports: inert, and readable as written."""

from __future__ import annotations

import pytest

from consultations.insights.render import md_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # A plain ampersand reads as itself in Markdown: left as the person wrote it.
        ("help & we feel relaxed", "help & we feel relaxed"),
        ("A&E was busy", "A&E was busy"),
        # One that would start a character reference is escaped, so it shows as typed.
        ("they wrote &amp; and &#38; here", "they wrote &amp;amp; and &amp;\\#38; here"),
        ("&nbsp;", "&amp;nbsp;"),
        # No raw HTML, autolinks or block quotes.
        ("<b>bold</b> <https://x.example>", "&lt;b&gt;bold&lt;/b&gt; &lt;https://x.example&gt;"),
        ("> not a quote", "&gt; not a quote"),
        # Markdown's own marks are backslash-escaped.
        ("[name] *very* good | ok", "\\[name\\] \\*very\\* good \\| ok"),
        ("- not a list item", "\\- not a list item"),
    ],
)
def test_text_is_inert_and_reads_as_written(text: str, shown: str) -> None:
    assert md_text(text) == shown
