"""The web dashboard at ``/dashboard``: consultations, counts, reports, moderation.

Server-rendered HTML that works without JavaScript. Accounts are added and managed
with ``engage user`` or on the Accounts page (:mod:`bot.web.accounts`); roles decide
what each person may see and do (:mod:`bot.web.auth`).
"""

from bot.web.dashboard.handlers import Dashboard

__all__ = ["Dashboard"]
