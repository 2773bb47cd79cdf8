"""Typed node settings, read once at start from LIVEROOM_* environment variables."""

from __future__ import annotations

import ipaddress
import re
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recorder.config import RecorderSettings

from .flags import load_flag_file
from .webhooks_config import WebhookSettings


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything a node needs. Defaults run one node with no other services."""

    model_config = SettingsConfigDict(env_prefix="LIVEROOM_", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = Field(default="", description="Base URL clients use, for join links")
    data_dir: Path = Path("var")
    token_secret: str = Field(default="", description="HS256 secret; read or created in data_dir")
    api_key: str = Field(default="", description="Admin API key; read or created in data_dir")
    token_ttl_s: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    max_participants: int = Field(default=8, ge=1, le=256)  # the benchmark's room: N <= 256
    room_empty_grace_s: float = Field(default=30.0, ge=0)
    reconnect_grace_s: float = Field(default=60.0, ge=0,
                                     description="A lost participant's seat is held")
    stall_video_s: float = Field(default=2.0, gt=0,
                                 description="No video this long: reconnecting")
    quality_interval_s: float = Field(
        default=1.0, gt=0, description="How often connection quality is scored")
    stall_audio_s: float = Field(
        default=5.0, gt=0, description="No audio (audio-only) this long, allows DTX")
    starved_lag_s: float = Field(
        default=0.2, gt=0, description="Event-loop lag that means the node itself was "
        "starved: silence and ICE consent failures until then are not blamed on clients")
    admission_max_loop_lag_s: float = Field(
        default=0.1, ge=0, description="Mean event-loop lag over the admission window that "
        "makes the node refuse new participants and rooms (node_overloaded); 0: off")
    admission_max_cpu_cores: float = Field(
        default=0.85, ge=0, description="Mean process CPU (cores) over the admission window "
        "that makes the node refuse new participants and rooms; 0: off")
    admission_window_s: float = Field(
        default=5.0, gt=0, description="How long the load must last before the node "
        "refuses; also the retry advice given to refused clients")
    admission_refuse: bool = Field(
        default=True, description="Refuse new participants and rooms while overloaded "
        "(false: only measure, shed and report)")
    shed_video: bool = Field(
        default=True, description="While overloaded, stop forwarding learners' videos "
        "(to learners first, then to the tutor); the tutor's video and audio are kept")
    audio_only_fallback: bool = Field(
        default=True, description="Pause a subscriber's video while its link cannot carry "
        "it, keeping the audio (media/fallback.py); a per-room flag (LIVEROOM_FLAGS_FILE)")
    shed_step_s: float = Field(
        default=5.0, gt=0, description="Time between shedding steps up (down: twice this)")
    udp_rcvbuf_bytes: int = Field(
        default=1024 * 1024, ge=0, description="SO_RCVBUF asked for every ICE UDP "
        "socket (aioice asks 256 KiB); capped by net.core.rmem_max; 0 leaves aioice's")
    auto_create_rooms: bool = True
    max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    ws_rate: float = Field(default=20.0, gt=0, description="Requests a second per socket")
    ws_burst: int = Field(default=100, ge=1, description="Requests a socket may send at once; "
                          "as many more past its limit close it (4029)")
    join_timeout_s: float = Field(default=10.0, gt=0)
    shutdown_timeout_s: float = Field(
        default=5.0, gt=0, description="SIGTERM/SIGINT: the process exits within this long")
    ice_host_addresses: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Addresses for ICE host candidates; all if empty"
    )
    announced_address: str = ""
    ice_servers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    turn_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="TURN servers handed to every participant with "
        "time-limited credentials (turn:host:port?transport=tcp, turns:...); empty: none")
    turn_secret: str = Field(default="", validate_default=True, description="The TURN "
                             "server's shared secret (coturn's static-auth-secret); required "
                             "with turn_urls")
    turn_ttl_s: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600,
                            description="How long handed-out TURN credentials stay valid")
    ice_transport_policy: Literal["all", "relay"] = Field(
        default="all", validate_default=True, description="The page's ICE policy: relay "
        "sends all media through the TURN servers (it needs turn_urls)")
    log_json: bool = False
    uvloop: bool = Field(default=False, description="Run the node's event loop on uvloop "
                         "(measured in docs/performance.md)")
    dev: bool = False
    redis_url: str = Field(default="", description="The cluster's room directory "
                           "(redis://host:port/db); empty: one node, no services")
    node_id: str = Field(default="", pattern=r"^[A-Za-z0-9_-]{0,64}$", description="This "
                         "node's id in the directory; empty: a new random one at each start")
    heartbeat_s: float = Field(default=2.0, gt=0, description="How often the node "
                               "refreshes its directory record and its rooms' leases")
    node_ttl_s: float = Field(default=6.0, gt=0, description="A node is alive while its "
                              "last heartbeat is younger than this")
    room_lease_s: float = Field(default=15.0, gt=0, description="A room's placement "
                                "lasts this long unless its owner renews it")
    redis_timeout_s: float = Field(default=1.0, gt=0, description="Bound on each "
                                   "directory call")
    room_events_maxlen: int = Field(default=1000, ge=10, le=100_000, description="Events "
                                    "each room's stream keeps for catch-up (Redis MAXLEN ~)")
    room_events_max_s: float = Field(default=3600.0, gt=0, description="A room-events "
                                     "stream (GET /v1/rooms/{id}/events) ends after this "
                                     "long; the consumer reconnects with Last-Event-ID")
    flags_file: str = Field(default="", description="Feature flags by cohort, segment and "
                            "channel (JSON with a version; docs/operations.md); empty: "
                            "every room runs as the settings say")
    canary: bool = Field(default=False, description="Register as a canary: the directory "
                         "places only LIVEROOM_CANARY_SHARE of new rooms here")
    canary_share: float = Field(default=0.1, ge=0, le=1, description="The share of new "
                                "rooms (0-1) a canary node takes, by a stable hash")
    canary_by: Literal["room", "cohort"] = Field(
        default="room", description="What the canary's hash is of: the room id, or the "
        "cohort claim of the token that places the room (the room id if it has none)")
    page_connect_src: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="In a cluster: the sources (CSP connect-src) the "
        "join page may open sockets to, the nodes' (e.g. wss://*.lessons.example); empty: "
        "any ws:/wss: origin")
    drain_deadline_s: float = Field(default=60.0, ge=0, description="A drain (`liveroom "
                                    "drain`, or SIGTERM with drain_on_sigterm) moves the "
                                    "rooms and exits at the latest after this long")
    drain_on_sigterm: bool = Field(default=False, description="SIGTERM drains (rooms move "
                                   "to other nodes) before the node stops, instead of "
                                   "closing its rooms")
    recording: RecorderSettings = Field(  # LIVEROOM_RECORDING_* (recorder/config.py)
        default_factory=RecorderSettings)
    webhook: WebhookSettings = Field(  # LIVEROOM_WEBHOOK_* (signalling/webhooks_config.py)
        default_factory=WebhookSettings)

    @field_validator("ice_host_addresses", "ice_servers", "turn_urls", "page_connect_src",
                     mode="before")
    @classmethod
    def _split_lists(cls, value: object) -> object:
        return _split(value)

    @field_validator("ice_host_addresses")
    @classmethod
    def _ip_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _ip(address, "expected IP addresses, comma-separated")
        return value

    @field_validator("flags_file")
    @classmethod
    def _flags(cls, value: str) -> str:
        if value:  # read again by the node (FlagBook): checked here to say what is wrong
            load_flag_file(Path(value))
        return value

    @field_validator("page_connect_src")
    @classmethod
    def _csp_sources(cls, value: list[str]) -> list[str]:
        for source in value:
            if not re.fullmatch(r"[A-Za-z0-9*:/._-]+", source):
                raise ValueError(f"expected CSP sources such as wss://*.example.org, "
                                 f"comma-separated, not {source!r}")
        return value

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not (value.startswith(("http://", "https://")) and " " not in value):
            raise ValueError(f"expected an http:// or https:// URL, not {value!r}")
        return value

    @field_validator("announced_address")
    @classmethod
    def _announced(cls, value: str) -> str:
        return _ip(value, "expected an IP address (the node's public one)") if value else value

    @field_validator("ice_servers")
    @classmethod
    def _ice_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            scheme, _, rest = url.partition(":")
            if scheme not in ICE_SCHEMES or not rest or rest.startswith("//"):
                raise ValueError(f"expected stun:, stuns:, turn: or turns: URLs "
                                 f"(e.g. stun:stun.example.org:3478), not {url!r}")
        return value

    @field_validator("turn_urls")
    @classmethod
    def _turn_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            scheme, _, rest = url.partition(":")
            if scheme not in ("turn", "turns") or not rest or rest.startswith("//"):
                raise ValueError(f"expected turn: or turns: URLs "
                                 f"(e.g. turn:turn.example.org:3478?transport=tcp), not {url!r}")
        return value

    @field_validator("turn_secret")
    @classmethod
    def _turn_secret(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("turn_urls") and not value:
            raise ValueError("LIVEROOM_TURN_URLS needs the TURN server's shared secret")
        return value

    @field_validator("ice_transport_policy")
    @classmethod
    def _relay_needs_turn(cls, value: str, info: ValidationInfo) -> str:
        if value == "relay" and not info.data.get("turn_urls"):
            raise ValueError("relay needs LIVEROOM_TURN_URLS")
        return value

    def resolved_secret(self) -> str:
        return self.token_secret or _read_or_create(self.data_dir / "token-secret")

    def resolved_api_key(self) -> str:
        return self.api_key or _read_or_create(self.data_dir / "api-key")

    def resolved_webhook_secret(self) -> str:
        return self.webhook.secret or _read_or_create(self.data_dir / "webhook-secret")

    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


ICE_SCHEMES = ("stun", "stuns", "turn", "turns")


def _ip(value: str, expected: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{expected}; {value!r} is not one") from None
    return value


def _read_or_create(path: Path) -> str:
    """A per-installation secret kept in the data directory (mode 0600)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


# --- for people: one line per mistake, the effective values --------------------------------

SECRET_FIELDS = frozenset({"token_secret", "api_key", "recording_kek", "webhook_secret",
                           "turn_secret"})
# nested settings read with their own prefix
NESTED = {"RecorderSettings": "recording", "WebhookSettings": "webhook"}


def env_name(field: str) -> str:
    return f"LIVEROOM_{field.upper()}"


def _expected(model: type[BaseSettings], field: str, error: Any) -> str:
    """What the setting takes, in words (from the field's type and bounds)."""
    kind = error.get("type", "")
    message = str(error.get("msg", "")).removeprefix("Value error, ")
    info = model.model_fields.get(field)
    if kind in ("value_error", "assertion_error") or info is None:
        return message
    if kind == "string_pattern_mismatch" and info.metadata:
        return f"expected a value matching {getattr(info.metadata[0], 'pattern', '?')}"
    low = next(((a, getattr(m, a)) for m in info.metadata for a in ("ge", "gt")
                if getattr(m, a, None) is not None), None)
    high = next(((a, getattr(m, a)) for m in info.metadata for a in ("le", "lt")
                 if getattr(m, a, None) is not None), None)
    nouns: dict[object, str] = {int: "an integer", float: "a number", bool: "true or false"}
    noun = nouns.get(info.annotation, message)
    if noun == message:
        return message
    if low and high and (low[0], high[0]) == ("ge", "le"):
        return f"expected {noun} {low[1]}-{high[1]}"
    signs = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    limits = [f"{signs[b[0]]} {b[1]}" for b in (low, high) if b]
    return f"expected {noun}" + (f" {' and '.join(limits)}" if limits else "")


def describe_errors(exc: ValidationError, overrides: dict[str, object]) -> list[str]:
    """`LIVEROOM_PORT=abc: expected an integer 1-65535`, one line per bad setting."""
    nested = NESTED.get(exc.title)
    model: type[BaseSettings] = Settings
    if nested is not None:
        annotation = Settings.model_fields[nested].annotation
        assert isinstance(annotation, type) and issubclass(annotation, BaseSettings)
        model = annotation
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "settings"
        name = f"{nested}_{field}" if nested else field
        where = f"--{field.replace('_', '-')}" if field in overrides else env_name(name)
        value = error.get("input")
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        lines.append(f"{where}={shown}: {_expected(model, field, error)}")
    return lines


def effective_settings(settings: BaseSettings, prefix: str = "") -> list[tuple[str, str]]:
    """(LIVEROOM_NAME, value) for every setting, nested ones included, secrets masked."""
    rows = []
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        name = f"{prefix}{field}"
        if isinstance(value, BaseSettings):
            rows.extend(effective_settings(value, f"{name}_"))
            continue
        if name in SECRET_FIELDS:
            unset = "(none)" if name == "turn_secret" else "(from the data dir)"
            shown = "(set)" if value else unset
        elif name == "redis_url" and "@" in value:  # redis://user:password@host
            shown = f"{value.partition('://')[0]}://(credentials)@{value.rpartition('@')[2]}"
        elif isinstance(value, list):
            shown = ",".join(map(str, value))
        elif isinstance(value, bool):
            shown = str(value).lower()
        else:
            shown = str(getattr(value, "value", value))
        rows.append((env_name(name), shown))
    return rows
