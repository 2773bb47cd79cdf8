"""The browser client: `GET /join` (the page) and its static files under `/static/`; the
node's own page (`GET /`: what it is, how to join, its version) and its docs (`/docs/`).

The page is plain JavaScript modules with no build step (signalling/static/). The node
writes its ICE servers into the page so that the browser uses the same ones as aiortc, and
its client contract (the reconnect numbers of docs/continuity.md) so that the page keeps no
copy of them.
"""

from __future__ import annotations

import html
import json
from importlib import metadata
from pathlib import Path

from aiohttp import web

from .keys import NODE
from .protocol import ClientContract, client_contract
from .settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"  # present in a source checkout
PAGE = "session.html"
CONFIG_MARK = "{{config}}"

# The token rides in the query string: never send it on as a referrer, never cache the page.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


def page_config(
    ice_servers: list[str], contract: ClientContract, ice_transport_policy: str = "all"
) -> dict[str, object]:
    """What the page needs from the node's settings: ICE servers, the ICE transport policy
    and the client contract.

    Browsers refuse `turn:` servers without credentials, and the settings carry bare URLs,
    so only STUN servers are handed on here; TURN servers come with each participant's own
    time-limited credentials in `joined` (signalling/turn.py).
    """
    stun = [url for url in ice_servers if url.startswith(("stun:", "stuns:"))]
    return {
        "iceServers": [{"urls": url} for url in stun],
        "iceTransportPolicy": ice_transport_policy,
        "reconnect": contract.model_dump(mode="json"),
    }


_TEMPLATE: web.AppKey[str] = web.AppKey("join_page_template")
_ROOT_PAGE: web.AppKey[str] = web.AppKey("root_page")


def version() -> str:
    try:
        return metadata.version("liveroom")
    except metadata.PackageNotFoundError:
        return "unknown"


async def root_page(request: web.Request) -> web.Response:
    return web.Response(text=request.app[_ROOT_PAGE], content_type="text/html",
                        headers={**PAGE_HEADERS, "Cache-Control": "no-cache"})


async def docs_index(request: web.Request) -> web.Response:
    """The docs folder's Markdown files, listed (served as text by the static route)."""
    names = sorted(p.name for p in DOCS_DIR.glob("*.md")) if DOCS_DIR.is_dir() else []
    items = "".join(
        f'<li><a href="/docs/{html.escape(n)}">{html.escape(n)}</a></li>' for n in names
    ) or "<li>No documentation in this installation: see the source repository.</li>"
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Liveroom docs'
        '</title><link rel="icon" href="data:,"><link rel="stylesheet" '
        'href="/static/liveroom.css"></head><body><main id="main" class="about">'
        f"<h1>Liveroom documentation</h1><ul>{items}</ul></main></body></html>"
    )
    return web.Response(text=text, content_type="text/html", headers=PAGE_HEADERS)


async def join_page(request: web.Request) -> web.Response:
    settings = request.app[NODE].settings
    contract = client_contract(settings.reconnect_grace_s)
    config = json.dumps(page_config(list(settings.ice_servers), contract,
                                    settings.ice_transport_policy))
    text = request.app[_TEMPLATE].replace(CONFIG_MARK, html.escape(config, quote=True))
    return web.Response(text=text, content_type="text/html", headers=join_headers(settings))


def join_headers(settings: Settings) -> dict[str, str]:
    """In a cluster the page opens sockets on other nodes (`wrong_node`, `move`): its
    connect-src adds LIVEROOM_PAGE_CONNECT_SRC, or any ws:/wss: origin if that is unset."""
    if not settings.redis_url:
        return PAGE_HEADERS
    extra = " ".join(settings.page_connect_src) or "ws: wss:"
    csp = PAGE_HEADERS["Content-Security-Policy"].replace(
        "connect-src 'self'", f"connect-src 'self' {extra}")
    return {**PAGE_HEADERS, "Content-Security-Policy": csp}


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Static files revalidate on every load (cheap: 304s), so that after an upgrade a
    browser never mixes modules of two versions."""
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
    elif request.path.startswith("/docs/") and request.path.endswith(".md"):
        response.headers["Content-Type"] = "text/plain; charset=utf-8"
        response.headers["X-Content-Type-Options"] = "nosniff"


def add_routes(app: web.Application) -> None:
    app[_TEMPLATE] = (STATIC_DIR / PAGE).read_text(encoding="utf-8")
    base = html.escape(app[NODE].settings.base_url(), quote=True)
    app[_ROOT_PAGE] = (
        (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        .replace("{{version}}", html.escape(version())).replace("{{base}}", base)
    )
    app.router.add_get("/", root_page)
    app.router.add_get("/join", join_page)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_get("/docs/", docs_index)
    if DOCS_DIR.is_dir():
        app.router.add_static("/docs/", DOCS_DIR)
    app.on_response_prepare.append(_static_headers)
