"""The status → action policy: what each answer raises, and nothing personal in the excerpt."""

from __future__ import annotations

import httpx
import pytest

from pipeline.errors import AuthError, FatalError, RateLimited, RetriableError
from pipeline.http.policy import raise_for_response


def answer(status: int, body: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=body, headers=headers or {},
                          request=httpx.Request("POST", "https://a.klaviyo.test/api/events"))


@pytest.mark.parametrize(("status", "error"), [(429, RateLimited), (503, RetriableError), (500, RetriableError),
                                                (400, FatalError), (422, FatalError), (401, AuthError),
                                                (403, AuthError)])
def test_each_status_raises_what_the_caller_should_do(status: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        raise_for_response(answer(status, "{}"), what="POST /api/events")


def test_a_success_passes_through() -> None:
    ok = answer(202)
    assert raise_for_response(ok, what="POST /api/events") is ok


def test_the_response_excerpt_masks_emails_and_phones() -> None:
    body = '{"errors":[{"detail":"profile jane.doe@example.test / +14155550123 is invalid"}]}'
    with pytest.raises(FatalError) as info:
        raise_for_response(answer(400, body), what="POST /api/events")
    excerpt = info.value.response_excerpt
    assert "jane.doe@example.test" not in excerpt and "4155550123" not in excerpt
    assert "j***@example.test" in excerpt and "is invalid" in excerpt
