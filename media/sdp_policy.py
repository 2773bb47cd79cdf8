"""What the node accepts in a publisher's offer (pure: text in, kinds out or a MediaError)."""

from __future__ import annotations

from aiortc.sdp import SessionDescription

from .errors import ErrorCode, MediaError
from .ids import Kind

MAX_SDP_BYTES = 32 * 1024
SUPPORTED_CODEC = {Kind.AUDIO: "opus", Kind.VIDEO: "vp8"}


def inspect_offer(sdp: str) -> list[Kind]:
    """Check a publish offer and return the kinds it publishes, in m-line order.

    Accepted: at most one audio (Opus) and one video (VP8) m-line, each sending, no
    simulcast. Anything else is refused with a code the client can act on.
    """
    if len(sdp) > MAX_SDP_BYTES:
        raise MediaError(ErrorCode.BAD_SDP, f"SDP larger than {MAX_SDP_BYTES} bytes")
    lines = sdp.splitlines()
    if not lines or lines[0].strip() != "v=0":
        raise MediaError(ErrorCode.BAD_SDP, "SDP must start with v=0")
    if any(line.startswith(("a=simulcast", "a=rid:")) for line in lines):
        raise MediaError(
            ErrorCode.SIMULCAST_UNSUPPORTED, "simulcast is not supported: send one encoding"
        )
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises several types on garbage
        raise MediaError(ErrorCode.BAD_SDP, f"unparseable SDP: {exc}") from exc
    kinds: list[Kind] = []
    for media in description.media:
        if media.kind not in (Kind.AUDIO, Kind.VIDEO):
            raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, f"m={media.kind} is not supported")
        kind = Kind(media.kind)
        if kind in kinds:
            raise MediaError(ErrorCode.UNSUPPORTED_MEDIA, f"more than one {kind} m-line")
        if media.direction not in ("sendonly", "sendrecv"):
            raise MediaError(ErrorCode.BAD_SDP, f"{kind} m-line does not send")
        if (not media.dtls or not media.dtls.fingerprints or not media.ice
                or not media.ice.usernameFragment or not media.ice.password):
            raise MediaError(ErrorCode.BAD_SDP, f"{kind} m-line lacks ICE or DTLS parameters")
        names = {codec.name.lower() for codec in media.rtp.codecs}
        if SUPPORTED_CODEC[kind] not in names:
            raise MediaError(
                ErrorCode.UNSUPPORTED_MEDIA, f"{kind} must offer {SUPPORTED_CODEC[kind]}"
            )
        kinds.append(kind)
    if not kinds:
        raise MediaError(ErrorCode.BAD_SDP, "offer has no audio or video m-line")
    return kinds
