"""API keys as values: what a token looks like, how it is read back, and what is kept of it."""
from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import api_keys


def test_an_issued_key_reads_back_and_only_its_digest_is_kept() -> None:
    issued = api_keys.issue()
    parsed = api_keys.parse(issued.token)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == issued.key_id and issued.token == f"tapi.{key_id}.{secret}"
    assert issued.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in issued.secret_digest and api_keys.matches(secret, issued.secret_digest)
    assert not api_keys.matches(secret[:-1] + ("A" if secret[-1] != "A" else "B"), issued.secret_digest)


def test_secrets_carry_at_least_128_bits_and_ids_do_not_repeat() -> None:
    issued = [api_keys.issue() for _ in range(2000)]
    assert len({key.key_id for key in issued}) == len(issued)
    secret = issued[0].token.rsplit(".", 1)[1]
    assert len(secret) * 6 >= 256  # url-safe base64: six bits a character


@given(st.text(max_size=120))
def test_anything_else_is_not_a_key(text: str) -> None:
    parsed = api_keys.parse(text)
    assert parsed is None or text.startswith("tapi.")


@given(st.sampled_from(["Bearer", "bearer", "BEARER"]), st.text(alphabet="abc.123", min_size=1, max_size=20))
def test_the_bearer_scheme_is_read_in_any_case(scheme: str, token: str) -> None:
    assert api_keys.bearer_token(f"{scheme} {token}") == token
    assert api_keys.bearer_token(f"Basic {token}") is None
    assert api_keys.bearer_token(scheme) is None
