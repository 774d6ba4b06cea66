"""The error of a refused bearer token (shared by the gateway and the API server)."""

from __future__ import annotations

__all__ = ["TokenError"]


class TokenError(Exception):
    """A token that did not validate: `.reason` is a short metric label, `.message` says why. Neither ever
    contains the token."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
