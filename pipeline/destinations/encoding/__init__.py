"""Per-platform wire encoding, separate from the catalog: one row per platform.

Each row says how a catalog display name becomes the platform's event name and which
request (method, path, body) carries an event or a profile update.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.destinations.encoding import attentive, klaviyo, postscript
from pipeline.types import Event, ProfileUpdate

__all__ = ["ENCODINGS", "Encoding", "encoding"]


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
        return {"method": self.profile_path.split(" ", 1)[0], "path": self.profile_path.split(" ", 1)[1],
                "body": self.encode_profile(update)}


def _postscript_profile(update: ProfileUpdate) -> dict[str, Any]:
    return {"properties": postscript.encode_properties(update.properties)}


ENCODINGS: Mapping[str, Encoding] = {
    "postscript": Encoding(
        event_name=postscript.event_type, event_path="/api/v2/events", encode_event=postscript.encode_event,
        profile_path="PATCH /api/v2/subscribers/{subscriber_id}", encode_profile=_postscript_profile,
        rules="type: letters, digits, underscores only; occurred_at UTC `%Y-%m-%d %H:%M:%S.%f`"),
    "attentive": Encoding(
        event_name=attentive.event_type, event_path=attentive.EVENTS_PATH, encode_event=attentive.encode_event,
        profile_path=f"POST {attentive.ATTRIBUTES_PATH}", encode_profile=attentive.encode_attributes,
        rules="type without \" ' ( ) { } [ ] \\ | ,; occurredAt RFC 3339 UTC; E.164 phones; no arrays"),
    "klaviyo": Encoding(
        event_name=klaviyo.metric_name, event_path=klaviyo.EVENTS_PATH, encode_event=klaviyo.encode_event,
        profile_path=f"POST {klaviyo.PROFILE_IMPORT_PATH}", encode_profile=klaviyo.encode_profile,
        rules="metric name under 128 characters; time ISO 8601 UTC; JSON:API bodies"),
}


def encoding(platform: str) -> Encoding:
    try:
        return ENCODINGS[platform]
    except KeyError:
        raise ValueError(f"unknown platform {platform!r}; known: {', '.join(ENCODINGS)}") from None
