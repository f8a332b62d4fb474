"""Keep the catalogues in step with the English texts: ``python -m consultations.texts``.

- ``update``: writes ``locale/engage.pot`` from :data:`BUILTIN` and brings every
  ``LANG.po`` up to date with it (new texts added untranslated, changed ones marked fuzzy,
  removed ones dropped), using Babel's own merge.
- ``new LANG``: starts ``locale/LANG.po`` with every text untranslated.
- ``check [LANG...]``: lists the texts each language lacks; exit 1 when any does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from consultations.texts.builtin import BUILTIN
from consultations.texts.catalogue import LOCALE_DIR, missing_texts

TEMPLATE = LOCALE_DIR / "engage.pot"


def template() -> Catalog:
    """Every built-in text as an untranslated gettext entry: key as context, English as id."""
    catalogue = Catalog(project="engage", charset="utf-8", fuzzy=False)
    for key, english in BUILTIN.items():
        catalogue.add(english, context=key, auto_comments=[key])
    return catalogue


def _write(catalogue: Catalog, path: Path) -> None:
    with path.open("wb") as handle:
        write_po(handle, catalogue, width=88, omit_header=False, sort_output=False)


def update() -> list[Path]:
    """Write the template and merge it into every catalogue; the paths written."""
    fresh = template()
    _write(fresh, TEMPLATE)
    written = [TEMPLATE]
    for path in sorted(LOCALE_DIR.glob("*.po")):
        with path.open("rb") as handle:
            catalogue = read_po(handle, locale=path.stem)
        catalogue.update(fresh, no_fuzzy_matching=False)
        catalogue.obsolete.clear()
        _write(catalogue, path)
        written.append(path)
    return written


def new(language: str) -> Path:
    """Start a catalogue for ``language``; refuses to overwrite one."""
    path = LOCALE_DIR / f"{language}.po"
    if path.exists():
        raise SystemExit(f"{path} exists already; run `update` to add new texts to it")
    catalogue = Catalog(locale=language, project="engage", charset="utf-8", fuzzy=False)
    for key, english in BUILTIN.items():
        catalogue.add(english, context=key, auto_comments=[key])
    _write(catalogue, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consultations.texts")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("update", help="bring every catalogue up to date with the English")
    start = commands.add_parser("new", help="start a catalogue for a language")
    start.add_argument("language")
    check = commands.add_parser("check", help="list the texts each language lacks")
    check.add_argument("languages", nargs="*")
    args = parser.parse_args(argv)
    if args.command == "update":
        for path in update():
            print(f"wrote {path}")
        return 0
    if args.command == "new":
        print(f"wrote {new(args.language)}")
        return 0
    languages = args.languages or [path.stem for path in sorted(LOCALE_DIR.glob("*.po"))]
    status = 0
    for language in languages:
        lacking = missing_texts(language)
        print(f"{language}: {'complete' if not lacking else 'missing ' + ', '.join(lacking)}")
        status = 1 if lacking else status
    return status


if __name__ == "__main__":
    sys.exit(main())
