"""Whether a reply suggests a change: the "Ideas" a QI lead can act on.

A suggestion says what people want done differently: "should", "could you", "it would
help if", "please add", "I wish", an instruction to the service ("answer the phone"),
"more X", "need to". Praise that happens to use the same words ("I would recommend
this service", "couldn't ask for more", "keep up the good work", "staff should be proud")
is not a suggestion, and neither is a complaint that asks for nothing.

The rules read one clause at a time, so "Lovely staff. Parking needs sorting out" counts
while "Nothing could be improved" does not. Measured on the labelled replies in
``tests/data/insights/suggestions.jsonl`` by ``bench/insights_quality.py --suggestions``.
"""

from __future__ import annotations

import re

# "\bbut\b" written as "b(?<!\wb)ut\b" (the same matches): its first letter is tried before
# the word boundary, which makes the split about twice as fast.
_CLAUSE = re.compile(r"[.!?;\n]+|\s+-\s+|b(?<!\wb)ut\b|h(?<!\wh)owever\b|a(?<!\wa)lthough\b")

#: Verbs that open an instruction to the service ("Fix the lift", "Offer video calls").
_IMPERATIVES = (
    "add allow answer arrange ask avoid bring change check clean consider continue do employ "
    "encourage ensure explain extend fix follow get give have hire improve include increase "
    "inform install introduce involve keep let listen look make move offer open organise "
    "phone plan provide put reduce remember replace review ring send show sort speed start "
    "stop supply take talk tell text train try update use"
)
_IMPERATIVE = re.compile(
    r"^(?:(?:and|so|just|maybe|perhaps|also|please|simply|only suggestion|my suggestion|"
    r"suggestion|idea)\s+)*(?:" + "|".join(_IMPERATIVES.split()) + r")\b"
)
#: A clause that starts with a comparative names what people want more or less of.
_WANT_MORE = re.compile(
    r"^(?:(?:and|just|maybe|perhaps|also|definitely|a bit|a little)\s+)*"
    r"(?:more|less|fewer|better|extra|longer|shorter|earlier|later|quicker|faster|"
    r"clearer|greater|improved|additional|cheaper|easier|smaller|bigger|proper)\b"
)
_CUES = re.compile(
    r"\b(?:"
    r"should(?:n't| not)?|ought to|"
    r"could (?:you|we|they|staff|someone|there|the|do with|have been|also|maybe|perhaps)|"
    r"could be (?:a bit |much |a little |made )?(?:\w+er|more|less|improved|done|given|offered|"
    r"provided|available)|"
    r"can (?:you|we|they|staff|someone|there)\b(?! (?:not|never))|"
    r"(?:you|they|we|staff|team|service|clinic|group|ward|someone|nurses|doctors) could \w+|"
    r"^(?:maybe|perhaps) (?:a|an|some|more|the|having|if)|"
    r"would (?:help|be|make|have helped|have been|appreciate|prefer|like|love|of|benefit)|"
    r"i'?d (?:like|prefer|love|appreciate|suggest)|"
    r"please|wish|if only|why not|why (?:can't|cannot|don't|isn't|aren't)|how about|what about|"
    r"suggest\w*|a good idea|"
    r"needs? (?:to|more|a|an|some|better|proper|extra|sorting|fixing|improving|looking)|"
    r"there needs|"
    r"instead of|rather than|"
    r"it would|would of"
    r")\b"
)
# Praise and thanks that borrow a suggestion's words.
_PRAISE = re.compile(
    r"\b(?:"
    r"(?:would|will|could|can|'d|do|highly|totally|definitely) (?:\w+ )?recommend|"
    r"keep (?:up|it up|doing|being|going|on doing)|carry on|"
    r"more than (?:happy|satisfied|pleased)|"
    r"(?:couldn't|could not|can't|cannot|nothing|no one|nobody|noone) "
    r"(?:\w+ ){0,3}(?:better|more|fault|improve\w*|ask for|done|wish for)|"
    r"could(?:n't| not) have (?:\w+ )?(?:been|done|asked|wished)|"
    r"should be (?:\w+ )?(?:proud|commended|praised|thanked|congratulated|applauded)|"
    r"need to (?:say|thank)|wish to (?:say|thank|express|extend|pass)|fault|"
    r"wish (?:i|we) (?:had|could have) (?:\w+ )?(?:found|known|come|been referred)|"
    r"(?:best|good) wishes|wish (?:you|them|everyone|the team) (?:all )?(?:the best|well|luck)|"
    r"no need|nothing (?:needs|to|should|could)|please (?:keep|continue)|"
    r"pleased"
    r")\b"
)


def clauses(text: str) -> list[str]:
    """The reply in lower case, cut into clauses at sentence ends and "but"."""
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return [c.strip(" ,:-*\"'()") for c in _CLAUSE.split(lowered) if c and c.strip()]


def is_suggestion(text: str) -> bool:
    """Whether any clause of ``text`` asks for a change and is not praise in disguise."""
    # Any way of asking for a change: the first two only where the clause starts.
    return any(
        (_IMPERATIVE.match(c) or _WANT_MORE.match(c) or _CUES.search(c)) and not _PRAISE.search(c)
        for c in clauses(text)
    )
