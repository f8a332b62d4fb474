"""Pages from Jinja2 templates in ``bot/web/templates/``, with autoescape on.

Every value a template shows is escaped unless it is marked safe, so a page is safe by
its structure, not by each piece of code remembering to escape. A page is a frozen
dataclass naming its template; its fields are what the template may use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import aiohttp_jinja2
import jinja2
from aiohttp import web
from jinja2.ext import Extension

from consultations.insights.render import own_words
from consultations.texts import ENGLISH, Texts

_LINE_BREAK = re.compile(r"\n[ \t]*")

#: Characters one free text sent from the web page may hold (an answer to a prompt, a
#: thread post, a statement): about four pages. Its screening and analysis take time in
#: proportion to its length, and a form may carry 256 KiB, which took seconds a post.
TEXT_MAX = 10_000


class CompactLines(Extension):
    """Joins the lines of an HTML template: each newline and the indentation after it go.

    Templates are laid out an element a line so they can be read; the pages come out as
    compact markup, so inline elements never gain stray spaces between them. Text that
    needs a space keeps it on one line. Only ``.html`` templates are joined: an included
    stylesheet keeps its lines.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Drop line breaks and indentation from an HTML template's source."""
        if name is None or not name.endswith(".html"):
            return source
        return _LINE_BREAK.sub("", source)


def environment_options() -> dict[str, Any]:
    """The settings every template environment of the web app uses."""
    return {
        "autoescape": True,
        "undefined": jinja2.StrictUndefined,
        "extensions": [CompactLines],
        # The templates ship inside the package and do not change while it runs; with
        # reloading on, every page render would stat each template it uses for a change.
        "auto_reload": False,
    }


def stylesheets() -> list[str]:
    """The text of each page's one ``<style>`` element, exactly as sent: the consultation
    pages' and the dashboard's. The CSP allows these by their hashes, not any inline style."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("bot.web", "templates"), **environment_options()
    )
    shared = environment.get_template("base.css").render()
    return [shared, shared + environment.get_template("dashboard/dashboard.css").render()]


def setup(app: web.Application) -> None:
    """Give ``app`` the template engine (aiohttp-jinja2) over ``bot/web/templates/``."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("bot.web", "templates"),
        default_helpers=False,
        **environment_options(),
    )
    environment.globals["text_max"] = TEXT_MAX
    # A consultation's own words on an English page, marked with its language.
    environment.filters["own_words"] = own_words


@dataclass(frozen=True)
class Page:
    """What one page shows; subclasses name their template and declare their fields.

    Every built-in word on a page comes from :attr:`words` (``t("key")`` in the
    template): a consultation's page speaks its language, with its spec's overrides;
    other pages speak English. ``lang`` and ``dir`` on ``<html>`` follow the same choice.
    """

    template: ClassVar[str]

    @property
    def words(self) -> Texts:
        """The built-in texts this page is worded in."""
        return ENGLISH

    def context(self) -> dict[str, Any]:
        """The template's variables: the page's fields, by name, and its words as ``t``."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        words = self.words
        values.update(t=words, lang=words.language, dir=words.direction)
        return values


def render(request: web.Request, page: Page, *, status: int = 200) -> web.Response:
    """An HTML response holding ``page`` rendered from its template."""
    return aiohttp_jinja2.render_template(page.template, request, page.context(), status=status)


def render_string(request: web.Request, page: Page) -> str:
    """``page`` rendered from its template, as text (for error responses)."""
    return aiohttp_jinja2.render_string(page.template, request, page.context())
