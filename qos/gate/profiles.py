"""The standard network profiles P0-P8 (docs/quality-gate.md), as named presets.

Each profile impairs one learner's datagrams in both directions (the same `LinkProfile`
each way, so a delay of 50 ms adds about 100 ms of round-trip time). P7 is an outage of
5, 20 or 40 s (`P7:5` picks one); P8 is an address change (the sockets in use die).
Profiles belong to a threshold group (`thresholds.toml`).
"""

from __future__ import annotations

from dataclasses import dataclass

from qos.impairment import CLEAN, LinkProfile

__all__ = ["OUTAGE_SECONDS", "PROFILES", "Profile", "parse_profiles", "profile"]

OUTAGE_SECONDS = (5, 20, 40)
"""The outages P7 stands for."""
LONG_OUTAGE_S = 20
"""Seats and TTMR are hard thresholds up to this outage; longer ones only warn."""


@dataclass(frozen=True)
class Profile:
    name: str
    """`P0` .. `P8`, or `P7:<seconds>`."""
    title: str
    group: str
    """Threshold group: `clean`, `impaired`, `outage` or `long_outage`."""
    link: LinkProfile = CLEAN
    """Applied to the learner's datagrams in each direction."""
    outage_s: float | None = None
    """A cut of this many seconds (all datagrams and signalling) during the run."""
    address_change: bool = False
    """The learner's sockets die during the run (a new 5-tuple)."""

    @property
    def disrupts(self) -> bool:
        """The run has an outage or address change (and so a reconnect timeline)."""
        return self.outage_s is not None or self.address_change


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("P0", "clean", "clean"),
        Profile("P1", "Wi-Fi: 50 ± 10 ms, 1% loss", "clean",
                LinkProfile(delay_ms=50, jitter_ms=10, loss=0.01)),
        Profile("P2", "50 ms, 5% loss", "impaired", LinkProfile(delay_ms=50, loss=0.05)),
        Profile("P3", "burst loss 2%, mean burst 3", "impaired",
                LinkProfile(burst_loss=0.02, mean_burst=3)),
        Profile("P4", "500 kbps, 32-packet queue", "impaired",
                LinkProfile(rate_kbps=500, queue_packets=32)),
        Profile("P5", "150 kbps, 32-packet queue", "impaired",
                LinkProfile(rate_kbps=150, queue_packets=32)),
        Profile("P6", "150 ± 30 ms one way", "impaired",
                LinkProfile(delay_ms=150, jitter_ms=30)),
        Profile("P8", "address change (new 5-tuple)", "outage", address_change=True),
    )
}


def outage(seconds: float) -> Profile:
    """P7 with one outage length."""
    if seconds <= 0:
        raise ValueError("an outage lasts a positive number of seconds")
    text = f"{seconds:g}"
    group = "outage" if seconds <= LONG_OUTAGE_S else "long_outage"
    return Profile(f"P7:{text}", f"outage of {text} s", group, outage_s=float(seconds))


def profile(name: str) -> Profile:
    """One profile by name (`P7:<s>` for an outage); ValueError if unknown."""
    key = name.strip().upper()
    if key.startswith("P7:"):
        try:
            return outage(float(key[3:]))
        except ValueError:
            raise ValueError(f"bad outage length in {name!r}") from None
    if key in PROFILES:
        return PROFILES[key]
    raise ValueError(f"unknown profile {name!r} (P0-P8, P7:<seconds>, all)")


def parse_profiles(spec: str) -> list[Profile]:
    """`P0,P2,P7:5` → profiles in order; `P7` means 5, 20 and 40 s; `all` means P0-P8."""
    names: list[str] = []
    for part in (x.strip() for x in spec.split(",")):
        if not part:
            continue
        if part.lower() == "all":
            names += ["P0", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"]
        else:
            names.append(part)
    result: list[Profile] = []
    for name in names:
        if name.strip().upper() == "P7":
            result += [outage(s) for s in OUTAGE_SECONDS]
        else:
            result.append(profile(name))
    unique = list({p.name: p for p in result}.values())
    if not unique:
        raise ValueError("no profile given")
    return unique
