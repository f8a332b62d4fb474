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


# Families added with tune batches 24 and 25, each beside look-alikes that share its words.
@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Threats to staff and partners said indirectly or in slang.
        ("if the receptionist hangs up on me again i'll break his nose", "harm-to-others"),
        ("I'll snap her neck if she talks to my kids like that again", "harm-to-others"),
        (
            "It'd be a real shame if something happened to that nurse on her way home.",
            "harm-to-others",
        ),
        (
            "That manager is going to have a little accident on the stairs, I'll make sure of it.",
            "harm-to-others",
        ),
        ("I'm swinging for the next doctor who tells me it's anxiety", "harm-to-others"),
        ("ill knock him spark out if he comes near me again", "harm-to-others"),
        ("I'm going to track down every last one of them.", "harm-to-others"),
        ("im gonna torch the place with them all inside", "harm-to-others"),
        ("he won't know what hit him when I get out", "harm-to-others"),
        ("gonna b*rn the surgery down", "harm-to-others"),
        # Understated ideation and plans, attempts told by what was swallowed.
        ("I keep wanting to be dead", "suicidal-active"),
        ("got my exit all planned, dont worry bout me", "suicidal-active"),
        ("I've planned my way out for after christmas", "suicidal-active"),
        ("gonna make it look like an accident so mum gets the insurance", "plan-means"),
        ("nobody would question a crash on that bend", "plan-means"),
        ("swallowed a week's worth of my lithium last year", "past-attempt"),
        ("I once swallowed a whole strip of them on purpose", "past-attempt"),
        ("came so close to not making it last year after I took everything", "past-attempt"),
        # Self-harm by an object named with "punishing", depth slang, a streak broken.
        ("punishing myself with the lighter again", "self-harm"),
        ("hit styro last night and had to hide it", "self-harm"),
        ("broke my sh streak after 90 days", "self-harm"),
        ("not the self harm era again, did it after school", "self-harm"),
        # A hedge is not a denial; laughter after a serious cause cancels nothing.
        (
            "not saying i want to die or anything but i don't see the point anymore",
            "suicidal-active",
        ),
        ("everything is so bad i want to die lol", "suicidal-active"),
        # A nurse worried about a patient in her care reports a real person.
        (
            "As a practice nurse I'm worried about a patient who told me he is hoarding insulin.",
            "third-party",
        ),
    ],
)
def test_disclosure_families_of_tune_batches_24_and_25(text: str, category: str) -> None:
    assert category in _categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "I broke my nose playing rugby",
        "I'll break the news to her gently",
        "I'd murder someone for a bacon roll right now",
        "it would be a shame if something happened to the service, it's brilliant",
        "my nan would turn in her grave seeing this ward",
        "I'm going to thank every one of them.",
        "I've planned my exit from the NHS, retiring next year",
        "I swallowed a fly on purpose as a kid lol",
        "came close to not making it after the sepsis, ICU were amazing",
        "we nearly weren't here in time for the scan",
        "punishing myself at the gym three times a week",
        "down to beans and chips by friday, budget life",
        "broke my duolingo streak",
        "the midwife will swing by to see her tomorrow",
        "The anaesthetist said the drugs will knock him out for an hour",
        "The new GP is dead helpful and dead friendly",
        "if the physio makes me do one more squat i'll die",
        # Jokes marked by laughter after a trivial cause.
        "wifi on ward 3 is so slow i want to die lol",
        "if the telly doesn't get fixed my dad's gonna murder someone lmao",
        "kms every time i die to the final boss",
        "I joked that I'd kill him if he ate my chips again",
        # Clear denials.
        "i'm not suicidal or anything, just stressed about money",
        "I'm not one of those lads about to top himself, I just want my back sorted.",
        "Intrusive thoughts about hurting my son again, but I know it's OCD. Never acted on them.",
        # Reading, media and what a word means.
        "my daughter asked what self harm means",
        "that book club pick had a self-harm chapter that was heavy going",
        "A character in the soap overdosed and my son had questions.",
        "The man with dementia who wanted to die in the film was played brilliantly.",
        "Domestic abuse screening questions should be asked when partners are out of the room.",
        "came off my bike on the school run, cut my leg open on the kerb",
    ],
)
def test_look_alikes_of_tune_batches_24_and_25_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Sleep for a long time (or forever) and not come back or wake.
        ("honestly i'd like to drift off to sleep for ages and never wake up", "suicidal-passive"),
        ("Some nights I just want to go to sleep and not come back.", "suicidal-passive"),
        ("want to sleep forever and not wake up tbh", "suicidal-passive"),
        # Water and a weight; swimming out and not coming back.
        ("I keep thinking about filling my coat pockets with stones at the weir.", "plan-means"),
        ("thinking i'll just swim out and not come back this time", "plan-means"),
        # Off a bridge or a roof on purpose; my attempt; after i did what i did.
        ("I went off the flyover last winter, it was on purpose.", "past-attempt"),
        ("Since my attempt in May nobody from the team has called.", "past-attempt"),
        ("The paramedic who sat with me after I did what I did was lovely.", "past-attempt"),
        ("the GP doesn't know about what I tried to do to myself at Christmas", "past-attempt"),
        # An overdose whose clause names a glass of water, not an accident.
        (
            "Sat in the corridor after taking an overdose and nobody brought me a glass of water.",
            "past-attempt",
        ),
        # Something hot held on the skin; an accident the writer says was none.
        ("I've been holding a lighter to my arm when it gets bad.", "self-harm"),
        ("Stubbing cigs out on my own thigh again.", "self-harm"),
        (
            "I keep burning myself on the hob. Mum thinks I'm clumsy. I'm not.",
            "self-harm",
        ),
        # A weapon, slang for a beating, arrangements, turning up where someone works.
        ("I'll belt that bloke with a cricket bat if he comes near her", "harm-to-others"),
        ("swear down i'm gonna flog him proper when he gets out", "harm-to-others"),
        (
            "Let's just say the neighbour won't be a problem for much longer.",
            "harm-to-others",
        ),
        (
            "I'll find out where that GP lives and turn up at his door.",
            "harm-to-others",
        ),
        ("tell your manager I know where he lives", "harm-to-others"),
        # Scots beating and fear; a child who flinches at a lifted hand.
        ("Ma maw's been leathering us again", "safeguarding"),
        ("I'm feart o him when he drinks", "safeguarding"),
        (
            "My grandson flinches every time his stepdad raises his hand.",
            "safeguarding",
        ),
        # Someone not answering whose last words named a place or the children.
        (
            "My brother isn't answering. The last thing he texted was that he'd be at the cliffs.",
            "third-party",
        ),
        ("ending it tnite", "suicidal-active"),
    ],
)
def test_disclosure_families_of_tune_batches_26_and_27(text: str, category: str) -> None:
    # Someone else's risk is reported as third-party and keeps its own category beneath.
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        "I could go to sleep now and not wake up until Monday, what a week.",
        "The kids came back with their pockets full of stones from the beach.",
        "Came home with my pockets full of rocks from the beach, Mum was not impressed.",
        "We swam out to the pontoon and back, the lifeguards were great.",
        "My first attempt at the driving test went badly.",
        "After my attempt to book online failed I rang instead.",
        "After I did what I did to my knee at football the physio was brilliant.",
        "I burnt my arm on the iron by accident, the minor injuries unit dressed it.",
        "I accidentally took a double dose of my tablets, the pharmacist told me what to do.",
        "I'm going to flog him my old car, he needs one for work.",
        "I'll help him with the bat, he wants to try cricket.",
        "My ex won't be bothering us again after the court order.",
        "I know where your office is, I'll drop the forms in.",
        "The rescue dog flinches when I raise my hand, we're working with a trainer.",
        "My son flinched when the nurse put the needle in.",
        "Mum's not answering, the last thing she said was she was going to bingo.",
        "The last thing she said to me was that she loved me, before she passed.",
        "My grandmother attempted suicide in the 1950s; care is kinder now.",
        "someone on corrie took an overdose last night and mum had questions",
        "Because I'm a carer people assume I'm about to crack up. I'm not, I'm fine.",
        "They think I'm a danger to myself because of my file. I'm not.",
        "Nurse here. A patient threatened us on Friday, security dealt with it.",
        "As a youth worker I hear about self-harm most weeks.",
        "Half my caseload have histories of self-harm.",
        "In induction we covered what to do if a patient says they want to die.",
        "I'll shoot you an email about the referral.",
        "The wifi dropped just as I was about to kill the boss.",
        "How do I delete myself from the mailing list?",
    ],
)
def test_look_alikes_of_tune_batches_26_and_27_set_aside(text: str) -> None:
    assert _categories(text) == set()
