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


# Families added with tune batches 28 and 29, each beside look-alikes that share its words.
@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Dead by a day the writer has decided on; English without "to".
        (
            "Don't bother with the follow-up call. I'll be dead by Sunday, I've made up my mind.",
            "suicidal-active",
        ),
        ("I've decided, I will be dead before Christmas.", "suicidal-active"),
        ("me want die, nobody understand me", "suicidal-active"),
        ("no one listen. me want kill myself", "suicidal-active"),
        # Not bothered about being run over; having given up on or stopped wanting to live.
        (
            "honestly wouldn't be bothered if I got run over by a bus on the way home",
            "suicidal-passive",
        ),
        ("I'm not fussed if I get knocked down by a car tbh", "suicidal-passive"),
        ("I gave up on wanting to live a long time ago", "suicidal-passive"),
        ("stopped wanting to be alive sometime last winter", "suicidal-passive"),
        ("Zero reasons to live at this point", "suicidal-passive"),
        # Someone who talks of joining a person who has died.
        (
            "My dad keeps talking about going to be with my mum. She died in March.",
            "suicidal-passive",
        ),
        ("My husband talks about joining his brother, who died last year.", "suicidal-passive"),
        # Attempts counted as a noun; attempts in learners' and Deaf writers' English.
        ("Four attempts so far and the crisis team still discharge me.", "past-attempt"),
        ("2 attempts, both last year, and nobody followed up", "past-attempt"),
        ("me tried hang last year, brother find me", "past-attempt"),
        # A kit with the thing I use; going home and cutting; cutting anyway; heat on purpose.
        ("There's a pouch in my drawer with steri strips and the thing I use.", "self-harm"),
        ("I go home after school and cut, every day.", "self-harm"),
        ("Told them I'd stop. Cut anyway last night.", "self-harm"),
        ("Been 'accidentally' resting my wrist on the hob again.", "self-harm"),
        ("I leant my arm on the radiator on purpose until it blistered.", "self-harm"),
        # Fists, a belt or hands; a partner who demands where I am; fear shown by others.
        (
            "Her new boyfriend is a bit handy with his fists, the kids are scared of him",
            "safeguarding",
        ),
        ("my stepdad gets too free with his hands when mum's at work", "safeguarding"),
        (
            "my boyfriend kicks off if I don't send him my location every half hour",
            "safeguarding",
        ),
        ("we all walk on eggshells around dad, mum's got a black eye again", "safeguarding"),
        (
            "Mum always wears long sleeves even in the heat and jumps when dad comes in",
            "safeguarding",
        ),
        # Not being able to tell someone is no denial of what follows.
        ("I couldn't tell the GP my partner hits me, he was in the room.", "safeguarding"),
        ("I never told anyone my uncle touched me.", "safeguarding"),
    ],
)
def test_disclosure_families_of_tune_batches_28_and_29(text: str, category: str) -> None:
    # Someone else's risk is reported as third-party and keeps its own category beneath.
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        "I'll be dead by the time they ring back, I've decided to stop waiting by the phone.",
        "If this flu carries on I'll be dead by Friday lol",
        "I've decided I'll be gone by Friday, moving to my sister's.",
        "me want go home, food here not good",
        "I tried to hang the pictures but the drill broke.",
        "I wouldn't be bothered if I got knocked out of the quiz in round one",
        "wouldn't mind if I got taken out for dinner for my birthday",
        "Wouldn't mind if I got flattened by a mountain of paperwork, quicker than this queue",
        "She gave up on wanting to live in London after the rent went up.",
        "I stopped wanting to live near the motorway because of the noise.",
        "She keeps talking about going to join her brother in Australia next year.",
        "My son talks about joining his dad on the building site.",
        "It took three attempts to get the cannula in.",
        "After 4 attempts I finally got through to reception.",
        "My IVF worked after 3 attempts, so grateful.",
        "Five attempts so far to book a smear, the app keeps crashing.",
        "First aid kit in my bag with plasters and the thing I use for splinters.",
        "I go home after work and cut the grass when it's dry.",
        "They cut my hours so I cut back on takeaways.",
        "I accidentally leaned on the hob again, silly me, blister on my palm.",
        "Leaning on the radiator again to warm up, this ward is freezing.",
        "My grandad was handy with his fists in the ring back in the 60s.",
        "He's handy with his hands, fixed the fence in an hour.",
        "My husband goes mental if I don't text him when I land, bless him.",
        "We're all careful not to upset Dad since his stroke, the nurses are lovely.",
        "Mum wears long sleeves in summer because of her eczema.",
        "I can't tell the difference between the two inhalers.",
        # Idioms and jokes with a risk word.
        "Zero complaints, the staff were brilliant.",
        "The lads in the team were all cut up when the manager left.",
        "I'm not holding my breath for the referral letter.",
        "We'll cross that bridge when we come to it, the consultant said.",
        "The suicide doors on the taxi were hard to open with my crutches.",
        "Coach made us do suicide sprints at training, my legs are gone.",
        "Read This Is Going To Hurt on my break, brilliant book.",
        "Two hours in the queue for a repeat prescription, I was losing the will to live lol",
        "I'd rather be dead than drink that bowel prep again haha",
        "I'm going to murder my husband for snoring through the whole night.",
        "If my boss reads this: I was at the dentist, honest.",
        "My sister says she will kill me if I beat her at Monopoly again lol",
        "the stairs in the car park are lethal when it's icy",
        "those electric scooters are lethal on the pavement",
        # Staff telling of a patient they looked after.
        "I'm a practice nurse. A patient who had self-harmed came in for a dressing, very polite.",
    ],
)
def test_look_alikes_of_tune_batches_28_and_29_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Ideation: ending it with a time after "can't do this any more"; a clear result
        # that disappoints; everything stopping, the writer included.
        ("cant do this any more, going to end it 2nite", "suicidal-active"),
        ("I am going to end it this weekend.", "suicidal-active"),
        ("The biopsy came back benign and honestly I was gutted.", "suicidal-passive"),
        ("I was hoping the lump was terminal if I'm truthful.", "suicidal-passive"),
        ("I want it all to end, everything, me included.", "suicidal-passive"),
        # Plans told by their settled parts.
        ("Cat's gone to my neighbour. My note is written. Saturday.", "plan-means"),
        ("The tablets are in the drawer next to my note.", "plan-means"),
        ("I've worked out the when and how, I just need a quiet night.", "plan-means"),
        ("I bought everything I need and picked a day.", "plan-means"),
        # An attempt called leaving early.
        ("Tried checking out early last spring, woke up in resus.", "past-attempt"),
        # Waiting outside to get someone.
        ("I'm going to wait outside the surgery and get that receptionist.", "harm-to-others"),
        # Safeguarding: what someone does to me that I cannot say; papers kept.
        ("He sits in on every call so I can't tell you what he does to me.", "safeguarding"),
        ("The farm boss has our passports and we haven't been paid since March.", "safeguarding"),
        # Someone else: how high a roof is; driving into a lorry.
        ("My flatmate keeps asking how high the roof of our block is.", "third-party"),
        ("Dad texted that he is going to drive into a lorry on the M6.", "third-party"),
        # An "if" after the phrase is not its condition.
        (
            "I've started cutting again and I'm not sure if I'm allowed to tell the nurse.",
            "self-harm",
        ),
        # A clinician telling the writer about the writer is kept.
        ("My GP said I was suicidal and sent me home anyway.", "suicidal-active"),
        # A stranger speaking of a third person may be a report.
        ("A lad in my class posted that tonight's the night and he's sorry.", "plan-means"),
        # Staff worried about one person is a report, not talk about their work.
        (
            "Counsellor here, worried about a client who said she wants to die tonight.",
            "third-party",
        ),
        # A threat the writer makes after naming a film is still the writer's.
        ("Watched a film last night and I want to kill him for what he did.", "harm-to-others"),
    ],
)
def test_disclosure_families_of_tune_batches_30_and_31(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Words quoted from a stranger, a sign or a clinician's saying to "you".
        "A man at the meeting said 'I wanted to die in 2015, now I run marathons'.",
        "The sign in reception says 'You can tell us if you want to kill yourself'.",
        "My physio said 'you'll kill yourself lifting like that' and she was right.",
        "A caller on the radio said her consultant told her we all feel like ending it.",
        # Staff describing how people in their care talk.
        "Therapist here. Young people say they want to die far more than most think.",
        "As a youth worker, the amount of kids saying kms every day is mad.",
        "I work in a prison health team and our self-harm reviews are always late.",
        "As a paramedic I often see someone presents after a suicide attempt at 3am.",
        # Doses, deaths and figures.
        "The lethal dose chart on the ward wall is out of date.",
        "Our town has had four OD deaths this winter, we need more outreach.",
        "Payday loans linked to suicide, says the paper.",
        "How are people at risk of suicide meant to wait 12 weeks?",
        # Media, games and titles.
        "Love the album Suicide Season on my walk to chemo.",
        "That tiktok sound 'i'm gonna unalive myself' is everywhere at the moment.",
        "The series I'm watching has a son who threatens to kill his father.",
        "In the film a man beats his wife, it was hard to watch.",
        "My sim jumped off the roof in the game and my daughter cried laughing.",
        "kept killing myself off the edge of the map lol",
        # Hyperbole and jokes.
        "Nearly killed myself slipping on the wet floor by the lifts.",
        "My battery's about to die, will ring back.",
        "I'll strangle whoever designed this booking form.",
        "Parking is so expensive I want to cry every time I pay.",
        "the queue music is going to make me kill myself 😂",
        "hospital food so bad i wanted to die lol",
    ],
)
def test_look_alikes_of_tune_batches_30_and_31_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Wishing the lights would go out for good; doing it once discharged.
        ("Every night I wish the lights would go out and never come back on.", "suicidal-passive"),
        ("wish my light would switch off for good tbh", "suicidal-passive"),
        ("they think I'm better but I'm doing it as soon as they let me home", "plan-means"),
        ("Going to do it the minute the hospital discharges me.", "plan-means"),
        # Injuries the writer did to themselves; sleeves in the heat with the reason unsaid.
        ("The triage nurse saw the burns I had given myself and just sighed.", "self-harm"),
        ("Wounds I'd made on myself got infected and I was too ashamed to go in.", "self-harm"),
        ("Long sleeves all summer, nobody asks why.", "self-harm"),
        ("long sleeves in 35 degrees. you know why", "self-harm"),
        # "Smoke" as shooting someone; "no cap" is no negation.
        ("no cap im finna smoke that opp when i see him", "harm-to-others"),
        ("I will smoke the guy who jumped my brother", "harm-to-others"),
        # A partner who does not like me talking to staff, friends or family.
        ("She doesn't let me speak to my family on my own.", "safeguarding"),
        ("My boyfriend won't let me talk to the midwife without him there.", "safeguarding"),
        # A negated verb before the phrase is not its negation.
        ("cannot eat want to die", "suicidal-active"),
    ],
)
def test_disclosure_families_of_tune_batches_32_and_33(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # A noise or a hold line, a machine or a receptionist, one more helping, sitting
        # through a video: hyperbole over a trivial cause.
        "The hold music at the dental line on a Monday makes me want to die.",
        "That beeping from the empty bay next to mine was making me want to kill myself.",
        "kms every time the booking system logs me out",
        "if I have to drink one more protein shake I'll off myself lol",
        "I'd rather die than sit through another fire safety module.",
        "My dog will be the death of me, he ate a sock again.",
        # Clinicians' warnings about drink and smoking.
        "The GP said if you carry on smoking like that they will kill you.",
        "Consultant told Dad he would be dead within two years if he does not stop drinking.",
        # Games: a raid or final boss, attempts at a level, a bad pull.
        "we are going to kill the final boss tonight, on at 8",
        "that level of the puzzle game took me 63 attempts",
        "my lad said he'd kill himself cos he lost the ranked match, he's 12 and dramatic",
        # A stranger in the news; a patient's threat on a ward, told by staff or placed.
        "The local paper said a woman jumped from the car park roof, they need fencing.",
        "A man in the next bed threatened to stab the porter, security were brilliant.",
        "Porter here. pt told me he'd kill me this morning, dementia is cruel.",
        "Did a night shift on the mental health unit, a patient tried to hang himself.",
        "One of our patients cut herself with a broken cup, we need safer crockery.",
        # Work and titles: risk assessments, disclosures heard by staff, a poem's subject.
        "I work on an older adults ward and the suicide risk assessments take an hour each.",
        "Youth worker here. We have kids disclosing self-harm and nowhere to refer them.",
        "Our writing class heard a poem about wanting to die, it was moving.",
        # Bereavement after an overdose; medicines to be sorted.
        "rip to my cousin who overdosed last winter, miss you every day",
        "I'm not suicidal, I just want my tablets sorted out before Christmas.",
    ],
)
def test_look_alikes_of_tune_batches_32_and_33_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # A date picked or chosen, by the writer or by someone else.
        (
            "Done waiting for the team. I've got a date picked and I'm at peace with it.",
            "plan-means",
        ),
        ("My brother says he has a date chosen and won't tell me when.", "third-party"),
        # Own arrangements made for after a date, or no need to book anything further.
        ("I've made my own arrangements for after Easter, so no more letters.", "plan-means"),
        ("No need to book my follow-up. I have made my own arrangements.", "plan-means"),
        # A "barcode" that grows or is added to.
        ("my barcode is getting longer every week and no one at college knows", "self-harm"),
        ("added another line to my barcode last night", "self-harm"),
        # Staffing, still read on when it is the writer who will be hurt or will die.
        (
            "We are short staffed again and someone is going to get hurt and it will be me.",
            "harm-to-others",
        ),
        # A trivial cause does not hide a plain disclosure elsewhere in the text.
        (
            "The parking app makes me want to scream. I want to die, I have for months.",
            "suicidal-active",
        ),
        # Being suicidal, said after asking whether one must be.
        ("Do I have to be suicidal to be seen? Because I am.", "suicidal-active"),
    ],
)
def test_disclosure_families_of_tune_batches_34_and_35(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # A trivial cause named before "makes me want to die" or "kms".
        "the self check in kiosk at outpatients makes me wanna kms, it never reads my letter",
        "Our keeper letting in two soft goals made me want to die.",
        "I want to die every time I open the parking charge letter.",
        # Something trivial or good for you that "is going to kill" someone.
        "Dad reckons the hydro exercises are going to kill him, he loves them really.",
        "Those hospital stairs will be the death of me.",
        # Staffing or a closure so thin that someone will die or get hurt.
        "Two nurses for thirty patients on nights, someone is going to die on that ward.",
        "If they close the minor injuries unit people will die waiting for an ambulance.",
        # In-game self-harm words after a game's event.
        "got sniped from across the map again, gonna kms lol",
        "a creeper blew up my whole minecraft base, i want to die",
        # A machine that took my money; an injury that nearly took a limb off myself.
        "the ticket machine in the car park took my money twice",
        "nearly took my thumb off myself with the bread knife, minor injuries were quick",
        "Slipped on the wet floor at work and for a moment thought I'd broken my neck.",
        # A threat over being late; a slogan; asking whether one must be suicidal.
        "Our coach says he'll kill the lot of us if we turn up late to training.",
        "The poster in the GP toilets says suicide is never the answer.",
        "Does someone have to be suicidal to get a CAMHS appointment these days?",
        # Self-harm and suicide as work: watches, leaflets, lessons; what students disclosed.
        "Ward manager here. Self-harm observations every ten minutes with two staff is unsafe.",
        "The school ran a lesson on suicide prevention and my son found it helpful.",
        "Tutor here. Two students disclosed self-harm this year and I had no training.",
    ],
)
def test_look_alikes_of_tune_batches_34_and_35_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # A rest or a sleep of the kind one does not come back from.
        ("I just want a long sleep, the sort you don't wake up from.", "suicidal-passive"),
        ("She keeps saying she needs a rest, one nobody comes back from.", "third-party"),
        # Wishing the boat, the car or the crash had sunk, crashed or killed me.
        ("Honestly I wish the crash had killed me, I can't do this.", "suicidal-passive"),
        ("some days i wish the ferry had gone down with me on it", "suicidal-passive"),
        # A plan said to be locked in, set or sorted.
        ("my exit plan is sorted now, nobody needs to worry about me after friday", "plan-means"),
        ("The plan is in place. I just need the house empty.", "plan-means"),
        # Driving or walking to a quarry, a cliff or a bridge, worked out over weeks.
        (
            "On Sunday I'm going to walk to the cliffs. I've thought it through for weeks.",
            "plan-means",
        ),
        # Going in or down there to batter or stab whoever is on the desk, conditional or not.
        (
            "If they cancel me one more time I'm going to go down there and stab someone.",
            "harm-to-others",
        ),
        ("gonna walk in there and smash the receptionist tomorrow", "harm-to-others"),
        # A cafe guard never hides a plain disclosure without the joke.
        (
            "If the cafe doesn't open soon I'll end it all. Not kidding, I mean it.",
            "suicidal-active",
        ),
    ],
)
def test_disclosure_families_of_tune_batches_36_and_37(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Hyperbole about services: a car park or hold times before wanting to throw myself
        # off something or die, the wifi before "about to kms" with laughter.
        "The car park makes me want to jump off the multi storey, £6 for two hours.",
        "the hold times on the 999 non emergency line make me wanna die lol",
        "college wifi keeps dropping, about to kms lmao",
        "Getting a physio slot round here is a suicide mission.",
        "I'd kill someone for a pharmacy open past six on a Sunday.",
        "I'd rather shoot myself than drive round that car park again.",
        "Pharmacy still hasn't sent my prescription. I'll be dead and buried before it arrives.",
        # Staff about their shifts and their work.
        "Porter here, we are killing ourselves on double shifts for no thanks.",
        "Mental health nurse. I assess teenagers for suicide risk most evenings.",
        "Paramedic, 20 years. So many conversations about wanting to die on night shifts.",
        "Students keep talking about self harm they've seen on TikTok, we need guidance.",
        "In the hospice, patients tell us they want to die and we listen.",
        "Receptionist here. We get threatened at the front desk most weeks.",
        "the rota is so thin someone is going to end up hurting a patient on nights",
        "Can't even write the word suicide in our referral system without an alert.",
        # Reported speech, jokes and medicines.
        "The coach says you'll want to die at the end of the bleep test, he's not wrong.",
        "the canteen lasagne is so bad it counts as self harm",
        "fell into the lava so i had to kill myself to respawn lol",
        "Nan says she'll kill me if I don't tidy my room before she visits.",
        "Hit the treadmill to punish myself for all the mince pies.",
        "If the canteen stops doing chips I'll have to end it all. Kidding!",
        "The leaflet lists suicidal thoughts as a rare side effect of this tablet.",
        "More men die by suicide than in road accidents, the talk said.",
        "The new tablets have me sleeping like the dead, is that normal?",
    ],
)
def test_look_alikes_of_tune_batches_36_and_37_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I have picked the day. I will be dead before the month is out, and I am at peace.",
        "i will be dead before my birthday, i have made my peace with it",
        "I'll be dead before they notice, I've said my goodbyes.",
    ],
)
def test_being_dead_before_a_time_or_with_goodbyes_is_not_the_idiom(text: str) -> None:
    # "I'll be dead before they fix the lift" is hyperbole about a service; dead before a
    # time, or with peace made or goodbyes said, is not: the idiom must leave it for the
    # model to read (masked, the disclosure taught the model that the placeholder means one).
    assert "_idiom_" not in SCREEN.read(text)[1]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # An illness wished to hurry up or win, said with "would"; fine if it won.
        ("Honestly I wish the tumour would get on with it.", "suicidal-passive"),
        ("part of me hopes my copd will just win this year", "suicidal-passive"),
        ("I think I would be relieved if my heart just gave out one night.", "suicidal-passive"),
        ("I would be okay if the cancer won the fight, I've stopped caring.", "suicidal-passive"),
        # Hoping or praying my heart just stops or quits.
        ("Every night I pray my heart stops before morning.", "suicidal-passive"),
        ("lying there hoping my heart would just pack in", "suicidal-passive"),
        # Relieved if I did not come home or wake up.
        ("If the lorry tipped and I didn't make it home, I'd be relieved.", "suicidal-passive"),
        ("if i never woke up part of me would be glad", "suicidal-passive"),
        # A number of pills with a date or a plan; what I need gathered, then rest.
        ("I've saved 60 tablets and a date now.", "plan-means"),
        ("got a box of co-codamol and a plan. not telling anyone", "plan-means"),
        ("Been getting together everything I need, then I can be at peace.", "plan-means"),
        ("I have gathered what I needed, soon it will all be over", "plan-means"),
        # Pills sorted and doing it on a day.
        ("meds are sorted, doing it sunday night", "plan-means"),
        # A will signed that is not for the trip everyone assumes.
        (
            "My will is drawn up now. Mum assumes it's for the flight. It is not for the flight.",
            "plan-means",
        ),
        # A close call or an overdose by my own hand.
        ("Nearly died by my own hand last spring and nobody followed it up.", "past-attempt"),
        ("the overdose, by my own hand, was in 2021", "past-attempt"),
        # Cutting again after a clean spell is a relapse, not recovery.
        ("went back to cutting again after 3 years clean", "self-harm"),
        ("I began hurting myself again after two years clean", "self-harm"),
    ],
)
def test_disclosure_families_of_tune_batches_38_and_39(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Hyperbole: a part of the body that wants to die, a wait, a game, a barrier, the
        # next person who says something, a jingle with laughter.
        "After the 12 hour shift my knees want to die.",
        "I was ready to die by the time we reached the front of the queue at the pharmacy.",
        "killed myself in the ice stage twice lol",
        "I'm going to murder my whole team if they leave me in the lobby again haha",
        "I'll kill the next receptionist who tells me to ring at 8 lol",
        "Kill myself if the ticket machine eats my card again",
        "if i hear the tannoy one more time i am going to jump off the roof lol",
        "This car park is going to make me want to die, £7 for a scan appointment",
        "A lad in my class said I'll kill myself if I fail maths, and everyone laughed.",
        # Staff about their work.
        "Night shift on the ward, and I honestly thought I would kill the site manager.",
        "The GP prescribed me enough morphine to knock out an elephant.",
        "Ambulance crew here, most of our jobs after 2am are self-harm calls.",
        "saw another self harm patient in the minors cubicle, we need more CAMHS",
        "HCA here. A patient's daughter threatened to hurt me on the ward.",
        "Hearing the crews call it just another overdose upsets me.",
        # Reported speech, statistics and forms.
        "The report counted 11 self-inflicted deaths in custody last year.",
        "Four pupils in her class have self-harmed since September, says the head.",
        "Our vicar said the word suicide in his sermon and nobody flinched.",
        "The screening form says: do you have any thoughts of hurting other people?",
        "Talking about suicide does not put the idea into anyone's head.",
        "My grandad says A&E is where old people go to die.",
        "the surgeon told him his drinking would kill him if he kept it up",
        # Medicines, services and everyday words.
        "Why does the leaflet list the lethal dose next to the normal dose?",
        "The side effect leaflet mentions suicidal thoughts, should I worry?",
        "The suicidal feelings page on the website would not load.",
        "Youth club funding cut again, the kids have nowhere to go.",
        "Diabetic nurse said cut down, so I'm cutting my biscuits in half.",
        "nt suicidal, just fed up with waiting",
    ],
)
def test_look_alikes_of_tune_batches_38_and_39_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I've got enough tablets to kill a horse and tonight I'm taking them all.",
        "been cutting my arms again, funding cut again for the clinic too",
        "the surgeon said his liver would kill him, and honestly I want to die too",
        "I want to die by the time I get home tonight",
        "kill myself if the scan comes back bad again",
        "started cutting again after 2 years clean and nobody knows",
    ],
)
def test_guards_of_tune_batches_38_and_39_leave_disclosures_beside_them(text: str) -> None:
    # Each guard names its trivial cause or its work (a horse counted out by a pharmacist, a
    # budget cut again, a liver that will kill him if he keeps drinking, the front of a
    # queue, a ticket machine): the same words with no such cause stay disclosures.
    assert _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Sleep and an alarm clock drawn as emoji; sleeping and not waking in Caribbean
        # English; better off if I was simply gone.
        ("honestly i just want to 😴 and never hear another ⏰ again", "suicidal-passive"),
        ("some nights mi wish mi could sleep an neva wake", "suicidal-passive"),
        ("honestly my kids would be better off if i was simply gone", "suicidal-passive"),
        # Medicine put by with an intent to take it; trains timed at a platform; a place
        # chosen with its height; a plan written as a count of pills.
        (
            "I've built up a supply of my dad's old oxycodone and I'm ready to take it all.",
            "plan-means",
        ),
        ("most mornings I stand on the platform counting the fast trains", "plan-means"),
        ("I've picked the spot already, the tallest car park in town.", "plan-means"),
        ("my plan: tablets x 60 saturday", "plan-means"),
        ("Mi sista a give weh all her tings an seh she soon gone", "plan-means"),
        # Past attempts: "tek" my life, 0d'd, pulled out of the water.
        ("me did try tek me own life last year", "past-attempt"),
        ("i 0d'd twice at uni", "past-attempt"),
        ("I went into the river in March and a passer-by fished me out.", "past-attempt"),
        ("the form has no option for 'I have tried to end my life'", "past-attempt"),
        # Self-harm: fresh ones on the body; hiding what I did to my arms.
        ("new ones up my forearm again tonight", "self-harm"),
        ("long sleeves in July so my mum can't see what I did to my arms", "self-harm"),
        # Threats: a stick to someone's head, catching someone outside, paying one by one.
        (
            "if that consultant cancels again I'll take my walking stick to his head",
            "harm-to-others",
        ),
        ("i'm gonna catch him outside, watch", "harm-to-others"),
        ("the lot of them will pay for this, one by one", "harm-to-others"),
        ("mi a go juk him", "harm-to-others"),
        # Safeguarding: Caribbean threats and beatings, being sold, not feeling safe.
        ("him seh him a go kill mi if mi leave", "safeguarding"),
        ("mi puppa lick mi every time him drunk", "safeguarding"),
        ("her stepdad sells her to older men for money", "safeguarding"),
        (
            "My boyfriend was in the room when the nurse asked. No, I don't feel safe.",
            "safeguarding",
        ),
        ("he klapped me again last night", "safeguarding"),
        # One bad night or call away from ending it.
        ("I'm one bad phone call away from ending it", "suicidal-active"),
    ],
)
def test_disclosure_families_of_tune_batches_40_and_41(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Hyperbole and jokes.
        "Enough to make anyone want to hang themselves, this parking.",
        "if they play that jingle one more time i am walking into the sea",
        "If I have to listen to another automated message I'll throw myself out of the window",
        "the curry was so hot we're all going to die lol",
        "after my night shifts I'm dead to the world till noon",
        "the rope is for the washing line and the pills are vitamins",
        "one more bad shift from ending it with nursing altogether, the rota is a joke",
        "retired last week, I want to sleep and never set an alarm again",
        "set my ⏰ for six and still slept through it, sorry for the missed appointment",
        "I will literally kill myself (I won't) if they stop the Friday fish",
        "lost my ranked game again, going to end it all (uninstalling)",
        "the new portal login is making me want to die, three resets already",
        # Staff about their work.
        "Receptionist here. The amount of I'll kill you we hear at the counter on a Friday.",
        "As a school nurse I sometimes see self-harm scars and refer on.",
        "Audiologist here, some patients tell us the ringing makes them want to end it.",
        "Ambulance crew here. We waited five hours with a woman who'd tried to overdose.",
        # Reported speech, statistics and media.
        "The biggest suicide risk factors for men were in the paper today.",
        "The audit counted patients reporting suicidal thoughts at triage.",
        "Safeguarding referrals about children being neglected are up this year.",
        "Our sermon was on Job, who cursed the day he was born and wished to die.",
        "My daughter is terrified of her jabs, the nurse was lovely with her.",
    ],
)
def test_look_alikes_of_tune_batches_40_and_41_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I'm dead to the world most days and I want to kill myself",
        "I will simply kill myself tonight",
        "I see self-harm scars on my arms every morning and I started again last week",
        "the trains are late again and I want to die",
    ],
)
def test_guards_of_tune_batches_40_and_41_leave_disclosures_beside_them(text: str) -> None:
    # Each guard names its trivial cause, its work or its denial ("dead to the world" as
    # sleep, "(I won't)" after a joke, self-harm scars seen at work): the same words with
    # no such cause stay disclosures.
    assert _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # This time going through with it; "the suicide thing" on the mind again.
        ("this time i'm definitely going through with it, no more talking", "suicidal-active"),
        ("been thinking about the suicide option a lot since christmas", "suicidal-active"),
        # Wanting to be deleted from existence or the simulation.
        ("honestly i just want to be erased from existence", "suicidal-passive"),
        ("some days i wanna be removed from the world like a bad file", "suicidal-passive"),
        # Charcoal and tape; a means ready and a wait until the children are away.
        ("Bought charcoal and duct tape on the way home, it's in the car.", "plan-means"),
        (
            "The rope is in the garage and I am just waiting until my kids are with their nan.",
            "plan-means",
        ),
        # Attempts counted, with the emergency department after them.
        ("I have tried twice this year and both times A&E just sent me home", "past-attempt"),
        # Cutting in a toilet or a bathroom at work or school.
        ("most lunchtimes i go cut in the school toilets and nobody notices", "self-harm"),
        # Threats: through the glass; how brave she is without security; accidents happen.
        (
            "The next receptionist who tells me to ring back at 8 is going through the window.",
            "harm-to-others",
        ),
        ("Let's see how brave he is without the guards next to him.", "harm-to-others"),
        (
            "The foreman has made my life hell since March. Scaffolds are dangerous, "
            "accidents happen.",
            "harm-to-others",
        ),
        # Safeguarding: a partner who will not let me speak to staff, a curfew with
        # trouble, kept off work by my face, particular about who I talk to.
        (
            "My boyfriend sat next to me through the whole scan so I couldn't tell the "
            "nurses anything.",
            "safeguarding",
        ),
        ("My partner is very controlling about who I speak to.", "safeguarding"),
        ("I've got to be back by six or there's hell to pay.", "safeguarding"),
        (
            "I couldn't go to church for two weeks because of the bruises on my face.",
            "safeguarding",
        ),
        (
            "I'm on a friend's phone so he can't see what I send.",
            "safeguarding",
        ),
        # A partner who reads my lock screen or my texts.
        ("Please don't text me reminders, my boyfriend checks my messages.", "safeguarding"),
        # Into the river and pulled out by a passer-by walking a dog.
        ("Walked into the canal in May. Two dog walkers pulled me out.", "past-attempt"),
        # Someone missing whose last message gave away his things; captions.
        (
            "My cousin hasn't come home since Friday and his last text said look after my dog.",
            "third-party",
        ),
        (
            "my best mate keeps posting black screens captioned see you on the other side",
            "third-party",
        ),
    ],
)
def test_disclosure_families_of_tune_batches_42_and_43(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Jokes: a picture hung; a brother and the last jelly; a hit list, joking; snoring;
        # haunting the booking office; a team's loss with laughter; the engine running.
        "Going to hang myself... a big mirror on the bathroom wall, the old one broke lol",
        "If my sister eats my yoghurt again I'll murder her.",
        "The physio is on my hit list, only joking, my knee is loads better.",
        "My husband says if I snore again he'll put a pillow over me. 50 years of it.",
        "I'll haunt that phone line when I'm dead, mark my words.",
        "if rovers get relegated im jumping off the stand roof lol",
        "Keep the engine running love, I'll be back in five minutes.",
        "if i read one more 'be kind' poster at the surgery im gonna kill myself jk",
        # Hyperbole: one more hospital meal; rather die than pay; the sea with a cuppa; a
        # balcony after explaining one more time; would honestly rather.
        "My dad says if he has to eat one more hospital custard he'll kill himself.",
        "I'd rather die in that car park than pay six pounds again.",
        "Some days I just want to walk into the sea with a brew and a biscuit.",
        "If I have to repeat my date of birth one more time I'll jump off the roof.",
        "I would genuinely rather jump off a bridge than ring that switchboard again.",
        # Everyday: sugar overdoses, cutlery, blind cords, a dangerous hedge, a phone,
        # a budget cut, a proverb, a baby who was not breathing well.
        "The grandkids overdosed on chocolate at the party.",
        "Please bring back metal knives and forks on the ward.",
        "The noose-like loop on the curtain cord needs shortening in the kids bay.",
        "That pothole outside the clinic is going to kill someone.",
        "both our phones were on 3 percent and about to die in the waiting room",
        "I honestly thought my little one was going to die, the midwives were amazing.",
        "They keep cutting our ward's budget and then ask why morale is low.",
        "My grandmother always said better to die than lose face.",
        # Medicines: a lethal dose after a dispensing error; notes that are someone else's.
        "The label said 50mg instead of 5mg. That could have been a lethal dose for her.",
        "My records say I took an overdose in 2019. That's the wrong patient, please get it "
        "corrected.",
        "Could you get his tablets sorted out before he goes home?",
        "The nurse promised to get my medication sorted quicker next time.",
        # Staff, reported speech and media.
        "Practice nurse here. We're meant to screen for suicide risk at every asthma review.",
        "Most of my day is asking patients about self harm and then finding them a bed.",
        "A&E nurse. Every suicidal patient waits longer than anyone else for a bed.",
        "Half of our referrals are for self-harm and we have one psychologist.",
        "The part about suicide in the documentary was handled well.",
        "In the training we practised asking 'are you thinking of ending your life?'",
        "Our teacher read us a poem in class like 'I want to die by the sea', it was lovely.",
        "There's a podcast about a nurse who survived an overdose, worth a listen.",
        "Overheard at the pharmacy: some guy going 'I'll kill him' about his landlord.",
        "some guy on youtube said 'unalive you' to his dog and my son copies it",
        "People assume every farmer is a suicide risk. I'm not, I'm just tired.",
        "A&E nurse here. I've sat with patients after their second attempt many times.",
        "My husband reads my post out to me since the stroke, he's very patient.",
        "I tripped over the dog on the stairs and cut my arm on the radiator.",
        # Bereavement told with the people between.
        "We lost two lads from the rugby club to suicide last year.",
    ],
)
def test_look_alikes_of_tune_batches_42_and_43_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I want to hang myself. A picture of my kids is all that stops me.",
        "If I have to face one more day like this I'll throw myself off the balcony.",
        "I'd rather die than go on like this.",
        "I have tried 3 times to kill myself",
        "I overheard my husband on the phone saying he will kill me",
        "I am a nurse and I have been self harming for months",
        "I was a suicidal patient on your ward and nobody checked on me",
        "He said he will kill me if I snore again and I believe him",
        "I read a book about a woman who self-harmed and now I want to kill myself",
        "I wrote a poem about the sea and I want to die",
        "took all my meds sorted out in a line, doing it tonight",
    ],
)
def test_guards_of_tune_batches_42_and_43_leave_disclosures_beside_them(text: str) -> None:
    # Each guard names its trivial cause, its work or its source (a picture on a wall, a
    # hospital meal, parking, the emergency department after "tried", a stranger
    # overheard in a public place, a patient in general): the same words with no such
    # cause stay disclosures.
    assert _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Praying not to make it through the night; not minding if something did it for me.
        ("some nights i just hope i don't make it through to the morning", "suicidal-passive"),
        ("Wouldn't mind if god took me in my sleep tbh", "suicidal-passive"),
        ("I really wouldn't mind if a bus did the job.", "suicidal-passive"),
        # Jumping from a high place told in the past; not a cry for help; a proper go.
        ("Two winters ago I jumped off the multi storey by the station.", "past-attempt"),
        ("people think it was attention seeking. it wasn't a cry for help.", "past-attempt"),
        ("had a serious go at it at 17 and woke up in icu", "past-attempt"),
        ("I waded into the sea at Tenby and was pulled out by a fisherman.", "past-attempt"),
        # Back to the old habit beside plasters, sleeves or blades.
        ("I've gone back to my old habit. Long sleeves all summer again.", "self-harm"),
        # Threats: watching her back; caught lacking; a lesson they won't get up from.
        ("That receptionist better watch her back when she locks up.", "harm-to-others"),
        ("gonna catch that lad lacking one of these nights", "harm-to-others"),
        ("im going to do him proper for what he said about my mum", "harm-to-others"),
        ("He's due a hiding he won't get up from.", "harm-to-others"),
        # Safeguarding: physical with me; he told them I fell; eggshells that broke;
        # home by a time or things get bad; a call passed off as something else.
        ("My husband gets a bit physical with me after a drink.", "safeguarding"),
        ("My partner told the nurses I slipped in the bath. I didn't.", "safeguarding"),
        (
            "Walking on eggshells for years and in March the eggshells finally cracked.",
            "safeguarding",
        ),
        ("I have to be back by six or it gets nasty.", "safeguarding"),
        ("If you ring me please say it's about my eye test, not this.", "safeguarding"),
        # Stockpiling with nothing named; a gun in a safe whose code I know.
        ("I've been hoarding them for weeks and nobody's noticed.", "plan-means"),
        ("Dad's shotgun is locked in the cabinet but I found out the code.", "plan-means"),
    ],
)
def test_disclosure_families_of_tune_batches_44_and_45(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Look-alikes of the families above.
        "I pray I make it through the night shift without a coffee.",
        "I wouldn't mind if someone did it for me, the ironing pile is huge.",
        "I jumped from the top of the hospital tower for a charity abseil last May.",
        "My back went again, the physio says I should watch my back when lifting.",
        "Mum should start watching her back when she lifts, she's had two slipped discs.",
        "the exam caught me lacking, revise more kids",
        "Got to be home by five or things get difficult with the childminder.",
        "I've been stockpiling for months before the wedding.",
        "I tried to swim out too far and got pulled out by a lifeguard in a rip current.",
        "Went back to my old habit of biscuits at 3am on night shift.",
        # Hyperbole and jokes: hold music; one more lap; soup and the sea; the fire alarm;
        # a game; whoever invented something; a physio who makes me do one more squat.
        "That hold music makes me want to end it all, please change it.",
        "If the physio makes me do one more lap I'll top myself haha",
        "if they serve that curry again im walking into the sea lol",
        "im gonna yeet myself off the roof if the printer jams one more time",
        "kms every time i get spawn camped",
        "gonna unalive whoever invented 6am obs",
        "gonna kill myself if they play that jingle again jk",
        "I'd throttle him if he makes me do one more lunge.",
        # Everyday and records: blister packs for recycling; collecting tablets; travel;
        # a car park with no way out; an app that locked me out; form questions.
        "I'm saving my tablets' blister packs for the recycling bin.",
        "Collecting my prescription from the pharmacy took an hour.",
        "Can I stockpile some of my meds before we go to Lagos for a month?",
        "There's no way out of the car park after 10pm.",
        "The app locked me out after three tries.",
        "The mood questionnaire asks about thinking you would be better off dead.",
        "The risk assessment asks about harming myself or others every visit.",
        "The news said someone jumped off the bridge, roads closed.",
        # Staff who name their role first; young people who disclosed; a story.
        "Youth worker. Some of my young people have disclosed self-harm this year.",
        "Care worker in residential homes. Residents sometimes say they'd rather be dead.",
        "Speaking as a GP, when someone tells me they're suicidal I'm on hold for an hour.",
        "the main character in the show i am watching just overdosed and i cried",
        "new drill track goes hard, catch him lacking all day on repeat",
    ],
)
def test_look_alikes_of_tune_batches_44_and_45_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "That hold music plays while I sit here thinking I want to end it all for real.",
        "If my husband hits me one more time I'll kill myself.",
        "I'm saving my tablets for when I'm ready.",
        "I've been stockpiling my tablets for months.",
        "The app locked me out and so did my husband, he locked me out of the house all night.",
        "Youth worker. I have been self-harming myself since the summer.",
        "the news said someone jumped off the bridge and i want to kill myself too",
        "I'll throw myself off the bridge if he leaves me again.",
    ],
)
def test_guards_of_tune_batches_44_and_45_leave_disclosures_beside_them(text: str) -> None:
    # Each guard names its trivial cause, its work or its source (hold music, a physio's
    # lap, a recycling scheme, a trip, an app, a form's question, a role named first, the
    # news): the same words with no such cause, or with the writer's own words beside
    # them, stay disclosures.
    assert _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # A plea to be read is not a stranger quoted; "thru w it" read as "through with it".
        ("can someone please read this, i want to end my life", "suicidal-active"),
        ("somebody read this i want to kill myself", "suicidal-active"),
        ("this time i really want to go thru w it", "suicidal-active"),
        ("since the ward let me out i mean to finish what i started", "suicidal-active"),
        # A relapse after a clean spell is no recovery.
        ("burning my arm with a lighter again after three years clean", "self-harm"),
        ("cutting again after 18 months clean and i hate myself", "self-harm"),
        ("I started scratching my legs raw again, two years free and now this.", "self-harm"),
        # Blades taken away and done anyway; hitting myself until I bruise; marks others
        # put down to something else, most of them not.
        ("Staff confiscated my blades so I found another way.", "self-harm"),
        ("i punch my legs till i bruise when i fail a test", "self-harm"),
        ("Mum thinks the cuts on my arm are from the cat. Most of them aren't.", "self-harm"),
        # A means at hand and a day as good as any.
        (
            "Pills are counted out in the drawer. Reckon Friday's as good a day as any.",
            "plan-means",
        ),
        # Someone just out of a ward who will finish what he started; a young partner
        # telling me where the papers are and who gets the dog.
        (
            "My son came home from the psychiatric ward and says he'll finish what he started.",
            "third-party",
        ),
        (
            "She keeps telling me where her will is and who should have the cats. She is 29.",
            "third-party",
        ),
    ],
)
def test_disclosure_families_of_tune_batches_46_and_47(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        # Hyperbole and jokes taken back at once, or with their trivial cause.
        "If I phone the surgery at 8am again I'll walk into the sea (joking, love the nurses)",
        "The vending machine ate my pound, going to unalive myself. Only kidding, it gave it back.",
        "honestly the sewer slide would be quicker than your booking system",
        "the phone lines make me want to yeet myself off a cliff",
        # Staff who name their work first, telling what they see there.
        "Crisis line worker here. Half our overnight calls are people who have taken an overdose.",
        "Paramedic, 20 years. Overdose callouts in the city centre have doubled since spring.",
        "Charge nurse. We screen every patient for suicide risk with no time to do it.",
        "Working on a ward where patients self-harm daily wears you down, supervision has gone.",
        "Ambulance tech here. We're taking kids with self-inflicted injuries to a full department.",
        # Everyday, medicines, forms and songs.
        "Won't be around next Tuesday for my physio appointment, can I move it?",
        "I need to take enough insulin for the whole holiday, can I get an early script?",
        "I stockpile my inhalers because the pharmacy deliveries are always late.",
        "Please text me when my tablets are ready, the queue is huge.",
        "At freshers they gave out leaflets saying are you thinking about suicide, a bit blunt.",
        "The app said the nurse asked me do you want to hurt yourself. I said no, back pain.",
        "There's a song by my favourite band about wanting to die and it helped me at school.",
    ],
)
def test_look_alikes_of_tune_batches_46_and_47_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "i want to end my life, not joking this time",
        "gonna kms tonight lol jk unless",
        "told everyone i was joking about wanting to die but i was not",
        "Nurse here. I have been self-harming after every night shift.",
        "Paramedic, 20 years. I took an overdose last month and nobody at work knows.",
        "I won't be around next week, I've made my peace with it.",
        "cutting again, I was clean for a year",
        "Please someone read this, I am going to kill myself tonight.",
    ],
)
def test_guards_of_tune_batches_46_and_47_leave_disclosures_beside_them(text: str) -> None:
    # A disclaimer denied ("not joking", "unless"), the writer's own words in a staff
    # story, a farewell with no appointment named and a plea to be read stay disclosures.
    assert _categories(text)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # Spelling: a spaced word with leet digits, a euro sign for "e", "++" for "tt".
        ("took an 0 v e r d 0 s e last spring", "past-attempt"),
        ("att€mpted in june, woke up in icu", "past-attempt"),
        ("cu++ing again since the ward", "self-harm"),
        # Passive: despawning, a piano falling on me, staying asleep, dying in my sleep
        # being okay, wishing he had finished the job, not satisfied with being alive.
        ("honestly wish i could despawn", "suicidal-passive"),
        ("wouldn't be bothered if a tree fell on me tbh", "suicidal-passive"),
        ("I'd like to fall asleep and stay asleep.", "suicidal-passive"),
        ("If I die in my sleep it is fine for me.", "suicidal-passive"),
        ("Some days I wish he had finished the job.", "suicidal-passive"),
        ("Not happy with being alive, to answer your question.", "suicidal-passive"),
        ("I pray every night not to see the morning.", "suicidal-passive"),
        # Plans: squared away, goodbyes that are real, a gun cleaned and the dog rehomed,
        # stocking up for the big sleep, everything I need to end it.
        ("Cancelled the gym, paid off the card. That's me squared away.", "plan-means"),
        ("said bye to the lads today, they don't know it's a proper bye", "plan-means"),
        ("Rifle's cleaned and the dog is with my sister.", "plan-means"),
        ("saving my tablets for the big sleep", "plan-means"),
        ("I've got everything I need to end it in the car.", "suicidal-active"),
        # Past attempts: cut down; into the canal and pulled out; after the pills.
        ("after the paramedics cut me down they were kind", "past-attempt"),
        ("I jumped into the canal and a jogger pulled me out.", "past-attempt"),
        ("the hospital stay was after the pills, not my chest", "past-attempt"),
        # Self-harm: scars, some new; plasters under hoodies; razors taken, a lid used.
        ("Lots of scars on my arms and some are new.", "self-harm"),
        ("hiding my plasters under hoodies again", "self-harm"),
        ("they took my blades so i used a can ring instead", "self-harm"),
        # Threats: telling 111; shooting up a place; getting into her new flat.
        ("I told the GP I want to hurt my brother.", "harm-to-others"),
        ("gonna shoot up the job centre", "harm-to-others"),
        ("thinking of attacking staff on the ward", "harm-to-others"),
        ("I know how to get into her new flat now.", "harm-to-others"),
        # Safeguarding: broken ribs, permission to buy, an ex at my work, the reason for
        # the appointment, saying yes because he was there, documents kept, a pinch seen.
        ("My boyfriend broke my nose last month.", "safeguarding"),
        ("I need permission to buy shampoo. He calls it being careful.", "safeguarding"),
        ("my ex keeps turning up at my work", "safeguarding"),
        ("He is the reason I need the appointment.", "safeguarding"),
        ("I said I was fine because he was standing there.", "safeguarding"),
        ("The agency keeps our passports and we cannot leave.", "safeguarding"),
        ("I saw her son slapping her in the lounge of the home.", "safeguarding"),
        # Third party: a last message, then offline; a father who told the receptionist.
        ("my mate posted this is my last message and went offline", "third-party"),
        (
            "My dad told reception he did not want to live anymore and she said book online.",
            "third-party",
        ),
    ],
)
def test_disclosure_families_of_tune_batches_50_to_53(text: str, category: str) -> None:
    assert category in {
        name for hit in SCREEN.read(text)[0] for name in (hit.category, hit.underlying)
    }


@pytest.mark.parametrize(
    "text",
    [
        "Reception had an overdose of tinsel this year, lovely.",
        "Overdosed on sunshine at the beach, pharmacist sorted the burn.",
        "suicide squeeze in the 9th, what a game",
        "gonna die in the raid tonight lol",
        "The double suicide scene needs rehearsing.",
        "bestie said she'd kill me if i didn't book the smear test",
        "waited 40 min for a parking space i literally wanted to die lol",
        "the queue at the pharmacy had me ready to kill myself",
        "kms every time the self check-in machine says unexpected item",
        "If I see another form I'll hang myself with the lanyard.",
        "Nothing makes me want to jump off a bridge like a 40-question survey.",
        "I'll throw myself off the roof if I hear that hold message again.",
        "i want to die - me watching this fan edit at 2am",
        "Ward clerk here. Self-harm admission paperwork is far too long.",
        "Night shift on the acute unit: two restraints, one self-harm incident, no breaks.",
        "A&E registrar. We had a patient who had taken an overdose waiting 30 hours.",
        "The man in the next bed kept shouting he was going to kill the nurses. Staff were calm.",
        "Another patient tried to hang herself in the bathroom; staff got there in time.",
        "Used to self-harm as a teen, have not in 15 years.",
        "Can you book me in for the diabetic review?",
    ],
)
def test_look_alikes_of_tune_batches_50_to_53_set_aside(text: str) -> None:
    assert _categories(text) == set()


@pytest.mark.parametrize(
    "text",
    [
        "I told my husband I was going to kill myself and he laughed.",
        "The queue was long and I want to die, I mean it, nobody helps me.",
        "My son in the next room kept shouting that he wanted to die.",
        "Nurse here. Last night I took an overdose after my shift.",
        "My mate od'd at a festival and he wants to do it again.",
        "he broke my arm",
        "cutting again, 3 days clean was all I managed",
    ],
)
def test_guards_of_tune_batches_50_to_53_leave_disclosures_beside_them(text: str) -> None:
    # The words a guard sets aside beside a trivial cause, a stranger on a ward, a role
    # named first or laughter stay disclosures with the writer's own voice or a relative.
    assert _categories(text)
