"""A platform's 2xx answer that is not a JSON object is a retriable contract breach, never a bug."""

from __future__ import annotations

import httpx
import pytest

from pipeline.destinations.base import answer_json
from pipeline.errors import RetriableError


@pytest.mark.parametrize("content", [b"<html>gateway</html>", b"", b"[1, 2]", b"null"])
def test_a_2xx_without_a_json_object_is_retriable_and_named(content: bytes) -> None:
    response = httpx.Response(200, content=content)
    with pytest.raises(RetriableError, match=r"GET /api/v2/subscribers: 200 answer is not a JSON object"):
        answer_json(response, "GET /api/v2/subscribers")


def test_a_json_object_is_returned_as_is() -> None:
    assert answer_json(httpx.Response(200, json={"subscribers": []}), "GET /api/v2/subscribers") == {"subscribers": []}
