"""The force's secret key, for signing watchlists and audit lines (HMAC-SHA256).

It comes from the environment, ``$LFR_BATCH_KEY``, so that it is never written
into a config file, a report or a command line that ``ps`` shows. Any bytes make a
key: it is taken as the bytes the environment holds, never decoded as text.
"""

from __future__ import annotations

import hashlib
import hmac
import os

SIGNING_KEY_ENV = "LFR_BATCH_KEY"


def signing_key() -> bytes | None:
    """The key, if one is set."""
    return os.environb.get(SIGNING_KEY_ENV.encode("ascii")) or None


def sign(key: bytes, data: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def signature_matches(key: bytes, data: bytes, stated: str | bytes) -> bool:
    expected = sign(key, data)
    given = stated.decode("ascii", "replace") if isinstance(stated, bytes) else str(stated)
    return hmac.compare_digest(expected, given)
