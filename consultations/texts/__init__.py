"""Built-in texts, translated: the English source, the catalogues, and what chooses between them.

See :mod:`consultations.texts.catalogue` and docs/languages.md.
"""

from consultations.texts.catalogue import (
    BUILTIN,
    ENGLISH,
    LOCALE_DIR,
    STANDS_IN,
    Texts,
    available_languages,
    catalogue_for,
    missing_texts,
    negotiate,
    placeholders,
    texts_for,
    words_marked,
)

__all__ = [
    "BUILTIN",
    "ENGLISH",
    "LOCALE_DIR",
    "STANDS_IN",
    "Texts",
    "available_languages",
    "catalogue_for",
    "missing_texts",
    "negotiate",
    "placeholders",
    "texts_for",
    "words_marked",
]
