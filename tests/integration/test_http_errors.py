"""Bad requests get the one error shape with a 4xx status, never a 500."""
from __future__ import annotations

import pytest

from tests.integration.helpers import assert_error


@pytest.mark.parametrize("raw", [b"{", b"not json", b"\xff\xfe", b'{"username": NaN, "balance": 1}'])
def test_body_that_is_not_json_is_400(api, raw: bytes) -> None:
    response = api.raw.post("/users", body=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_request")


@pytest.mark.parametrize("raw", [b"[]", b'"alice"', b"42", b"null", b""])
def test_body_that_is_not_an_object_is_400(api, raw: bytes) -> None:
    assert_error(api.raw.post("/users", body=raw, headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_is_415(api, content_type: str) -> None:
    response = api.raw.post("/users", body=b'{"username":"alice","balance":1}', headers={"Content-Type": content_type})
    assert_error(response, 415, "unsupported_media_type")


def test_a_body_without_a_content_type_is_415_and_never_taken_for_json(api) -> None:
    response = api.raw.post("/users", body=b'{"username":"alice","balance":1}', headers={})
    assert_error(response, 415, "unsupported_media_type")
    assert api.get("/users/alice").status_code == 404  # nothing was registered (asked with the admin key)


def test_json_content_type_with_charset_is_accepted(api) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert api.raw.post("/users", body=b'{"username":"alice","balance":1}', headers=headers).status_code == 201


def test_oversize_body_is_413(api) -> None:
    raw = b'{"username": "alice", "balance": 1, "padding": "' + b"x" * (70 * 1024) + b'"}'
    assert_error(api.raw.post("/users", body=raw, headers={"Content-Type": "application/json"}), 413)


@pytest.mark.parametrize("method, path", [("PUT", "/users"), ("DELETE", "/stocks/AAPL"), ("PATCH", "/stocks")])
def test_wrong_method_is_405_in_the_error_shape(api, method: str, path: str) -> None:
    response = api.raw.request(method, path, headers={"Content-Type": "application/json"}, body=b"{}")
    assert_error(response, 405, "method_not_allowed")
