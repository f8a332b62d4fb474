"""Every built-in word participants see in statement voting, in one place.

Kept together (and free of logic) so they can move into message catalogues for
translation as they are: each entry is a plain ``str.format`` template whose fields are
named in the comment beside it.
"""

from __future__ import annotations

#: The three answers, as button labels and in the order buttons and numbers use.
VOTE_LABELS = ("Agree", "Disagree", "Pass")

TEXTS: dict[str, str] = {
    # {item}: the item's question; {statement}: the statement to vote on.
    "vote": "{item}\n\nDo you agree with this statement?\n\n“{statement}”",
    # Under a statement where people answer by typing (Mastodon direct messages).
    "vote_words": "Reply AGREE, DISAGREE or PASS. Or write a statement of your own.",
    # Under a statement where people answer with buttons (Telegram).
    "vote_buttons": "Choose below, or write a statement of your own.",
    # {item}: the item's question. Asked when nothing is left to vote on.
    "add": (
        "{item}\n\nYou have voted on every statement for now. Write a statement of your "
        "own (one short idea), or send DONE to go on."
    ),
    "add_first": (
        "{item}\n\nThere are no statements to vote on yet. Write one of your own "
        "(one short idea), or send DONE to go on."
    ),
    "added": "Thank you: your statement is now shown to others to vote on.",
    "queued": "Thank you: your statement will be shown to others once a moderator has read it.",
    "held": "Thank you. A person will read your statement before anything more happens with it.",
    # {existing}: the statement already there.
    "duplicate": (
        "Someone has already said something very like this: “{existing}”. "
        "Please vote on it instead, or write a different idea."
    ),
    "duplicate_own": "You have already added a statement very like this one.",
    # {limit}: the most characters allowed; {length}: how many were sent.
    "too_long": (
        "Please keep a statement to {limit} characters or fewer (one short idea); "
        "yours has {length}."
    ),
    "not_votable": "That statement is no longer open for votes. Here is another.",
    # The post made for a statements item in public places (groups, public statuses).
    "invite": (
        "People add short statements and vote agree, disagree or pass on each other's. "
        "To take part, send us a private (direct) message: we will show you the "
        "statements one at a time."
    ),
    # The web page.
    "web_heading": "Do you agree with this statement?",
    "web_none": (
        "You have voted on every statement so far. New ones may come: please look again later."
    ),
    "web_add": "Add a statement of your own (one short idea)",
    "web_add_button": "Add my statement",
    "web_voted": "Thank you: your vote is counted.",
}

#: Words that end the statements step in a conversation (after "send DONE").
DONE_WORDS = frozenset(
    {"done", "/done", "skip", "next", "no", "nothing", "no thanks", "finish", "finished"}
)
#: Typed answers to a statement, by vote (numbers follow VOTE_LABELS).
VOTE_WORDS: dict[str, frozenset[str]] = {
    "agree": frozenset({"agree", "i agree", "a", "yes", "y", "1", "+1", "👍"}),
    "disagree": frozenset({"disagree", "i disagree", "d", "no", "n", "2", "-1", "👎"}),
    "pass": frozenset({"pass", "p", "skip", "3", "0", "unsure", "not sure", "don't know"}),
}


def text(key: str, **fields: object) -> str:
    """The built-in text ``key`` with its fields filled in."""
    return TEXTS[key].format(**fields)
