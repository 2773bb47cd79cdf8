"""Webhook settings: `LIVEROOM_WEBHOOK_*` environment variables (docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """Where progress events go and how hard the node tries. No URL: no webhooks."""

    model_config = SettingsConfigDict(env_prefix="LIVEROOM_WEBHOOK_")

    urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Receivers (http:// or https://), comma-separated; "
        "every event goes to each")
    secret: str = Field(default="", description="HMAC-SHA256 signing secret; read or "
                        "created in the data dir (webhook-secret) if empty")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Bound on each attempt")
    max_attempts: int = Field(default=30, ge=1, le=1000, description="Attempts per event "
                              "and receiver before it is set aside (webhooks/abandoned.jsonl)")
    backoff_base_s: float = Field(default=1.0, gt=0, description="Wait after the first "
                                  "failure; doubled after each one, with jitter")
    backoff_cap_s: float = Field(default=600.0, gt=0, description="Longest wait between "
                                 "attempts")
    max_queue: int = Field(default=10_000, ge=10, description="Deliveries held at most; "
                           "past it the oldest is set aside (abandoned.jsonl)")

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("urls")
    @classmethod
    def _http(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")) or " " in url:
                raise ValueError(f"expected http:// or https:// URLs, comma-separated, "
                                 f"not {url!r}")
        return value
