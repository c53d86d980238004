"""Kite's envelope from bytes: error decoding, the error_type → SDK exception table, and the 429 body."""

from __future__ import annotations

import pytest
from kiteconnect import exceptions as kex

from kitekit.errors import KitekitError, SessionExpiredError
from kitekit.wire.envelope import (
    TOO_MANY_REQUESTS,
    ErrorType,
    KiteError,
    RejectionError,
    decode_error,
    error_body,
    error_in,
    error_type_of,
    exception_class,
    exception_for,
    rate_limited_body,
    success_body,
)

JSON = "application/json"


def test_every_error_type_has_an_sdk_class_the_way_the_sdk_looks_it_up() -> None:
    for error_type in ErrorType:
        # The SDK does getattr(exceptions, name, GeneralException): the table must agree for every name.
        expected = getattr(kex, error_type.value, kex.GeneralException)
        assert exception_class(error_type) is expected, error_type
    assert exception_class(None) is kex.GeneralException


def test_error_types_with_their_own_class_map_back_and_the_rest_read_as_general() -> None:
    assert error_type_of(kex.TokenException("x")) is ErrorType.TOKEN
    assert error_type_of(SessionExpiredError("x")) is ErrorType.TOKEN  # our subclass still reads as a token error
    assert error_type_of(kex.NetworkException("x")) is ErrorType.NETWORK
    assert error_type_of(kex.GeneralException("x")) is ErrorType.GENERAL
    assert error_type_of(ValueError("x")) is None


def test_a_kite_error_body_decodes_to_its_type_message_and_status() -> None:
    body = b'{"status": "error", "message": "Order not found", "error_type": "OrderException", "data": null}'
    assert decode_error(500, JSON, body) == KiteError(500, ErrorType.ORDER, "Order not found", kite_json=True)


def test_a_decoded_answer_reads_as_the_same_error_its_bytes_do() -> None:
    body = b'{"status": "error", "message": "Order not found", "error_type": "OrderException", "data": null}'
    assert error_in({"status": "error", "message": "Order not found", "error_type": "OrderException"}, 500) == (
        decode_error(500, JSON, body)
    )
    assert error_in({"status": "success", "data": {"candles": []}}) is None


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        (error_body(ErrorType.NETWORK, TOO_MANY_REQUESTS), 429),
        (error_body(ErrorType.NETWORK, "Couldn't connect to the OMS."), 503),
        (error_body(ErrorType.TOKEN, "Incorrect `api_key` or `access_token`."), 403),
        ({"status": "error", "message": "odd", "error_type": "FooException"}, 500),
    ],
)
def test_an_error_without_an_http_status_gets_the_one_kite_sends_with_it(
    payload: dict[str, object], status: int
) -> None:
    error = error_in(payload)
    assert error is not None and error.status == status and error.kite_json


def test_an_error_type_in_a_200_answer_is_still_an_error_as_the_sdk_sees_it() -> None:
    body = b'{"status": "success", "error_type": "InputException", "message": "bad", "data": {}}'
    error = decode_error(200, "application/json; charset=utf-8", body)
    assert error is not None and error.error_type is ErrorType.INPUT


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (200, JSON, b'{"status": "success", "data": {"x": 1}}'),
        (200, "text/csv", b"instrument_token,exchange_token\r\n1,2\r\n"),
        (302, "text/html", b"<html>moved</html>"),
    ],
)
def test_successes_are_not_errors(status: int, content_type: str, body: bytes) -> None:
    assert decode_error(status, content_type, body) is None


@pytest.mark.parametrize(
    ("status", "content_type", "body", "says"),
    [
        (502, "text/html", b"<html><title>502 Bad Gateway</title></html>", "502 Bad Gateway"),
        (503, JSON, b'{"status": "err', "Couldn't parse the JSON"),
        (500, JSON, b"[1, 2]", "Unexpected JSON"),
        (400, JSON, b'{"status": "error", "message": "m", "error_type": "NoSuchException"}', "m"),
    ],
)
def test_malformed_or_foreign_error_answers_decode_without_a_kite_type(
    status: int, content_type: str, body: bytes, says: str
) -> None:
    error = decode_error(status, content_type, body)
    assert error is not None and error.error_type is None and says in error.message


def test_a_non_kite_answer_raises_a_data_exception_like_the_sdk() -> None:
    exc = exception_for(decode_error(502, "text/html", b"<html>nginx</html>") or KiteError(0, None, "", False))
    assert type(exc) is kex.DataException and exc.code == 502


def test_a_kite_error_raises_its_sdk_class_with_the_http_status_as_code() -> None:
    exc = exception_for(KiteError(400, ErrorType.MARGIN, "Insufficient funds", kite_json=True))
    assert type(exc) is kex.GeneralException and exc.code == 400 and str(exc) == "Insufficient funds"


def test_bodies_have_kites_exact_keys() -> None:
    assert success_body([1]) == {"status": "success", "data": [1]}
    assert error_body(ErrorType.INPUT, "m") == {
        "status": "error",
        "message": "m",
        "error_type": "InputException",
        "data": None,
    }
    assert rate_limited_body() == {"status": "error", "message": "Too many requests", "error_type": "NetworkException"}


def test_a_refusal_carries_what_kites_error_answer_carries() -> None:
    refusal = RejectionError(ErrorType.INPUT, "Invalid `quantity`.")
    assert (refusal.status, refusal.body()) == (400, error_body(ErrorType.INPUT, "Invalid `quantity`."))
    assert refusal.as_kite() == {
        "code": 400,
        "error_type": "InputException",
        "message": "Invalid `quantity`.",
        "data": None,
    }
    assert RejectionError(ErrorType.NETWORK, TOO_MANY_REQUESTS, 429).status == 429
    assert isinstance(refusal, KitekitError) and str(refusal) == "Invalid `quantity`."
