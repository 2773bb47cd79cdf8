"""Recorder settings: `LIVEROOM_RECORDING_*` environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .consent import Policy


class RecorderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVEROOM_RECORDING_")

    policy: Policy = Field(default=Policy.OFF, description="Rooms' default recording policy")
    learner_video: bool = Field(default=True, description="False: learner video never kept")
    auto_start: bool = Field(
        default=False, description="Start recording when a room opens (if policy is not off)")
    kek: str = Field(default="", description="Key-encryption key, base64 of 32 bytes; "
                     "read or created in the data dir if empty")
    segment_s: float = Field(default=4.0, gt=0.5, le=60.0)
    queue_packets: int = Field(default=2000, ge=50)
    retention_days: float = Field(default=30.0, gt=0)
    storage: str = Field(default="local", pattern="^(local|s3)$")
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
