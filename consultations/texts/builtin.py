"""Every built-in text a participant may see, in English, by key: the source catalogue.

Adding a text is one line here: ``"key": "The English words.",``. Code asks for it by key
(``texts("key")``), a spec may override it (``texts: {key: ...}``) and the catalogues in
``locale/`` translate it (``python -m consultations.texts update`` adds it to each of
them, untranslated). Until a language has it, people see the English words and
``engage consultation validate`` names it as missing (docs/languages.md).

Words in ``{braces}`` are filled in when the text is used; a translation or an override
may use the same ones and no others. Keys ending in ``_words`` are lists of keywords,
separated by commas, that a person may type (STOP, HELP, yes, no): those of the
consultation's language are understood as well as the English ones.

Keep the words plain (tests/consultations/test_texts.py measures them): short sentences,
everyday words, one idea at a time.
"""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    # -- keywords people type, on every channel ------------------------------------------
    # Whole replies only (compared after dialogue.normalise): "stop waiting lists" is an
    # answer. The usual opt-out keywords of text messaging, and what people write instead.
    "stop_words": (
        "stop, /stop, stop all, stopall, unsubscribe, unsubscribe me, opt out, opt-out, quit, "
        "leave, cancel, end, stop please, please stop, stop it, stop now, stop messaging me, "
        "stop messages, stop texting me, no more messages, remove me, leave me alone, "
        # Leaving said in words, with the consultation or taking part named (a bare "I
        # want to leave" or "I want to stop" is no keyword: it is screened as any answer).
        "i want to leave this consultation, i want to leave this survey, "
        "i want to stop taking part, i don't want to take part, i do not want to take part, "
        "take me off the list"
    ),
    "help_words": "help, /help, ?",
    "yes_words": "yes, y, yeah, yep, ok, okay, agree, i agree, sure",
    "no_words": "no, n, nope, no thanks, disagree, i do not agree",
    # -- the conversation: consent, questions, leaving -----------------------------------
    "consent_ask": "Do you agree to take part?",
    "consent_yes": "Yes, I agree",
    "consent_no": "No thanks",
    "consent_first": "Before any questions, we need your answer to this, please.",
    "consent_declined": "No problem. We won't ask you anything. Thank you for your time.",
    "recontact_ask": (
        "May we contact you again about this work? For example, to tell you what changed, "
        "or to ask you to help plan it."
    ),
    "recontact_yes": "Yes, you may contact me",
    "recontact_no": "No, please don't",
    "erase_ask": (
        "This wipes out all your answers, here and in every other survey you took part in. "
        "It can't be undone. Erase everything?"
    ),
    "erase_yes": "Yes, erase my answers",
    "erase_no": "No, keep them",
    "erased": "Everything we held about you has been erased.",
    # STOP in a conversation leaves every consultation (a web page's "Leave" only its
    # own: web_left); /start alone, on Telegram and in a Mastodon direct message, offers
    # them again.
    "stop_reply": (
        "You have left all our consultations. You will get no more questions or messages "
        "from any of them. We keep the answers you gave before. Send /delete if you want "
        "us to erase them. To take part again, send /start."
    ),
    "stop_reply_none": (
        "You have left all our consultations. You will get no more questions or messages "
        "from any of them. We hold no answers from you. To take part again, send /start."
    ),
    "help_reply": (
        "A health service asks you these questions to make its care better. "
        "Answer in your own words or with the buttons. "
        "Send STOP at any time to leave. Send /delete to have your answers erased. "
        "We can't give medical advice here. For that, please ask your health service. "
        "If it is urgent, call emergency services."
    ),
    "choose_one": "Please choose one answer.",
    "choose_option": "Please choose one of the options.",
    "choose_from": "Please choose from the options.",
    "no_words_given": "We didn't get any words there.",
    "unknown_question": "Sorry, that question is not part of this survey.",
    "all_answered": "Thank you. You have answered every question.",
    "thanks": "Thank you for taking part.",
    "none_open": "There are no consultations open right now. Thank you for your interest.",
    "choose_consultation": "Which consultation would you like to take part in?",
    "no_such_consultation": "We can't find “{id}”.",
    "not_on_channel": "“{title}” is not taking answers on {channel}.",
    "opens_on": "“{title}” opens on {date}. Please come back then.",
    "closed_reply": (
        "“{title}” is closed. It is not taking answers now. Thank you for your interest. "
        "We will share what we learned."
    ),
    "resend_note": "In case this did not reach you:",
    # -- the reply to a crisis disclosure ------------------------------------------------
    "safety_care": (
        "Thank you for telling us. It sounds like things are really hard right now. "
        "You don't have to go through this alone: please talk to someone today."
    ),
    "safety_danger": "If you are in danger now, call emergency services.",
    # The same reply to someone worried about another person (a son, a partner, a friend).
    "safety_care_other": (
        "Thank you for telling us. It sounds like you are worried about someone. You don't "
        "have to face this alone: the services below can help you support them, and support "
        "you too."
    ),
    "safety_danger_other": "If they are in danger now, call emergency services.",
    # ... and to a text where the danger may be to others (harm to others, safeguarding).
    "safety_danger_anyone": "If you or someone else is in danger now, call emergency services.",
    "safety_next": (
        "We can't give medical or crisis help here. But someone from the {organisation} "
        "team has been told about your message and will read it."
    ),
    # ... and, in place of safety_care and safety_next, to a text only the screen's model
    # flagged (no listed phrase): often an ordinary answer, so the words do not presume,
    # and the person may carry on answering.
    "safety_check_in": (
        "Thank you for your answer. If any of it is about a hard time you are going "
        "through, you don't have to face it alone: support is there today."
    ),
    "safety_check_in_other": (
        "Thank you for your answer. If you are worried about someone, the services below "
        "can help you support them, and support you too."
    ),
    "safety_check_in_next": (
        "We can't give medical or crisis help here, but someone from the {organisation} "
        "team will read your message. You can carry on answering whenever you are ready."
    ),
    "safety_public": (
        "A reminder for everyone here: if things feel hard, support is available now."
    ),
    "safety_help_now": "Help now:",
    # The built-in helplines (screening.default_helplines): what each service is for and
    # how to reach it. A service's own name ({service}), its numbers and the word to text
    # it ({keyword}) are filled in as the service gives them, never translated.
    "helpline_emergency": "Emergency",
    "helpline_emergency_services": "Emergency (police, ambulance)",
    "helpline_all_hours": "{service}, 24 hours",
    "helpline_first_nations": "{service} (Aboriginal and Torres Strait Islander crisis support)",
    "helpline_young_people": "{service} (ages {youngest} to {oldest})",
    "helpline_mental_health_option": "{service}, option {option} for mental health crisis",
    "helpline_crisis_text": "{service} crisis text line",
    "helpline_call_or_text_number": "{number} or text {text_number}",
    "helpline_call_or_text": "call or text {number}",
    "helpline_text_keyword": "text {keyword} to {number}",
    # -- what a personal detail becomes in a stored answer (safety.redaction) ------------
    # In square brackets, lower case where the words allow: "call me on [phone]".
    "redacted_email": "[email]",
    "redacted_link": "[link]",
    "redacted_handle": "[handle]",
    "redacted_nhs_number": "[NHS number]",
    "redacted_medicare_number": "[Medicare number]",
    "redacted_ssn": "[SSN]",
    "redacted_id": "[id number]",
    "redacted_dob": "[date of birth]",
    "redacted_phone": "[phone]",
    "redacted_address": "[address]",
    "redacted_postcode": "[postcode]",
    "redacted_name": "[name]",
    # -- what cannot be read ------------------------------------------------------------
    "only_words": (
        "Sorry, we can only read typed words here, not pictures, voice messages or files. "
        "Please type your answer."
    ),
    "chat_too_fast": (
        "You have sent a lot in the last minute, faster than we can take answers. What you "
        "send in the next minute is not kept. Please wait a minute, then carry on. Send STOP "
        "at any time to leave."
    ),
    # -- posts on Telegram and Mastodon --------------------------------------------------
    "launch_how_to_take_part": (
        "To take part, vote in the polls and reply to the posts below. If you do, it means "
        "you agree to the text above."
    ),
    "launch_how_to_leave": "Reply STOP to leave at any time.",
    "launch_prompt": "Reply to this post to answer.",
    "launch_thread": "Reply to join the discussion. Reply to others to build on their ideas.",
    "launch_closed": "This consultation has closed and is no longer taking answers.",
    "launch_thanks": "Thank you to everyone who took part.",
    "reply_with_number": "Reply with a number.",
    "reply_with_numbers": "Reply with one or more numbers, separated by commas.",
    "answer_placeholder": "Your answer",
    "button_expired": "Sorry, that button no longer works.",
    "nothing_erased": "Nothing was erased.",
    "command_start": "Take part in a consultation",
    "command_help": "How this works",
    "command_stop": "Leave: no more questions",
    "command_delete": "Erase your answers",
    # -- the web pages -------------------------------------------------------------------
    "web_skip": "Skip to content",
    "web_before_you_start": "Before you start",
    "web_consent_hint": "You can leave at any time. We never ask for your name.",
    "web_about_you": "About you",
    "web_about_you_hint": (
        "These help us see who we have heard from. Skip any you would rather not answer."
    ),
    "web_continue": "Continue",
    "web_choose_any": "(choose any that apply)",
    "web_you": "You",
    "web_someone": "Someone",
    "web_reply": "Reply",
    "web_your_reply": "Your reply",
    "web_send_reply": "Send reply",
    "web_your_answers": "Your answers",
    "web_your_views": "Your views",
    "web_change_hint": (
        "You can change an answer here. Your new answer takes the place of the old one."
    ),
    "web_save": "Save my changes",
    "web_send": "Send my answers",
    "web_privacy_hint": (
        "Please don't put in names, contact details or health facts that could show who "
        "you or someone else is."
    ),
    "web_discussion": "Discussion: {topic}",
    "web_add_idea": "Add your idea",
    "web_post": "Post",
    "web_write_something": "Please write something before you send it.",
    "web_error_heading": "There is a problem",
    "web_error_prefix": "Error: {title}",
    "web_pages": "Discussion pages",
    "web_earlier": "Earlier posts",
    "web_later": "Later posts",
    "web_leave": "Leave this consultation",
    "web_delete": "Delete my answers",
    "web_index_title": "Have your say",
    "web_index_intro": (
        "Health services use these pages to hear from patients, carers, staff and the "
        "people they serve."
    ),
    "web_open_heading": "Open now",
    "web_none_open": "Nothing is open right now.",
    "web_not_found_title": "Not found",
    "web_not_found_heading": "We can't find this page",
    "web_not_found": "There is nothing open at this address. Please check the link.",
    "web_opens_on": "This opens on {date}. Please come back then.",
    "web_closed": (
        "This consultation has closed and is no longer taking answers. Thank you for your "
        "interest. The service will share what it learned and what it will change."
    ),
    "web_safety_heading": "Thank you for telling us",
    "web_check_in_heading": "Thank you for your answer",
    "web_carry_on": "Carry on answering",
    "web_thank_you": "Thank you",
    "web_declined": "No problem: we won't ask you anything. You can close this page.",
    "web_left_title": "You have left",
    "web_left_heading": "You have left this consultation",
    "web_left": (
        "We won't ask you anything more. We keep the answers you gave before, with no "
        "name on them. To erase them, go back to the page and choose “Delete my answers”."
    ),
    "web_left_none": "We won't ask you anything more. We hold no answers from you.",
    "web_deleted_title": "Answers deleted",
    "web_deleted_heading": "Your answers have been deleted",
    "web_deleted": "We have erased all you told us here.",
    "web_wait_title": "Please wait",
    "web_wait_heading": "Please wait a moment",
    "web_busy_network": (
        "Lots of people have just started from your network. Please wait a minute, then "
        "load the page again."
    ),
    "web_busy_posting": (
        "You have posted a lot in the last minute. Please wait a moment, then post again."
    ),
    "web_try_again_in": "You can try again in {wait}.",
    "web_needs_cookies": (
        "This page needs cookies to keep your answers together. Please allow cookies for "
        "this site and try again."
    ),
    "web_form_expired": "This form has expired. Please go back and reload the page.",
    "web_form_broken": "Something in this form is not right. Please go back and reload the page.",
    "web_gone": "This has closed. It no longer takes answers.",
    "web_text_too_long": (
        "Please keep what you write to {limit} characters or fewer; yours has {length}. "
        "Nothing was stored. Go back to shorten it, or send it in parts."
    ),
    "web_choose_consent": "Please choose “Yes, I agree” or “No thanks”.",
    "web_choose_recontact": "Please choose whether we may contact you again.",
    "web_no_page": "There is no such page.",
    "web_error_title": "Something went wrong",
    # -- statement voting (items of type statements) -------------------------------------
    "statements_vote": "{item}\n\nDo you agree with this statement?\n\n“{statement}”",
    "statements_vote_words": "Reply AGREE, DISAGREE or PASS. Or write a statement of your own.",
    "statements_vote_buttons": "Choose below, or write a statement of your own.",
    "statements_add": (
        "{item}\n\nYou have voted on every statement for now. Write a statement of your "
        "own (one short idea), or send DONE to go on."
    ),
    "statements_add_first": (
        "{item}\n\nThere are no statements to vote on yet. Write one of your own "
        "(one short idea), or send DONE to go on."
    ),
    "statements_not_an_idea": "Please write your idea in a few words, or send DONE to go on.",
    # Whole replies in a chat (compared as the keyword lists above, in the language and in
    # English): the three votes typed (the yes and no words count as agree and disagree
    # too, where a statement is shown); what ends adding statements (the no words too);
    # and the short replies that only say "I see", never an idea to add.
    "statements_agree_words": "agree, i agree, a, 1, +1, 👍",
    "statements_disagree_words": "disagree, i disagree, d, 2, -1, 👎",
    "statements_pass_words": "pass, p, skip, 3, 0, unsure, not sure, don't know, i don't know",
    "statements_done_words": (
        "done, /done, skip, next, no thanks, nothing, nothing more, nothing else, finish, "
        "finished, all done, that's all, that's it"
    ),
    "statements_acknowledgement_words": (
        "ok, okay, k, thanks, thank you, thx, ta, cheers, great, good, fine, cool, nice, "
        "right, alright, got it, noted, hmm, lol"
    ),
    "statements_added": "Thank you: your statement is now shown to others to vote on.",
    "statements_queued": (
        "Thank you: your statement will be shown to others once a moderator has read it."
    ),
    "statements_held": (
        "Thank you. A person will read your statement before anything more happens with it."
    ),
    "statements_duplicate": (
        "Someone has already said something very like this: “{existing}”. "
        "Please vote on it instead, or write a different idea."
    ),
    "statements_duplicate_own": "You have already added a statement very like this one.",
    "statements_too_long": (
        "Please keep a statement to {limit} characters or fewer (one short idea); "
        "yours has {length}."
    ),
    "statements_not_votable": "That statement is not open for votes. Here is another.",
    "statements_own_not_votable": "You can't vote on your own statement. Here is another.",
    "statements_invite": (
        "People add short statements and vote agree, disagree or pass on each other's. "
        "To take part, send us a private (direct) message: we will show you the "
        "statements one at a time."
    ),
    "statements_web_heading": "Do you agree with this statement?",
    "statements_web_none": (
        "You have voted on every statement so far. New ones may come: please look again later."
    ),
    "statements_web_more": "Vote on other statements ({count})",
    "statements_web_add": "Add a statement of your own (one short idea)",
    "statements_web_add_button": "Add my statement",
    "statements_web_voted": "Thank you: your vote is counted.",
    "statements_agree": "Agree",
    "statements_disagree": "Disagree",
    "statements_pass": "Pass",
    "statements_web_no_item": "There are no statements to vote on at this address.",
    "statements_web_bad_vote": "A vote is agree, disagree or pass.",
    "statements_web_no_statement": "The vote does not say which statement it is on.",
    # -- follow-ups, reminders, rounds and timed chats ----------------------------------
    "web_optional": "(optional)",
    "web_recontact_hint": "We would show you an invitation here, on this page, when you come back.",
    "web_take_part": "Take part",
    "followup_invite": (
        "You took part in “{earlier}” and said we could contact you again. "
        "{organisation} would like to hear from you about: {title}.\n\n"
        "Would you like to take part? Choose it below. Reply STOP and we won't "
        "contact you again."
    ),
    "web_loop_heading": "You said, we did",
    "followup_web_invite": (
        "You said we could contact you again. {organisation} would like to hear from "
        "you about: {title}."
    ),
    "reminder": (
        "A reminder: you started “{title}” and there are a few questions left. "
        "Reply to carry on where you stopped, or send STOP to leave."
    ),
    "round_heading": "Round {number} of {rounds}. Last round, {total} people answered:",
    "round_heading_one": "Round {number} of {rounds}. Last round, 1 person answered:",
    "round_your_answer": "Your answer was: {answer}.",
    "round_answer_again": "Now you have seen the group's answers, please answer again: {question}",
    "round_not_yours": (
        "This question is now being asked again only of the people who answered its last "
        "round. Thank you for your interest."
    ),
    "round_ended": (
        "That poll was for an earlier round of this question, which has ended, so your vote "
        "was not recorded. Your answers stay as they were."
    ),
    "web_round_not_yours": (
        "This question is now in round {number} of {rounds}, asked again only of the people "
        "who answered the round before. Answers to it can no longer be given or changed here."
    ),
    "web_choice_not_taken": (
        "Your answer to “{question}” was not saved: it is not one of the choices given for "
        "it. Please choose again."
    ),
    "timed_question": (
        "Q{number}. {question}\n\nReply to this post, or start your message with A{number}."
    ),
    "web_next_question_at": "The next question is shown here from {when}.",
    "listening_noted": (
        "Thank you. We have noted your post as feedback for “{title}” ({organisation}). "
        "Reply STOP if you would rather we did not."
    ),
    # -- the web page while answers can't be saved --------------------------------------
    "web_unavailable_title": "Try again in a moment",
    "web_unavailable_heading": "Please try again in a moment",
    "web_unavailable": (
        "We can't save answers for a moment. Nothing you sent before this was lost: "
        "please try again in a moment."
    ),
}
