"""The recorder's one error type, with stable codes."""

from __future__ import annotations

from enum import StrEnum


class RecorderCode(StrEnum):
    BAD_ID = "bad_id"
    NOT_FOUND = "recording_not_found"
    SEGMENT_REFUSED = "segment_refused"  # tampered, swapped, truncated or another session's
    KEY_ERASED = "key_erased"
    CORRUPT = "corrupt_media"
    ALREADY_RECORDING = "already_recording"
    NOT_RECORDING = "not_recording"
    STORAGE = "storage_failed"
    NOT_FINALIZED = "recording_not_finalized"  # still recording: nothing to render yet
    TIMED_OUT = "render_timed_out"
    FORMAT_UNAVAILABLE = "render_format_unavailable"  # no such format or no encoder for it


class RecorderError(Exception):
    def __init__(self, code: RecorderCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
