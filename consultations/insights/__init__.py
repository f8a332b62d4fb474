"""Insights: turning replies into evidence for each Plan-Do-Study-Act stage.

Intake calls :func:`analyse_text` once per free-text reply and stores
:meth:`TextAnalysis.to_json` with it. Reports call :func:`build_report` with the spec,
the response rows (carrying their stored analyses), poll totals, funnel counts and any
earlier cycles, then one of the renderers.
"""

from consultations.insights.codebook import (
    Codebook,
    CodebookCategory,
    CodebookError,
    default_codebook,
    load_codebook,
    parse_codebook,
)
from consultations.insights.records import (
    ChangeMarker,
    CycleResult,
    FunnelCounts,
    PollTotal,
    ResponseRow,
    SpecLike,
)
from consultations.insights.render import (
    CSV_COLUMNS,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)
from consultations.insights.report import build_report, summarise_cycle
from consultations.insights.stats import difference_interval, p_chart_limits, wilson_interval
from consultations.insights.text import ANALYSIS_VERSION, TextAnalysis, analyse_text

__all__ = [
    "ANALYSIS_VERSION",
    "CSV_COLUMNS",
    "ChangeMarker",
    "Codebook",
    "CodebookCategory",
    "CodebookError",
    "CycleResult",
    "FunnelCounts",
    "PollTotal",
    "ResponseRow",
    "SpecLike",
    "TextAnalysis",
    "analyse_text",
    "build_report",
    "default_codebook",
    "difference_interval",
    "load_codebook",
    "p_chart_limits",
    "parse_codebook",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "summarise_cycle",
    "wilson_interval",
]
