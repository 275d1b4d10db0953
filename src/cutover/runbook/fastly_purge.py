"""What a fastly purge step (and ``rollback.purge``) removes from a service's caches."""

from __future__ import annotations

from pydantic import Field, model_validator

from cutover.runbook.types import Model


class FastlyPurge(Model):
    """Purge cached objects of one service: URLs, surrogate keys, or everything.

    A purge cannot be undone (nor needs to be: the caches refill from the origins), so a
    purge step's rollback does nothing. ``soft`` marks the objects stale instead of
    removing them (``Fastly-Soft-Purge: 1``); Fastly has no soft purge-all.
    """

    urls: list[str] = Field(
        default_factory=list,
        description="URLs to purge (`https://host/path?query`; the scheme is not part of the"
        " cache key)",
    )
    keys: list[str] = Field(
        default_factory=list, description="surrogate keys to purge (`Surrogate-Key` values)"
    )
    all: bool = Field(False, description="purge everything the service has cached")
    soft: bool = Field(False, description="mark stale instead of removing (not with `all`)")

    @model_validator(mode="after")
    def _something_to_purge(self) -> FastlyPurge:
        if not (self.urls or self.keys or self.all):
            raise ValueError("a purge needs `urls`, `keys` or `all: true`")
        if self.all and (self.urls or self.keys):
            raise ValueError("`all: true` purges everything: drop `urls` and `keys`")
        if self.all and self.soft:
            raise ValueError("Fastly has no soft purge-all: drop `soft`, or purge `keys` softly")
        if any(not k or any(c.isspace() for c in k) for k in self.keys):
            raise ValueError("a surrogate key is one word: no spaces, not empty")
        return self
