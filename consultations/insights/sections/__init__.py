"""The sections of a report, one module each, assembled by :mod:`consultations.insights.report`.

- :mod:`~consultations.insights.sections.participation`: responses and participants by
  channel, day, item and segment, and the consent-to-completion funnel;
- :mod:`~consultations.insights.sections.polls`: poll counts, shares and intervals;
- :mod:`~consultations.insights.sections.free_text`: themes, codebook categories and
  sentiment of free-text replies;
- :mod:`~consultations.insights.sections.cycles`: comparison with earlier cycles and run
  charts;
- :mod:`~consultations.insights.sections.stages`: the plan, do, study and act summaries.
"""

#: Counts below this are hidden in breakdowns by segment (never in whole-item totals).
SMALL_CELL = 5
