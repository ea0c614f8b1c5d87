"""Names that cross packages are spelled only where they are defined (house rule; see README,
"Contributing"): actor names, entry gates, child states and our client ids have one owner module in
``autohedge/core`` each, with the encoder and decoder. Everywhere else builds them with those."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from autohedge.core.actor_names import parse_actor_name
from autohedge.core.child_states import ChildState
from autohedge.core.client_ids import ClientId
from autohedge.core.gates import Gate
from tests.ids import PREFIX

REPO = Path(__file__).resolve().parents[2]
EXEMPT = {
    "autohedge/core/actor_names.py",
    "autohedge/core/gates.py",
    "autohedge/core/child_states.py",
    "autohedge/core/client_ids.py",
    # The owners' own tests spell the text forms they check.
    "tests/unit/core/test_actor_names.py",
    "tests/unit/core/test_gates.py",
    "tests/unit/core/test_client_ids.py",
    "tests/unit/test_vocabulary.py",
}
_WORD = re.compile(r"[a-z_]+(:.+)?")


def _sources() -> Iterator[Path]:
    for folder in ("autohedge", "tests", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.relative_to(REPO).as_posix() not in EXEMPT:
                yield path


def _not_names(tree: ast.AST) -> set[int]:
    """Strings that are something else by position: dict keys and subscripts (config sections, JSON
    fields), event kinds (``record``'s first argument) and docstrings."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            skip.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript):
            skip.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if node.func.attr == "record":
                skip.add(id(node.args[0]))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
    return skip


AMBIGUOUS = {"stopped"}
"""Words other vocabularies share: ``stopped`` is also a venue's order status and an event kind."""


def _spelled_name(text: str) -> str | None:
    """What kind of cross-package name ``text`` spells, if any."""
    if _WORD.fullmatch(text) and text not in AMBIGUOUS:
        for kind, decode in (("entry gate", Gate.decode), ("actor name", parse_actor_name)):
            try:
                decode(text)
            except ValueError:
                continue
            return kind
    if ClientId.ours(text, PREFIX) is not None:
        return "client id"
    return None


def _findings(source: str, where: str) -> Iterator[str]:
    tree = ast.parse(source)
    skip = _not_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            kind = _spelled_name(node.value)
            if kind is not None:
                yield f"{where}:{node.lineno}: {kind} {node.value!r} spelled by hand"
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Attribute)
            and node.left.attr == "state"
        ):
            for right in node.comparators:
                if isinstance(right, ast.Constant) and right.value in set(ChildState):
                    yield f"{where}:{node.lineno}: child state {right.value!r} spelled by hand"


def test_cross_package_names_are_built_by_their_owners() -> None:
    findings = [
        finding
        for path in _sources()
        for finding in _findings(path.read_text(encoding="utf-8"), path.relative_to(REPO).as_posix())
    ]
    assert findings == []


def test_the_check_sees_each_kind_of_hand_spelled_name_and_nothing_else() -> None:
    source = (
        'GATE = "parked:BTC/USDT"\n'
        'NAME = "monitor"\n'
        'COID = "ah-e1-0"\n'
        'done = child.state == "running"\n'
        'CONFIG = {"monitor": {"mode": "quote"}}\n'
        'events.record("kill_switch", "an event kind, not a gate")\n'
        'WORD = "new"\n'
    )
    assert sorted(_findings(source, "sample.py")) == [
        "sample.py:1: entry gate 'parked:BTC/USDT' spelled by hand",
        "sample.py:2: actor name 'monitor' spelled by hand",
        "sample.py:3: client id 'ah-e1-0' spelled by hand",
        "sample.py:4: child state 'running' spelled by hand",
    ]
