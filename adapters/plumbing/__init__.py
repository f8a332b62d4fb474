"""Plumbing every channel adapter needs, written once.

* :mod:`.timing`: the injected clock and sleep, and a stop-aware pause;
* :mod:`.intake`: the intake loop with backoff, periodic work, a saved cursor;
* :mod:`.sending`: resuming a message sent in several parts, keyed by the outbox row;
* :mod:`.launch`: launch-time retries and the words of launch and closing posts;
* :mod:`.text`: splitting and shortening text under a platform's own length count.
"""
