"""One platform's wire encoding (``PlatformSpec.encoding``): how a catalog display name becomes
the platform's event name and which request (method, path, body) carries an event or a profile update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.types import Event, ProfileUpdate

__all__ = ["Encoding"]


@dataclass(frozen=True)
class Encoding:
    event_name: Callable[[str], str]
    event_path: str
    encode_event: Callable[..., dict[str, Any]]
    profile_path: str
    encode_profile: Callable[[ProfileUpdate], dict[str, Any]]
    rules: str

    def event_request(self, event: Event, *, delivery_id: str) -> dict[str, Any]:
        return {"method": "POST", "path": self.event_path, "body": self.encode_event(event, delivery_id=delivery_id)}

    def profile_request(self, update: ProfileUpdate) -> dict[str, Any]:
        return {
            "method": self.profile_path.split(" ", 1)[0],
            "path": self.profile_path.split(" ", 1)[1],
            "body": self.encode_profile(update),
        }
