"""The Telegram channel: private-chat dialogues, group and forum posts, native polls.

python-telegram-bot (PTB) does the parsing, dispatch and pacing; this package turns its
objects into the core's events at the edge (:mod:`adapters.telegram.convert`) and renders
the core's messages for Telegram (:mod:`adapters.telegram.render`).
"""

from __future__ import annotations

import os

# PTB 22 is moving time periods (``RetryAfter.retry_after`` among them) from int seconds to
# ``datetime.timedelta`` and warns on every read until a program opts in; even constructing
# ``RetryAfter`` reads it. Opt in here, before any PTB object is made, and read timedeltas.
os.environ.setdefault("PTB_TIMEDELTA", "true")
