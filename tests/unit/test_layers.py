"""The layers run one way (docs/architecture.md, "Layers"), checked on the source with an
AST walk: every `import` counts, also those inside functions and under TYPE_CHECKING.

The rules are checked against the real tree and, to show the check can fail, against a
small planted tree with one forbidden import of each kind.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("media", "signalling", "qos", "loadtest", "recorder")
IO_LIBRARIES = ("asyncio", "aiortc", "aioice", "aiohttp", "av", "pylibsrtp", "redis")
# the media plane's sans-IO core: decisions with time passed in, no sockets, no loop
MEDIA_CORE = (
    "media.ids", "media.errors", "media.rtp", "media.forwarder", "media.keyframes",
    "media.room", "media.bandwidth", "media.fallback", "media.nacks", "media.counters",
    "media.starvation", "media.shedding", "media.talk", "media.vp8_layers", "media.allocator",
)
# the recorder's sans-IO core: clock, segment boundaries, frames, consent decisions
RECORDER_CORE = (
    "recorder.clock", "recorder.segments", "recorder.frames", "recorder.consent",
    "recorder.ids", "recorder.errors", "recorder.summary", "recorder.render_grid",
)
# what the node may not know about: the tools that drive it from outside
NOT_FOR_THE_NODE = ("signalling.client", "qos.gate", "qos.impairment", "loadtest")
# what the Python client may use of the project: the wire protocol, ids, RTP helpers, errors
CLIENT_MAY_USE = (
    "signalling.client", "signalling.protocol", "signalling.errors",
    "media.ids", "media.rtp", "media.errors",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted and absolute
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> Iterable[Import]:
    module = module_name(root, path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            submodules = [a.name for a in node.names if is_module(root, f"{target}.{a.name}")]
            if len(submodules) < len(node.names):  # names from the module itself
                yield Import(module, target, node.lineno)
            for name in submodules:  # `from media import room` imports media.room
                yield Import(module, f"{target}.{name}", node.lineno)


def is_module(root: Path, dotted: str) -> bool:
    path = root / Path(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def all_imports(root: Path) -> list[Import]:
    found: list[Import] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []:
            found.extend(imports_of(root, path))
    return found


def within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(root: Path) -> list[str]:
    """Every import that breaks a layer rule, as 'module:line imports target (rule)'."""
    found = []
    for imp in all_imports(root):
        project = within(imp.target, PACKAGES)
        rule = None
        if within(imp.module, ("media",)) and project and not within(imp.target, ("media",)):
            rule = "media imports nothing of the project"
        elif within(imp.module, MEDIA_CORE) and within(imp.target, IO_LIBRARIES):
            rule = "the media core does no IO"
        elif within(imp.module, RECORDER_CORE) and within(imp.target, IO_LIBRARIES):
            rule = "the recorder's core does no IO"
        elif within(imp.module, MEDIA_CORE) and within(imp.target, ("media",)) and not within(
            imp.target, MEDIA_CORE
        ):
            rule = "the media core imports only the media core"
        elif (within(imp.module, ("signalling",)) and not within(imp.module, CLIENT_MAY_USE)
              and within(imp.target, NOT_FOR_THE_NODE)):
            rule = "the node knows no client, gate, impairment or load test"
        elif (within(imp.module, ("signalling.client",)) and project
              and not within(imp.target, CLIENT_MAY_USE)):
            rule = "the client uses only the protocol, ids, rtp and errors"
        elif within(imp.target, ("loadtest",)) and not within(imp.module, ("loadtest",)):
            rule = "nothing imports loadtest"
        elif (within(imp.module, ("qos",)) and not within(imp.module, ("qos.gate",))
              and project and within(imp.target, ("signalling", "loadtest", "recorder"))
              and not (within(imp.module, ("qos.impairment",))
                       and within(imp.target, CLIENT_MAY_USE))):
            rule = "qos (outside the gate) imports no node, client or load test"
        elif within(imp.module, ("recorder",)) and project and (
            not within(imp.target, ("recorder", "media", "qos"))
            or within(imp.target, ("qos.gate", "qos.impairment"))
        ):
            rule = ("the recorder plugs into media and the qos core only (the node wires "
                    "it in)")
        if rule:
            found.append(f"{imp.module}:{imp.line} imports {imp.target} ({rule})")
    return found


# the parts whose imports must form no cycle: packages, and the tools inside them that sit
# above the node (the gate drives a node; the client talks to one) or below it (qos core)
COMPONENTS = (
    "media", "signalling.client", "signalling", "qos.gate", "qos.impairment", "qos",
    "loadtest", "recorder",
)


def component(name: str, depth: int | None) -> str:
    if depth is not None:
        return ".".join(name.split(".")[:depth])
    return next((c for c in COMPONENTS if within(name, (c,))), name)


def cycles(root: Path, depth: int | None = None) -> list[list[str]]:
    """Import cycles among components (`depth` None) or modules grouped to `depth` parts."""
    graph: dict[str, set[str]] = {}
    for imp in all_imports(root):
        if not within(imp.target, PACKAGES):
            continue
        a, b = component(imp.module, depth), component(imp.target, depth)
        if a != b:
            graph.setdefault(a, set()).add(b)
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return found


def test_the_tree_keeps_every_layer_rule() -> None:
    assert violations(ROOT) == []


def test_no_import_cycle_between_components() -> None:
    assert cycles(ROOT) == []


def test_no_import_cycle_between_modules() -> None:
    assert [c for c in cycles(ROOT, depth=3) if c[0].startswith(PACKAGES)] == []


def test_loadtest_is_not_an_installed_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert include and not [p for p in include if p.startswith("loadtest")]


PLANTED = {
    "media/__init__.py": "",
    "media/room.py": "import asyncio\n",  # core doing IO
    "media/feed.py": "from .downlink import DownTrack\nfrom qos.live import X\n",
    "media/downlink.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                         "    from .feed import Feed\n",
    "signalling/__init__.py": "",
    "signalling/hub.py": "def f():\n    from signalling.client import Client\n",
    "signalling/client/__init__.py": "from signalling.hub import RoomHub\n",
    "qos/__init__.py": "",
    "qos/live.py": "from loadtest.bot import Bot\n",
    "recorder/__init__.py": "",
    "recorder/clock.py": "import av\n",
    "signalling/cli.py": "from qos.gate.run import GateRun\n",
    "qos/gate/__init__.py": "",
    "qos/gate/run.py": "from signalling.app import create_app\n",
    "signalling/app.py": "",
    "loadtest/__init__.py": "",
    "loadtest/bot.py": "",
}


def test_a_planted_forbidden_import_of_each_kind_is_reported(tmp_path: Path) -> None:
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = violations(tmp_path)
    expected = [
        "media.room:1 imports asyncio (the media core does no IO)",
        "media.feed:2 imports qos.live (media imports nothing of the project)",
        "signalling.hub:2 imports signalling.client (the node knows no client, gate, "
        "impairment or load test)",
        "signalling.client:1 imports signalling.hub (the client uses only the protocol, "
        "ids, rtp and errors)",
        "qos.live:1 imports loadtest.bot (nothing imports loadtest)",
        "recorder.clock:1 imports av (the recorder's core does no IO)",
    ]
    for line in expected:
        assert line in found
    assert ["media.downlink", "media.feed", "media.downlink"] in cycles(tmp_path, depth=2)
    assert ["qos.gate", "signalling", "qos.gate"] in cycles(tmp_path)
