"""The fast signer of personal links makes exactly the tokens itsdangerous makes (uncompressed), so every
link reads back as before: tokens signed earlier, and earlier code reading new ones."""
import time

import pytest
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer, URLSafeTimedSerializer

from crm.security import FastDumps

PAYLOADS = [[4711, "newsletter"], 7, {"email": "zoë.müller@example.org", "ids": [1, 2]}, "vorschau", None]


@pytest.mark.parametrize("payload", PAYLOADS, ids=repr)
@pytest.mark.parametrize("kind", [URLSafeSerializer, URLSafeTimedSerializer], ids=["untimed", "timed"])
def test_the_token_is_itsdangerous_own_byte_for_byte_and_reads_back(kind, payload, monkeypatch):
    # The timed form carries the second of the signer's clock: both read the same clock here.
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: 1_800_000_000)
    serializer = kind("ein-geheimer-schluessel-fuer-tests", salt="crm.tests")
    fast = FastDumps(serializer)(payload)
    assert fast == serializer.dumps(payload)
    assert serializer.loads(fast) == payload


def test_a_tampered_or_foreign_token_is_refused_and_an_old_timed_one_expires(monkeypatch):
    serializer = URLSafeTimedSerializer("ein-geheimer-schluessel-fuer-tests", salt="crm.tests")
    token = FastDumps(serializer)([4711, "newsletter"])
    with pytest.raises(BadSignature):
        serializer.loads(("X" if token[0] != "X" else "Y") + token[1:])  # another payload, the same signature
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer("ein-geheimer-schluessel-fuer-tests", salt="crm.anderes").loads(token)
    made = time.time()
    monkeypatch.setattr(time, "time", lambda: made - 3600)
    old = FastDumps(serializer)(1)
    monkeypatch.undo()
    with pytest.raises(SignatureExpired):
        serializer.loads(old, max_age=60)
    assert serializer.loads(old, max_age=7200) == 1
