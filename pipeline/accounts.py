"""The accounts a connections file declares (pipeline/config.py reads and validates them).

A leaf module: the adapters name these types without depending on the config reader, which
itself reads the adapters' specs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Connection", "PlatformAccount", "ProviderAccount", "Secret"]


class Secret:
    """A credential value that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself: call this only where it goes onto the wire."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, kw_only=True)
class ProviderAccount:
    """Where one merchant's loyalty activity is pulled from."""

    kind: str
    base_url: str
    credential_env: str
    credential: Secret = field(repr=False)
    rate_per_s: float | None  # None: the documented limits (pipeline/ratelimit/limits.py)
    rate_scale: float = 1.0  # multiplies every documented window of this account
    sync_interval_s: float = 300.0
    lookback_s: float = 120.0
    page_size: int = 250
    webhook_secret_env: str | None = None
    webhook_secret: Secret | None = field(default=None, repr=False)


@dataclass(frozen=True, kw_only=True)
class PlatformAccount:
    """One messaging platform connected to a merchant, with its per-integration policy."""

    kind: str
    base_url: str
    credential_env: str
    credential: Secret = field(repr=False)
    rate_per_s: float | None  # None: the documented limits (pipeline/ratelimit/limits.py)
    rate_scale: float = 1.0  # multiplies every documented window of this account
    unknown_subscriber: str = "skip"


@dataclass(frozen=True, kw_only=True)
class Connection:
    """A merchant: one provider account fanned out to its platforms."""

    merchant: str
    provider: ProviderAccount
    platforms: tuple[PlatformAccount, ...]

    def platform(self, kind: str) -> PlatformAccount:
        """The connected platform of that kind; KeyError if not connected."""
        for account in self.platforms:
            if account.kind == kind:
                return account
        raise KeyError(f"{self.merchant} has no {kind} platform")
