"""CSV cells that a spreadsheet will not run as formulas.

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets ("CSV injection"); a participant could
write one on purpose. Such cells get a leading apostrophe, which spreadsheets show as
text (OWASP, "CSV Injection").
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """The cell as text a spreadsheet will not evaluate; numbers and empty cells unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
