"""Typed node settings, read once at start from LIVEROOM_* environment variables."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recorder.config import RecorderSettings


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything a node needs. Defaults run one node with no other services."""

    model_config = SettingsConfigDict(env_prefix="LIVEROOM_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = Field(default="", description="Base URL clients use, for join links")
    data_dir: Path = Path("var")
    token_secret: str = Field(default="", description="HS256 secret; read or created in data_dir")
    api_key: str = Field(default="", description="Admin API key; read or created in data_dir")
    token_ttl_s: int = 3600
    max_participants: int = 8
    room_empty_grace_s: float = 30.0
    reconnect_grace_s: float = Field(default=60.0, description="A lost participant's seat is held")
    stall_video_s: float = Field(default=2.0, description="No video this long: reconnecting")
    quality_interval_s: float = Field(
        default=1.0, description="How often connection quality is scored")
    stall_audio_s: float = Field(
        default=5.0, description="No audio (audio-only) this long, allows DTX")
    auto_create_rooms: bool = True
    max_message_bytes: int = 64 * 1024
    join_timeout_s: float = 10.0
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Addresses for ICE host candidates; all if empty"
    )
    announced_address: str = ""
    ice_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_json: bool = False
    uvloop: bool = Field(default=False, description="Run the node's event loop on uvloop "
                         "(measured in docs/performance.md)")
    dev: bool = False
    recording: RecorderSettings = Field(  # LIVEROOM_RECORDING_* (recorder/config.py)
        default_factory=RecorderSettings)

    @field_validator("ice_host_addresses", "ice_servers", mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        return _split(value)

    def resolved_secret(self) -> str:
        return self.token_secret or _read_or_create(self.data_dir / "token-secret")

    def resolved_api_key(self) -> str:
        return self.api_key or _read_or_create(self.data_dir / "api-key")

    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


def _read_or_create(path: Path) -> str:
    """A per-installation secret kept in the data directory (mode 0600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value
