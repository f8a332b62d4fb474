"""Messages as statuses: numbered options, and long text split to fit."""

from __future__ import annotations

from adapters.mastodon.render import message_text, split_status, status_length
from channels.events import OutboundMessage


def test_options_become_a_numbered_list() -> None:
    message = OutboundMessage(text="Which best describes you?", options=("Patient", "Carer"))
    assert message_text(message) == (
        "Which best describes you?\n\n1. Patient\n2. Carer\n\nReply with a number."
    )
    several = OutboundMessage(text="Pick", options=("A", "B"), multiple=True)
    assert message_text(several).endswith("separated by commas.")
    assert message_text(OutboundMessage(text="Thanks")) == "Thanks"


def test_urls_and_remote_handles_count_as_mastodon_counts_them() -> None:
    assert status_length("see https://example.org/" + "a" * 100) == 4 + 23
    assert status_length("@bob@example.social hi") == len("@bob hi")


def test_long_text_is_split_into_statuses_that_fit() -> None:
    text = "\n\n".join(f"Paragraph {n}. " + "word " * 40 for n in range(5))
    chunks = split_status(text, prefix="@carol ", limit=300)
    assert len(chunks) > 1
    assert all(c.startswith("@carol ") and status_length(c) <= 300 for c in chunks)
    assert " ".join(c.removeprefix("@carol ") for c in chunks).split() == text.split()


def test_a_short_text_is_one_status() -> None:
    assert split_status("Hello", prefix="@carol ", limit=500) == ["@carol Hello"]


def test_an_unbroken_word_is_cut() -> None:
    chunks = split_status("x" * 100, prefix="@c ", limit=40)
    assert "".join(c.removeprefix("@c ") for c in chunks) == "x" * 100
    assert all(len(c) <= 40 for c in chunks)
