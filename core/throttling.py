"""API rate limits. Rates are read from settings at each request, not frozen when DRF is imported, so an
environment variable or a test's settings override takes effect."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling
from rest_framework.settings import api_settings

if TYPE_CHECKING:  # DRF imports the throttles while rest_framework.views is still loading
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _RateFromSettings(throttling.SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # drf-stubs type the rates as numbers; they are strings such as "100/hour"
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")  # type: ignore[return-value]

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class AnonRateThrottle(_RateFromSettings, throttling.AnonRateThrottle):
    """Anonymous callers, per address: everything they may call without a token (the schema, the docs)."""


class TokenEndpointsThrottle(_RateFromSettings, throttling.UserRateThrottle):
    """Creating, listing and revoking API tokens, per user."""

    scope = "tokens"
