"""The browser client's WebSocket close codes mirror the node's `CloseCode`.

The page (signalling/static/) is plain JavaScript with no build step, so it cannot import
the enum: it keeps one named copy, `CLOSE` in signalling.js, and this test holds it to the
node's. Every other file of the page uses `CLOSE.<NAME>`, never a bare close code.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[3] / "signalling" / "static"
CLOSE_OBJECT = re.compile(r"export const CLOSE = Object\.freeze\(\{(?P<body>[^}]*)\}\);")
ENTRY = re.compile(r"^\s*(?P<name>[A-Z][A-Z0-9_]*): (?P<value>\d+),?\s*$")
# A close code written as a number where the page compares or sends one.
BARE_CODE = re.compile(r"(?:\bcode\s*[!=]==?\s*|\.close\(\s*)(\d{4})\b")


def js_close_codes() -> dict[str, int]:
    """`CLOSE` of signalling.js, name -> value; fails if it cannot be read whole."""
    text = (STATIC / "signalling.js").read_text(encoding="utf-8")
    found = CLOSE_OBJECT.search(text)
    assert found is not None, "signalling.js has no `export const CLOSE = Object.freeze({...});`"
    codes: dict[str, int] = {}
    for line in found["body"].splitlines():
        if not line.strip():
            continue
        entry = ENTRY.match(line)
        assert entry is not None, f"cannot read this CLOSE entry: {line!r}"
        codes[entry["name"]] = int(entry["value"])
    return codes


def node_close_codes() -> dict[int, str]:
    """`signalling.protocol.CloseCode`, value -> name. Looked up when a test runs, so that
    until CloseCode exists (another branch of issue 10 adds it) only these tests fail, with
    an ImportError, and mypy stays clean before and after the merge."""
    protocol = importlib.import_module("signalling.protocol")
    close_code = getattr(protocol, "CloseCode", None)
    if close_code is None:
        raise ImportError("cannot import name 'CloseCode' from 'signalling.protocol'")
    return {int(code.value): str(code.name) for code in close_code}


def test_the_page_names_the_close_codes_it_acts_on() -> None:
    codes = js_close_codes()
    # the codes the page's reconnect rule (continuity.js finalReason) must tell apart
    assert set(codes.values()) >= {1000, 4000, 4001, 4003, 4004, 4009, 4409, 4410}
    assert len(set(codes.values())) == len(codes), "two names for one close code"


def test_every_close_code_of_the_page_is_a_node_close_code_with_the_same_value() -> None:
    node = node_close_codes()
    unknown = {name: value for name, value in js_close_codes().items() if value not in node}
    assert not unknown, f"signalling.js CLOSE has codes the node does not define: {unknown}"


def test_the_page_calls_each_close_code_by_the_node_s_name() -> None:
    node = node_close_codes()
    renamed = {name: node[value] for name, value in js_close_codes().items()
               if value in node and node[value] != name}
    assert not renamed, f"rename these keys of CLOSE in signalling.js (JS: node): {renamed}"


def test_no_other_file_of_the_page_writes_a_bare_close_code() -> None:
    bare = {
        path.name: BARE_CODE.findall(path.read_text(encoding="utf-8"))
        for path in sorted(STATIC.glob("*.js"))
    }
    assert {name: codes for name, codes in bare.items() if codes} == {}
