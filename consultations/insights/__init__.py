"""Insights: turning replies into evidence for each Plan-Do-Study-Act stage.

Intake calls :func:`analyse_text` once per free-text reply and stores
:meth:`TextAnalysis.to_json` with it. Reports call :func:`build_report` with the spec,
the response rows (carrying their stored analyses), poll totals, funnel counts and any
earlier cycles, then one of the renderers.
"""

import importlib
from typing import TYPE_CHECKING, Any

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
from consultations.insights.text import ANALYSIS_VERSION, TextAnalysis, analyse_text

# Reports, renderers and statistics load scipy and the opinion maps (most of a second):
# loaded when first named, so a process that only analyses replies at intake (the web
# and chat workers, the import's second process) never pays for them.
_LATER = {
    "CSV_COLUMNS": "render",
    "render_csv": "render",
    "render_html": "render",
    "render_json": "render",
    "render_markdown": "render",
    "build_report": "report",
    "summarise_cycle": "report",
    "difference_interval": "stats",
    "p_chart_limits": "stats",
    "wilson_interval": "stats",
}


def __getattr__(name: str) -> Any:
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


if TYPE_CHECKING:
    from consultations.insights.render import (
        CSV_COLUMNS,
        render_csv,
        render_html,
        render_json,
        render_markdown,
    )
    from consultations.insights.report import build_report, summarise_cycle
    from consultations.insights.stats import (
        difference_interval,
        p_chart_limits,
        wilson_interval,
    )

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
