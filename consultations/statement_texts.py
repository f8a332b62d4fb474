"""The words people type or tap in statement voting.

What engage says in statement voting is in the message catalogues
(``consultations/texts``, keys ``statements_*``); this module keeps the answers it reads:
the three votes (typed in English or as 1, 2, 3 in any language) and the words that end
the step.
"""

from __future__ import annotations

#: The three answers, as button labels and in the order buttons and numbers use.
VOTE_LABELS = ("Agree", "Disagree", "Pass")


#: Words that end the statements step in a conversation (after "send DONE").
DONE_WORDS = frozenset(
    {"done", "/done", "skip", "next", "no", "nothing", "no thanks", "finish", "finished"}
)
#: Typed answers to a statement, by vote (numbers follow VOTE_LABELS).
VOTE_WORDS: dict[str, frozenset[str]] = {
    "agree": frozenset(
        {"agree", "i agree", "a", "yes", "y", "1", "+1", "👍", "de acuerdo", "cytuno"}
    ),
    "disagree": frozenset(
        {"disagree", "i disagree", "d", "no", "n", "2", "-1", "👎", "en desacuerdo", "anghytuno"}
    ),
    "pass": frozenset(
        {"pass", "p", "skip", "3", "0", "unsure", "not sure", "don't know", "paso", "pasio"}
    ),
}
