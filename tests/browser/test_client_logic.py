"""The page's pure modules (continuity.js, roster.js) and its contract with the node, run in
real Chromium: the suite has no JavaScript test runner, and the page needs none to import a
module of the node that served it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from playwright.async_api import Page, expect

from signalling.protocol import ClientContract, client_contract
from tests.conftest import RunningNode

NewPage = Callable[..., Awaitable[Page]]
NodeFactory = Callable[..., Awaitable[RunningNode]]


async def page_of(node: RunningNode, new_page: NewPage) -> Page:
    """The node's page without a token: it stops at "needs a join link", modules loaded."""
    page = await new_page()
    await page.goto(f"{node.url}/join")
    await expect(page.locator("#join-view")).to_have_attribute("data-state", "invalid")
    return page


async def run(page: Page, script: str) -> Any:
    return await page.evaluate(script)


async def test_the_page_takes_its_reconnect_numbers_from_the_node_that_served_it(
    node_factory: NodeFactory, new_page: NewPage
) -> None:
    node = await node_factory(reconnect_grace_s=7.5)
    page = await page_of(node, new_page)
    policy = await run(page, """async () => {
        const { ReconnectPolicy } = await import('/static/continuity.js');
        const meta = document.querySelector('meta[name="liveroom-config"]').content;
        return { ...new ReconnectPolicy(JSON.parse(meta).reconnect) };
    }""")
    contract = client_contract(7.5)
    assert contract == ClientContract(give_up_after_s=7.5)
    assert policy == {
        "retryDelaysMs": [1000 * s for s in contract.retry_delays_s],
        "jitter": contract.retry_jitter,
        "attemptTimeoutMs": 1000 * contract.attempt_timeout_s,
        "giveUpAfterMs": 7500,
        "stallAfterMs": 1000 * contract.stall_after_s,
        "watchEveryMs": 1000 * contract.watch_every_s,
        "peerGraceMs": 1000 * contract.peer_grace_s,
    }


async def test_continuity_rules_say_when_to_stop_how_long_to_wait_and_what_a_stall_is(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await page_of(node, new_page)
    result = await run(page, """async () => {
        const { CLOSE } = await import('/static/signalling.js');
        const { ReconnectPolicy, StallRule, finalReason, linkBack } = await import(
            '/static/continuity.js');
        const meta = document.querySelector('meta[name="liveroom-config"]').content;
        const policy = new ReconnectPolicy(JSON.parse(meta).reconnect);
        const reasons = {};
        for (const code of [...Object.values(CLOSE), 1001, 1006, 1011, 4008, 4010]) {
            reasons[code] = finalReason(code, null);
        }
        const stall = new StallRule(policy.stallAfterMs);
        let refused = null;
        try { new ReconnectPolicy({ retry_delays_s: [] }); } catch (error) { refused = error.name; }
        return {
            reasons,
            replacedBeforeClose: finalReason(1006, 'replaced'),
            roomClosedBeforeClose: finalReason(1006, 'room_closed'),
            shortest: [0, 1, 2, 3, 9].map((n) => policy.retryDelay(n, 0)),
            longest: [0, 1, 2, 3, 9].map((n) => policy.retryDelay(n, 1)),
            inGrace: policy.nextRetryDelay(5, policy.giveUpAfterMs, 1),
            pastGrace: policy.nextRetryDelay(5, policy.giveUpAfterMs + 1, 1),
            stall: [
                stall.stalled('pc', 100, 0), // first look
                stall.stalled('pc', 100, 2000), // nothing new for exactly 2 s: not yet
                stall.stalled('pc', 100, 2001),
                stall.stalled('pc', 140, 2002), // bytes again
                stall.stalled('pc', 140, 3000),
            ],
            refused,
            linkBack: [
                linkBack(['connected', 'connected']), // a short cut: all came back
                linkBack(['connected', 'disconnected']), // one still checking
                linkBack(['connected', 'failed']), // given up (cut over ~15 s): rebuild
                linkBack(['connected', 'failed'], true), // unless the node was asked to check
                linkBack(['closed'], true),
                linkBack([]), // watching only, nothing published or received yet
            ],
        };
    }""")
    assert result["reasons"] == {
        "1000": "lost", "4000": "lost", "4001": "bad_token", "4003": "wrong_room",
        "4004": "room_closed", "4009": "room_full", "4409": "replaced", "4410": "room_closed",
        # not final: join again
        "1001": None, "1006": None, "1011": None, "4008": None, "4010": None,
        "4307": None, "4308": None,  # wrong_node, move: follow the URL
    }
    assert result["replacedBeforeClose"] == "replaced"
    assert result["roomClosedBeforeClose"] == "room_closed"
    assert result["longest"] == [100, 200, 400, 500, 500]
    assert result["shortest"] == [70, 140, 280, 350, 350]  # scaled by 0.7 at least
    assert result["inGrace"] == 500 and result["pastGrace"] is None
    assert result["stall"] == [False, False, True, False, False]
    assert result["refused"] == "TypeError"
    assert result["linkBack"] == ["kept", "wait", "rebuild", "wait", "rebuild", "kept"]


async def test_the_roster_follows_joined_and_the_room_s_events(
    node: RunningNode, new_page: NewPage
) -> None:
    page = await page_of(node, new_page)
    result = await run(page, """async () => {
        const { Roster } = await import('/static/roster.js');
        const roster = new Roster();
        const info = (identity, extra = {}) => ({ identity, name: '', role: 'learner', ...extra });
        const joined = (identities) => ({
            participant: { identity: 'maya' },
            room: { participants: identities.map((id) => info(id, id === 'tutor' ? {
                role: 'tutor', name: 'Ms Reed',
                publications: [{ id: 'a1', kind: 'audio', muted: false },
                               { id: 'v1', kind: 'video', muted: true }],
            } : {})) },
        });
        const out = {};
        out.goneAtFirst = roster.join(joined(['maya', 'tutor', 'sam']));
        for (const p of joined(['maya', 'tutor', 'sam']).room.participants) roster.upsert(p);
        const tutor = roster.get('tutor');
        out.local = roster.local.identity;
        out.tutor = { name: tutor.name, local: tutor.local, live: [...tutor.liveKinds()] };
        out.unmuted = roster.applyPublication({ type: 'track_muted', muted: false,
            publication: { id: 'v1', owner: 'tutor', kind: 'video', muted: false } }) === tutor;
        out.liveAfterUnmute = [...tutor.liveKinds()].sort();
        roster.applyPublication({ type: 'track_unpublished',
            publication: { id: 'a1', owner: 'tutor', kind: 'audio', muted: false } });
        out.liveAfterUnpublish = [...tutor.liveKinds()];
        out.strangerPublication = roster.applyPublication({ type: 'track_published',
            publication: { id: 'x', owner: 'nobody', kind: 'audio', muted: false } });
        out.away = roster.applyPresence({ type: 'participant_reconnecting', identity: 'sam' })
            ?.reconnecting;
        out.awayAgain = roster.applyPresence({ type: 'participant_reconnecting', identity: 'sam' });
        out.back = roster.applyPresence({ type: 'participant_resumed',
            participant: { identity: 'sam' } })?.reconnecting;
        const again = roster.upsert(info('tutor', { presence: 'reconnecting' }));
        out.upsertKnown = { created: again.created, same: again.participant === tutor,
            reconnecting: tutor.reconnecting, publications: tutor.publications.size };
        out.goneAfterRejoin = roster.join(joined(['maya', 'tutor']));
        return out;
    }""")
    assert result == {
        "goneAtFirst": [],
        "local": "maya",
        "tutor": {"name": "Ms Reed", "local": False, "live": ["audio"]},
        "unmuted": True,
        "liveAfterUnmute": ["audio", "video"],
        "liveAfterUnpublish": ["video"],
        "strangerPublication": None,
        "away": True,
        "awayAgain": None,  # no change, nothing to say
        "back": False,
        "upsertKnown": {"created": False, "same": True, "reconnecting": True, "publications": 0},
        "goneAfterRejoin": ["sam"],
    }
