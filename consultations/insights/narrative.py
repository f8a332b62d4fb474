"""Plain-language theme summaries written by a local language model (optional, off by default).

The operator supplies a model file and the command that runs it on this machine
(``ENGAGE_SUMMARY_MODEL``, ``ENGAGE_SUMMARY_COMMAND``; docs/theme-summaries.md). For each theme
with at least :data:`MIN_QUOTES` quotes the model is given the theme's label, its
description and its quotes, numbered, and nothing else: the quotes are already what a
report may show (never a safety-flagged or crisis reply, redacted, decoded). engage runs
the program itself, without a shell and without proxy settings, and calls nothing over
the network.

What the model writes is not trusted. A sentence is kept only when it cites at least
one of the numbered quotes and every number it cites is one of them; citations are taken
out of its text and kept as indexes into the theme's ``quotes``; each kept sentence is
redacted again and screened, and any the crisis screen flags (or cannot read) is dropped.
At most :data:`MAX_SENTENCES` are kept.

A model that fails (exits with an error, runs past its time, cannot be started, writes
nothing usable) leaves that theme without a summary and is counted; the warning logged
names the theme by its number only, never its words. The report is otherwise the same
as without the feature.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consultations.screening import Hints

log = logging.getLogger(__name__)

#: Themes with fewer quotes are not summarised (one quote is its own summary).
MIN_QUOTES = 2
#: Most sentences kept from one summary.
MAX_SENTENCES = 4
#: Most characters of the model's answer read (a runaway program cannot fill memory).
MAX_OUTPUT = 20_000
#: Placeholders of the command template.
MODEL, PROMPT = "{model}", "{prompt}"
#: Seconds a model may take per theme unless the operator says otherwise.
DEFAULT_TIMEOUT = 120.0
NOTE = (
    "Written by a local language model from the quotes shown; every sentence cites the "
    "quotes it rests on."
)
#: Proxy variables are not passed on: the model's program has no business on the network.
_PROXY = re.compile(r"(?i)^(?:https?|ftp|all|no|socks)_proxy$")

INSTRUCTIONS = (
    "Below are replies that people gave to a health service, grouped under one theme. "
    "Summarise in two or three short, plain sentences what these replies say. Say only "
    "what the replies say: add nothing, give no medical advice, and name no one. End "
    "every sentence with the numbers of the replies it rests on, in square brackets, "
    "like [1] or [2][3]. Write only the sentences."
)

_CUE = "\nSummary:"
# One citation group: "[2]", "[1, 3]", "[1;3]".
_CITATION = re.compile(r"\[\s*(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]")
_LEADING_CITATIONS = re.compile(r"^\s*((?:\[\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*\][\s.,;:!?]*)+)")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
_BULLET = re.compile(r"^(?:[-*\u2022]|\d{1,2}[.)])\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class LocalModel:
    """A language model on this machine, run by a program the operator names.

    ``command`` is the program's argv with ``{model}`` (the model file) and, optionally,
    ``{prompt}`` (a temporary file holding the prompt); without ``{prompt}`` the prompt
    goes to the program's standard input. ``timeout`` is in seconds, per theme.
    """

    model: Path
    command: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT

    @property
    def reads_stdin(self) -> bool:
        return not any(PROMPT in arg for arg in self.command)

    def argv(self, prompt_file: Path | None) -> list[str]:
        """The command with its placeholders filled in."""
        prompt = str(prompt_file) if prompt_file is not None else ""
        return [arg.replace(MODEL, str(self.model)).replace(PROMPT, prompt) for arg in self.command]


@dataclass(frozen=True)
class Sentence:
    """One kept sentence: its words (citations taken out) and the quotes it cites (0-based)."""

    text: str
    quotes: tuple[int, ...]


@dataclass
class _Draft:
    text: str
    cited: list[int] = field(default_factory=list)


class ModelFailed(Exception):
    """The model gave nothing usable; the message says why, without any participant text."""


def build_prompt(label: str, description: str, quotes: Sequence[str]) -> str:
    """The prompt for one theme: instructions, the theme, then its quotes numbered from 1."""
    lines = [INSTRUCTIONS, "", f"Theme: {label}"]
    if description:
        lines.append(f"About the theme: {description}")
    lines += ["", "Replies:"]
    lines += [f"[{k}] {' '.join(quote.split())}" for k, quote in enumerate(quotes, 1)]
    lines += ["", _CUE.strip()]
    return "\n".join(lines) + "\n"


def parse_summary(output: str, count: int) -> list[Sentence]:
    """The sentences of ``output`` that cite only replies 1..``count`` (at least one).

    Citations may follow a sentence's last word or its full stop ("... long [1]." or
    "... long. [1]"); a sentence with no citation, or citing a number that is not one of
    the replies, is dropped. Nothing is redacted or screened here (see :func:`screen`).
    """
    drafts: list[_Draft] = []
    for piece in _SENTENCE_BREAK.split(output[:MAX_OUTPUT]):
        piece = _BULLET.sub("", piece.strip())
        leading = _LEADING_CITATIONS.match(piece)
        if leading:
            # "... long. [1][3] Next sentence": the numbers belong to the sentence before.
            numbers = _numbers(leading.group(1))
            if drafts:
                drafts[-1].cited += numbers
            piece = piece[leading.end() :]
        if piece.strip():
            drafts.append(_Draft(piece))
    sentences: list[Sentence] = []
    for draft in drafts:
        cited = draft.cited + _numbers(draft.text)
        if not cited or any(not 1 <= n <= count for n in cited):
            continue
        text = _CITATION.sub(" ", draft.text)
        text = _SPACE_BEFORE_STOP.sub(r"\1", " ".join(text.split())).strip(" ,;:")
        if not _LETTER.search(text):
            continue
        sentences.append(Sentence(text, tuple(sorted({n - 1 for n in cited}))))
    return sentences


def _numbers(text: str) -> list[int]:
    return [int(n) for group in _CITATION.findall(text) for n in re.split(r"[,;]", group)]


def screen(sentences: Sequence[Sentence], hints: Hints | None = None) -> list[Sentence]:
    """Each sentence redacted (with the consultation's ``hints``, as its quotes were),
    those the crisis screen flags or cannot read dropped, repeats dropped, at most
    :data:`MAX_SENTENCES` kept."""
    from consultations import screening
    from consultations.safety.screen import assess

    kept: list[Sentence] = []
    seen: set[str] = set()
    for sentence in sentences:
        found = assess(sentence.text)
        if found.flagged or found.needs_review:
            continue
        text, _ = screening.redact(sentence.text, hints=hints or screening.NO_HINTS)
        if text.casefold() in seen:
            continue
        seen.add(text.casefold())
        kept.append(Sentence(text, sentence.quotes))
        if len(kept) == MAX_SENTENCES:
            break
    return kept


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not _PROXY.match(k)}


def run_model(model: LocalModel, prompt: str) -> str:
    """The program's standard output for ``prompt``; raises :class:`ModelFailed`."""
    with tempfile.TemporaryDirectory(prefix="engage-summary-") as folder:
        prompt_file: Path | None = None
        if not model.reads_stdin:
            prompt_file = Path(folder) / "prompt.txt"
            # The folder is the creator's alone (mode 700): the quotes stay private.
            prompt_file.write_text(prompt, encoding="utf-8")
        argv = model.argv(prompt_file)
        try:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if model.reads_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # The program's messages may repeat the prompt: never read, never logged.
                stderr=subprocess.DEVNULL,
                env=_environment(),
                # Its own process group, so that a time-out stops any helper it started.
                start_new_session=True,
            )
        except OSError as exc:
            raise ModelFailed(f"{argv[0]!r} cannot be started ({exc.strerror})") from None
        with process:
            try:
                out, _ = process.communicate(
                    prompt.encode("utf-8") if model.reads_stdin else None, timeout=model.timeout
                )
            except subprocess.TimeoutExpired:
                _stop(process)
                raise ModelFailed(f"no answer within {model.timeout:g} s") from None
            except BaseException:
                _stop(process)
                raise
        if process.returncode != 0:
            raise ModelFailed(f"exit status {process.returncode}")
        return out[: MAX_OUTPUT * 4].decode("utf-8", errors="replace")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.communicate()


def summarise(
    theme: Mapping[str, Any], model: LocalModel, hints: Hints | None = None
) -> list[Sentence]:
    """The checked summary of one theme (redacted with the consultation's ``hints``);
    raises :class:`ModelFailed` when none survives."""
    quotes = list(theme["quotes"])
    prompt = build_prompt(str(theme["label"]), str(theme.get("description") or ""), quotes)
    output = _after_prompt(run_model(model, prompt))
    if not output.strip():
        raise ModelFailed("it wrote nothing")
    sentences = parse_summary(output, len(quotes))
    if not sentences:
        raise ModelFailed("no sentence cited the replies")
    kept = screen(sentences, hints)
    if not kept:
        raise ModelFailed("every sentence was dropped by the safety screen")
    return kept


def _after_prompt(output: str) -> str:
    """What follows the prompt, when the program repeats it before its answer (its
    example citations would otherwise read as a cited sentence)."""
    start = output.rfind(INSTRUCTIONS)
    if start < 0:
        return output
    end = output.find(_CUE, start)
    return output[end + len(_CUE) :] if end >= 0 else ""


def add_summaries(
    report: dict[str, Any],
    model: LocalModel,
    progress: Callable[[int, int], None] | None = None,
    hints: Hints | None = None,
) -> None:
    """Add ``summary`` to each theme of ``report`` the model summarises, and ``narrative``
    (the model's file name, themes summarised and failed, a note) to the report.

    ``progress`` is called with the themes done and the themes to do; ``hints`` are the
    consultation's (:func:`consultations.screening.hints_for`), which each kept sentence is
    redacted with, as the report's quotes are.
    """
    themes = report.get("themes") or []
    chosen = [(k, t) for k, t in enumerate(themes) if len(t.get("quotes") or ()) >= MIN_QUOTES]
    summarised = failed = 0
    for done, (number, theme) in enumerate(chosen):
        if progress is not None:
            progress(done, len(chosen))
        try:
            sentences = summarise(theme, model, hints)
        except Exception as exc:  # noqa: BLE001 - the report never depends on the model
            failed += 1
            # A failure's own message says why in engage's words; any other error is
            # named by its kind only, as its message might quote the theme.
            reason = str(exc) if isinstance(exc, ModelFailed) else type(exc).__name__
            log.warning(
                "theme summary: the local model %s gave none for theme %d of %d: %s",
                model.model.name,
                number + 1,
                len(themes),
                reason,
            )
            continue
        theme["summary"] = {
            "sentences": [{"text": s.text, "quotes": list(s.quotes)} for s in sentences]
        }
        summarised += 1
    if progress is not None:
        progress(len(chosen), len(chosen))
    report["narrative"] = {
        "model": model.model.name,
        "themes_summarised": summarised,
        "themes_failed": failed,
        "note": NOTE,
    }
