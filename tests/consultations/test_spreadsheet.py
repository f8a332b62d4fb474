"""CSV cells that a spreadsheet would run as formulas are made inert, in every CSV."""

from __future__ import annotations

import csv
import io

import pytest

from bot.platform import Platform
from consultations import records, reporting
from consultations.insights.render import render_csv
from consultations.spreadsheet import inert
from tests.fakes.channel import Person
from tests.helpers import launch, spec_data

FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_formula_cells_get_an_apostrophe(cell: str) -> None:
    assert inert(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Plain words", "", "a=b", "3 hours", 4, None, -0.5])
def test_other_cells_are_left_alone(cell: object) -> None:
    assert inert(cell) == cell


async def test_exports_and_report_csv_hold_no_live_formula(platform: Platform) -> None:
    await launch(platform, spec_data(channels=["web", "telegram"], segments=[]))
    person = Person("4545")
    for event in (
        person.starts("outpatient-booking"),
        person.answers("@consent", "Yes, I agree"),
        person.answers("@recontact", "No, please don't"),
        person.answers("ease", "Easy"),
        person.says('=HYPERLINK("http://example.org","click")'),
    ):
        await platform.inbox.receive(event)
        await platform.inbox.process_pending()
    out = io.StringIO()
    async with platform.sessionmaker() as session:
        await records.write_export(session, "outpatient-booking", out, "csv")
        report = await reporting.build(session, "outpatient-booking", include_responses=True)
    for text in (out.getvalue(), render_csv(report)):
        cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
        assert any(cell.startswith("'=HYPERLINK") for cell in cells)
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
