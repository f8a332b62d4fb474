"""The lexicon's reading of context: negation, quotation, idiom and hyperbole, and the
phrase families for passive ideation, each judged on the lexicon alone."""

from __future__ import annotations

import pytest

from consultations.safety.lexicon import default_lexicon
from consultations.safety.screen import Screen

# Written for these tests, not taken from the evaluation set.
SCREEN = Screen(default_lexicon(), None)


def _categories(text: str) -> set[str]:
    return {hit.category for hit in SCREEN.read(text)[0]}


@pytest.mark.parametrize(
    "text",
    [
        # A negation before its subject ("not once have I"), or a cleft ("not that I").
        "Not once have I thought about ending my life, but the anxiety is constant.",
        "Never have I wanted to kill myself, I just want the pain sorted.",
        "At no point did I want to die, I wanted a bed.",
        "It's not that I want to disappear, I just want a quieter ward at night.",
        "It's not like I want to die or anything, I'm just fed up with the wait.",
        "I never said I wanted to die, I said I wanted help.",
        # A title or quotation named as one.
        "Someone read out a poem called 'I wish I could disappear' and it was beautiful.",
        "The song titled I want to die was playing in the waiting room, odd choice.",
        "'I want to die' is a phrase I hear a lot as a nurse.",
        # Words addressed to "you" (a form, a question) are not the writer's own.
        "The form asked 'have you had thoughts of ending your life?' at a flu jab.",
        # Hyperbole about waits and services.
        "If I have to wait another six hours in A&E I will actually die.",
        "I will literally die if I have to sit in that waiting room again.",
        "The car park was a nightmare, I nearly lost the will to live finding a space.",
        "Waited so long my parking ticket expired and so did my will to live.",
        "I'd sooner jump off a bridge than go back to that dentist.",
        "Honestly I'd be happier if I died than eat that lasagne again.",
        "I'm sick of waking up at 5am to ring the surgery at 8.",
        # Praise.
        "CAMHS literally saved my daughter, she is thriving at college.",
        # Everyday sense of words a disclosure also uses.
        "Nobody would notice if I left the waiting room, they never call names properly.",
        "I don't want to wake up at 6am for a blood test when the clinic opens at 9.",
        "I just want to disappear into bed after a twelve-hour shift.",
        "What's the point of booking online if nobody checks the system?",
        "No point ringing before 8, you just get the recorded message.",
        "I hope the infection gets better soon.",
        "I take all my tablets as prescribed, it's the side effects.",
        "They do not let us eat before the operation.",
        "Everyone would be fine if I went away for the weekend.",
        # Someone else's words in fiction stay set aside.
        "We read a story where the girl says she wants to die.",
    ],
)
def test_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # The negation is undone or does not reach: "not used to" asserts what follows.
        (
            "What I'm not used to is waking up every day wishing I hadn't.",
            "suicidal-passive",
        ),
        ("I'm not saying it's their fault but I want to die.", "suicidal-active"),
        # A quotation cue only where it names the words, not a disclosure that follows.
        ("I want to die is what I keep thinking every night.", "suicidal-active"),
        # Passive ideation said in many ways.
        ("I'm tired. Not sleepy tired, tired of being a person.", "suicidal-passive"),
        ("I am so sick of waking up every day.", "suicidal-passive"),
        ("I would rather be dead than live like this.", "suicidal-passive"),
        ("I'd rather be dead than go back to that ward.", "suicidal-passive"),
        ("I'm exhausted of being me.", "suicidal-passive"),
        ("I'm running out of reasons to stay.", "suicidal-passive"),
        ("Some mornings I wish I just hadn't woken up at all.", "suicidal-passive"),
        ("I don't think I'll be around for much longer.", "suicidal-passive"),
        ("I won't last another month like this.", "suicidal-passive"),
        ("I miss Mum so much and I'm ready to go and be with her.", "suicidal-passive"),
        ("I hope the cancer wins this time.", "suicidal-passive"),
        ("I'm ready to stop fighting.", "suicidal-passive"),
        ("ngl id be fine if a bus took me out", "suicidal-passive"),
        ("lowkey want to get hit by a car", "suicidal-passive"),
        ("I feel like I'm just taking up space.", "suicidal-passive"),
        ("everyone would be better off if I just went quietly", "suicidal-passive"),
        ("my family would be happier once I was gone", "suicidal-passive"),
        ("i just wanna log off permanently", "suicidal-passive"),
        ("Sometimes I think about not being here.", "suicidal-passive"),
        ("I hate being alive.", "suicidal-passive"),
        ("I don't deserve to live.", "suicidal-passive"),
        ("I wish it had been me instead of him.", "suicidal-passive"),
        ("death sounds peaceful tbh", "suicidal-passive"),
        ("I've stopped caring whether I make it to next year.", "suicidal-passive"),
        ("wish i cud just disapear 4 good", "suicidal-passive"),
        ("tired of existin tbh", "suicidal-passive"),
        # Other categories.
        ("i'm so done, considering self deletion", "suicidal-active"),
        ("I kept thinking about walking in front of a car on the way home.", "suicidal-active"),
        ("I was cutting at night and nobody checked.", "self-harm"),
        ("I ended up taking all my tablets last month.", "past-attempt"),
        ("The pharmacist gave me a month of tablets. I've been keeping them.", "plan-means"),
        ("I've sorted out my will and who gets the dog.", "plan-means"),
        ("Mum's new partner makes us stay in our rooms and doesn't let us eat.", "safeguarding"),
        # "his story" on social media is not a story in a book.
        ("My brother posted goodbye everyone on his story.", "third-party"),
        ("My baby's dad gets rough with him when he cries.", "safeguarding"),
    ],
)
def test_disclosure(text: str, category: str) -> None:
    assert category in _categories(text)
