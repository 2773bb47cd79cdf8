"""The webhook outbox, sans-IO: which deliveries to attempt when (time passed in).

One `Delivery` per event and receiver. `due(now)` hands out the attempts to make (oldest
first, at most `max_in_flight` at once per receiver); the adapter reports each outcome
with `succeeded` or `failed`, and `failed` decides: try again at a time (exponential
backoff, capped, with jitter; a receiver's `Retry-After` is honoured up to the cap) or
give up after `max_attempts`. Nothing here does IO: the journal and the HTTP client are
the adapter's (signalling/webhooks.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    base_s: float  # wait after the first failure
    cap_s: float  # longest wait

    def delay(self, failures: int, jitter: float) -> float:
        """Wait after the `failures`-th failure in a row. `jitter` in [0, 1) picks within
        the upper half of the exponential step ("equal jitter": receivers coming back
        are not hit by every node at once, and a wait is never shorter than half)."""
        step = min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 60))
        return step * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))


@dataclass
class Delivery:
    event_id: str
    receiver: str  # its URL
    body: bytes  # the signed JSON, the same in every attempt
    due_at: float  # when the next attempt may start
    attempts: int = 0  # made so far (since this node started: not journaled)
    in_flight: bool = False


@dataclass(frozen=True)
class Attempt:
    event_id: str
    receiver: str
    body: bytes
    number: int  # 1 for the first


@dataclass(frozen=True)
class Retry:
    at: float


@dataclass(frozen=True)
class GiveUp:
    attempts: int


class Outbox:
    def __init__(self, policy: RetryPolicy, *, max_in_flight: int = 4,
                 max_deliveries: int = 10_000) -> None:
        self.policy = policy
        self.max_in_flight = max_in_flight
        self.max_deliveries = max_deliveries
        self._deliveries: dict[tuple[str, str], Delivery] = {}  # in enqueue order
        self._in_flight: dict[str, int] = {}  # by receiver

    def __len__(self) -> int:
        return len(self._deliveries)

    def add(self, event_id: str, body: bytes, receivers: list[str],
            now: float) -> list[Delivery]:
        """Queue `body` for each receiver, due at once. Returns what fell off the front
        (the oldest deliveries not in flight) to keep at most `max_deliveries`."""
        for receiver in receivers:
            key = (event_id, receiver)
            if key not in self._deliveries:
                self._deliveries[key] = Delivery(event_id, receiver, body, due_at=now)
        dropped: list[Delivery] = []
        excess = len(self._deliveries) - self.max_deliveries
        for key, delivery in list(self._deliveries.items()):
            if excess <= 0:
                break
            if not delivery.in_flight:
                del self._deliveries[key]
                dropped.append(delivery)
                excess -= 1
        return dropped

    def due(self, now: float) -> list[Attempt]:
        """The attempts to start now; each is in flight until its outcome is reported."""
        attempts = []
        for delivery in self._deliveries.values():
            if delivery.in_flight or delivery.due_at > now:
                continue
            busy = self._in_flight.get(delivery.receiver, 0)
            if busy >= self.max_in_flight:
                continue
            self._in_flight[delivery.receiver] = busy + 1
            delivery.in_flight = True
            delivery.attempts += 1
            attempts.append(Attempt(delivery.event_id, delivery.receiver, delivery.body,
                                    delivery.attempts))
        return attempts

    def succeeded(self, attempt: Attempt) -> None:
        delivery = self._land(attempt)
        if delivery is not None:
            del self._deliveries[(attempt.event_id, attempt.receiver)]

    def failed(self, attempt: Attempt, now: float, jitter: float,
               retry_after: float | None = None) -> Retry | GiveUp:
        """The attempt failed (no answer, a timeout, not 2xx): when to try again."""
        delivery = self._land(attempt)
        if delivery is None:
            return GiveUp(attempt.number)
        if delivery.attempts >= self.policy.max_attempts:
            del self._deliveries[(attempt.event_id, attempt.receiver)]
            return GiveUp(delivery.attempts)
        wait = self.policy.delay(delivery.attempts, jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.policy.cap_s))
        delivery.due_at = now + wait
        return Retry(delivery.due_at)

    def released(self, attempt: Attempt) -> None:
        """The attempt was cut short (the node is stopping): it did not count."""
        delivery = self._land(attempt)
        if delivery is not None:
            delivery.attempts -= 1

    def next_due(self) -> float | None:
        """The earliest time an attempt not yet in flight may start (None: none queued).
        A receiver at its in-flight limit is woken by the outcome of its attempts."""
        times = [d.due_at for d in self._deliveries.values() if not d.in_flight
                 and self._in_flight.get(d.receiver, 0) < self.max_in_flight]
        return min(times, default=None)

    def pending(self) -> dict[str, tuple[bytes, list[str]]]:
        """Each undelivered event's body and the receivers still owed it (for compaction)."""
        out: dict[str, tuple[bytes, list[str]]] = {}
        for delivery in self._deliveries.values():
            out.setdefault(delivery.event_id, (delivery.body, []))[1].append(delivery.receiver)
        return out

    def _land(self, attempt: Attempt) -> Delivery | None:
        delivery = self._deliveries.get((attempt.event_id, attempt.receiver))
        if delivery is None or not delivery.in_flight:
            return None
        delivery.in_flight = False
        self._in_flight[attempt.receiver] -= 1
        return delivery
