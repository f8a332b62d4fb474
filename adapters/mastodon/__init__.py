"""The Mastodon channel: launch threads with native polls, replies, mentions and DMs.

Mastodon.py is a blocking client, so every call runs in a worker thread
(``asyncio.to_thread``) with a timeout, paced under the account's request budget
(:mod:`adapters.mastodon.pacing`). Statuses and notifications become core events at the
edge (:mod:`adapters.mastodon.convert`); the core's messages are rendered as statuses by
:mod:`adapters.mastodon.render`; the instance's own limits are read by
:mod:`adapters.mastodon.limits`.
"""
