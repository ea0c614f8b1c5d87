"""The status page in headless Chromium shows a running engine's real data."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from autohedge.api.app import create_app
from autohedge.api.server import ApiServer
from autohedge.control import EngineController
from autohedge.core.actor_names import strategy_name
from autohedge.core.child_states import ChildState
from tests.actors.harness import Harness, wait_for
from tests.api.test_order_session_status import DOWN, with_session

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "page-token"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)"
)


def dump_dom(url: str) -> str:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--no-first-run",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def page_of(h: Harness, fragment: str) -> str:
    """The status page of ``h``'s engine as the browser renders it, opened with ``fragment``."""
    server = ApiServer(
        create_app(EngineController(h.engine), token=SecretStr(TOKEN), token_env="AUTOHEDGE_API_TOKEN"),
        host="127.0.0.1",
        port=0,
    )
    server.start()
    try:
        return dump_dom(f"{server.url}/{fragment}")
    finally:
        server.stop()


def test_page_shows_positions_actors_and_events_of_a_running_engine(
    make_harness: Callable[..., Harness],
) -> None:
    h = make_harness().start()
    h.buy_protected("BTC/USDT")
    exit_id = h.held("BTC/USDT").exit_order_ids[0]
    dom = page_of(h, f"#token={TOKEN}")
    assert "BTC/USDT" in dom and "protected" in dom and exit_id in dom  # the position with its exits
    assert strategy_name("ETH/USDT") in dom and ChildState.RUNNING in dom  # the actor tree
    assert "exit_armed" in dom  # recent events
    assert "unauthorized" not in dom


def test_page_without_token_explains_how_to_get_in(make_harness: Callable[..., Harness]) -> None:
    h = make_harness().start()
    dom = page_of(h, "")
    positions_table = dom.split('id="positions"')[1].split("</table>")[0]
    assert "unauthorized: open the address" in dom and "AUTOHEDGE_API_TOKEN" in dom
    assert positions_table.endswith("<tbody></tbody>")


def test_page_shows_realized_pnl_equity_and_trades_from_the_journal(
    make_harness: Callable[..., Harness], tmp_path: Path
) -> None:
    h = make_harness(journal_path=tmp_path / "journal.sqlite").start()
    h.buy_protected("BTC/USDT")
    take_profit = h.reach_take_profit("BTC/USDT")  # CheckExits sees it filled
    wait_for(lambda: h.position("BTC/USDT") is None, what="position closed")
    h.engine.flush_journal()
    dom = page_of(h, f"#token={TOKEN}")
    trades = dom.split('id="trades"')[1].split("</table>")[0]
    assert "take_profit" in trades and f">{take_profit}<" in trades  # the exit at the tick
    assert "realized " in dom and "1 trades" in dom


def test_page_shows_the_order_session_beside_the_user_stream(make_harness: Callable[..., Harness]) -> None:
    h = with_session(make_harness, DOWN)
    dom = page_of(h, f"#token={TOKEN}")
    venues = dom.split('id="venues"')[1].split("</p>")[0]
    assert "paper: user stream reconnects 0 · order session down (next attempt in 0.5s)" in venues
    assert "requests 7, failures 1, REST fallbacks 3, last error: the connection ended" in venues
