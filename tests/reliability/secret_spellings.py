"""The spellings a secret takes on its way through other programs, and the pieces of each
that must never be shown. Run as a script (``python secret_spellings.py NAME``) it prints
the spelling ``NAME`` of ``$SPELL_TOKEN`` on stdout and stderr, like a careless command.

``url-password`` is not a spelling of the token: it is a password no one declared secret,
in a URL's userinfo (derived from the token only so every process computes the same one).
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from collections.abc import Callable
from urllib.parse import quote, quote_plus


def _b64(text: str, *, urlsafe: bool = False, pad: bool = True) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    out = encode(text.encode()).decode()
    return out if pad else out.rstrip("=")


def url_password(token: str) -> str:
    return "pw-" + hashlib.sha256(token.encode()).hexdigest()[:24]


def _half(token: str, sep: str) -> str:
    return token[: len(token) // 2] + sep + token[len(token) // 2 :]


SPELLINGS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "mixed-case": lambda t: "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(t)),
    "url-encoded": lambda t: quote(t, safe=""),
    "form-encoded": quote_plus,
    "base64": _b64,
    "base64-urlsafe-unpadded": lambda t: _b64(t, urlsafe=True, pad=False),
    # user:key, with users of three lengths: the key at each base64 alignment
    "basic-auth-align0": lambda t: _b64("ci:" + t),
    "basic-auth-align1": lambda t: _b64("ops:" + t),
    "basic-auth-align2": lambda t: _b64("bots:" + t, urlsafe=True, pad=False),
    "split-lf": lambda t: _half(t, "\n"),
    "split-crlf": lambda t: _half(t, "\r\n"),
    "url-password": lambda t: f"https://deploy:{url_password(t)}@origin.example/x",
}

#: spellings an HTTP header (a redirect's Location) cannot carry
NOT_IN_HEADERS = {"split-lf", "split-crlf"}


def pieces(name: str, token: str) -> list[str]:
    """What must appear nowhere: the spelling, each side of a line break in it on its own,
    and (for ``url-password``) the password."""
    if name == "url-password":
        return [url_password(token)]
    spelled = SPELLINGS[name](token)
    if name.startswith("basic-auth"):
        return [spelled[8:-4]]  # what only the key decides, not the user or the padding
    return [part for part in spelled.replace("\r\n", "\n").split("\n") if part]


if __name__ == "__main__":
    text = SPELLINGS[sys.argv[1]](os.environ["SPELL_TOKEN"])
    print("spelled", text)
    print("spelled", text, file=sys.stderr)
