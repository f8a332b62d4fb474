"""The edge pieces on their own: callback data, references, text pieces, spec limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapters.telegram import convert, render
from bot.cli import main
from channels.events import OutboundMessage
from tests.conftest import TEST_KEY, TEST_SECRET
from tests.helpers import spec_data


def test_callback_data_always_fits_in_64_bytes() -> None:
    short = convert.answer_data("outpatient-booking", "role", 3)
    assert short == "a|outpatient-booking|role|3"
    long_id = "c" * 64
    squeezed = convert.answer_data(long_id, "role", 11)
    assert squeezed == "a||role|11"  # the consultation is the person's current one
    assert convert.answer_data(long_id, "q" * 64, 2) == "a|||2"  # and the pending question
    assert all(len(convert.answer_data(long_id, "q" * n, 11).encode()) <= 64 for n in range(0, 65))


def test_message_references_round_trip() -> None:
    ref = convert.message_ref(-1001234567890, 45)
    assert ref == "chat:-1001234567890:msg:45"
    assert convert.parse_message_ref(ref) == (-1001234567890, 45)
    assert convert.parse_message_ref("chat:@ourservice:msg:7") == ("@ourservice", 7)
    assert convert.parse_message_ref("poll:abc") is None


def test_text_is_split_at_paragraphs_within_telegrams_count() -> None:
    text = "\n\n".join(["🙂" * 1500, "b" * 1500, "c" * 10])  # emoji count twice in UTF-16
    pieces = render.split_text(text)
    assert all(render.utf16_len(p) <= 4096 for p in pieces)
    assert pieces == ["🙂" * 1500, "b" * 1500 + "\n\n" + "c" * 10]
    assert render.split_text("x" * 9000) == ["x" * 4096, "x" * 4096, "x" * 808]


def test_a_poll_too_big_for_telegram_becomes_buttons() -> None:
    fits = OutboundMessage(text="q", question="ease", question_type="poll", options=("a", "b"))
    assert render.fits_native_poll(fits)
    many = OutboundMessage(text="q", question_type="poll", options=tuple("abcdefghijklm"))
    assert not render.fits_native_poll(many)
    lead, question = render.poll_question("Please choose.\n\n" + "Q" * 299)
    assert question == "Q" * 299 and lead is not None


@pytest.mark.parametrize(
    ("item", "where"),
    [
        (
            {"id": "ease", "type": "poll", "text": "Q" * 301, "options": ["a", "b"]},
            "items[0].text",
        ),
        (
            {"id": "ease", "type": "poll", "text": "q", "options": [str(n) for n in range(13)]},
            "items[0].options",
        ),
        ({"id": "story", "type": "prompt", "text": "W" * 4097}, "items[0].text"),
    ],
)
def test_validate_reports_telegram_limits_naming_the_item(
    item: dict[str, object],
    where: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ENGAGE_SECRET_KEY", TEST_SECRET)
    monkeypatch.setenv("ENGAGE_PSEUDONYM_KEY", TEST_KEY)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_data(channels=["telegram"], items=[item])))
    assert main(["consultation", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert where in err and "telegram" in err.lower()

    path.write_text(yaml.safe_dump(spec_data(channels=["web"], items=[item])))
    assert main(["consultation", "validate", str(path)]) == 0  # a web-only spec may


@pytest.mark.parametrize(
    ("language_code", "notice"),
    [
        ("cy", "Chafodd dim byd ei ddileu."),
        ("es", "No se borró nada."),
        ("fr", "Nothing was erased."),
        (None, "Nothing was erased."),
    ],
)
def test_button_notes_follow_the_persons_telegram_language(
    language_code: str | None, notice: str
) -> None:
    from datetime import UTC, datetime

    import telegram

    person = telegram.User(1001, "Ann", is_bot=False, language_code=language_code)
    chat = telegram.Chat(1001, "private")
    message = telegram.Message(1, datetime.now(UTC), chat)
    query = telegram.CallbackQuery("q1", person, "instance", message=message, data="a||@erase|1")
    press = convert.from_callback(query, "key")
    assert press.event is None
    assert press.notice == notice
