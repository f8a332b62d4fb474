"""The built-in web channel: a page per open consultation at ``/c/ID``."""

from adapters.web.adapter import WebAdapter

__all__ = ["WebAdapter"]
