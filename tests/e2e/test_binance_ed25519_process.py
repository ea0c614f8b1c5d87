"""`autohedge run` against the local Binance fake with an Ed25519 key: REST is signed with the key, order
events arrive by push on a logged-on WebSocket API session, and after a user-stream drop the process logs
on again, subscribes again and reconciles by REST. A PEM that is not an Ed25519 key exits 2 naming the
variable, without showing the secret."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.process import clean_env, venue_config
from tests.e2e.test_pushback_process import run_refused
from tests.e2e.test_user_streams_process import Markets, drop_once, polled, run_process
from tests.fakes.binance import FakeBinance
from tests.fakes.binance_keys import ED25519_API_KEY, ED25519_KEY, ED25519_PRIVATE_PEM, pkcs8_pem
from tests.fakes.venue_server import endpoints_of

pytestmark = pytest.mark.e2e
ED25519_KEYS = {
    "AUTOHEDGE_BINANCE_API_KEY": ED25519_API_KEY,
    "AUTOHEDGE_BINANCE_API_SECRET": ED25519_PRIVATE_PEM,
}
DURATION_S = 24


def test_binance_ed25519_fills_by_push_drop_logs_on_again_resubscribes_then_reconciles(
    tmp_path: Path,
) -> None:
    symbols = ["BTC/USDT", "ETH/USDT"]
    with (
        FakeBinance(symbols=symbols, balances={"USDT": Decimal(1_000_000)}) as fake,
        Markets(fake.push_quote, symbols, step_s=0.1),
    ):
        fake.register_ed25519(ED25519_API_KEY, ED25519_KEY.public_key())
        # Orders by REST: the WebSocket API traffic counted below is the user stream's alone (the order
        # session's own log-on is covered by the contract suite's binance-ed25519 venue).
        endpoints = {**endpoints_of(fake), "order_entry": "rest"}
        config = venue_config(tmp_path, "binance", symbols, endpoints)
        on_line = drop_once(fake.user.drop, after_s=DURATION_S * 0.4, protected_first=True)
        output, summary, _, _, _ = run_process(
            config, tmp_path, clean_env(ED25519_KEYS), duration_s=DURATION_S, on_line=on_line
        )
        ws_methods = [method for _, method, _ in fake.user.requests]
        requests = fake.requests()
        logons, subscriptions = fake.user.logons, fake.user.subscriptions
        subscribed_at = list(fake.user.subscribed_at)

    counters = summary["counters"]
    assert counters["orders_filled"] >= 1 and counters["order_events"] >= 1, output[-3000:]
    assert summary["venues"]["binance"]["user_stream_reconnects"] >= 1, output[-3000:]
    # Every connection logged on, then subscribed without a signature; the HMAC way was never used.
    assert logons >= 2 and subscriptions >= 2 and logons == subscriptions, ws_methods
    assert "userDataStream.subscribe.signature" not in ws_methods
    sequence = [m for m in ws_methods if m != "connect"]
    assert sequence[:4] == ["session.logon", "userDataStream.subscribe"] * 2, ws_methods
    first, second = subscribed_at[0], subscribed_at[1]
    assert not polled(requests[first:second])  # pushed, not polled
    after = requests[second:]
    assert any(r[1] == "/api/v3/account" for r in after), "no ledger re-base after logging on again"
    assert any(r[1] == "/api/v3/openOrders" for r in after), "no exit verification after logging on again"
    signed = [r[2]["signature"] for r in requests if "signature" in r[2]]
    assert signed and all(len(s) == 88 for s in signed)  # base64 Ed25519, not hex HMAC
    assert summary["venues"]["binance"]["auth_failed"] is None


def test_binance_run_with_an_ec_pem_secret_exits_2_naming_the_variable(tmp_path: Path) -> None:
    ec_pem = pkcs8_pem(ec.generate_private_key(ec.SECP256R1()))
    with FakeBinance(symbols=["BTC/USDT"]) as fake:
        config = venue_config(tmp_path, "binance", ["BTC/USDT"], endpoints_of(fake))
        keys = {**ED25519_KEYS, "AUTOHEDGE_BINANCE_API_SECRET": ec_pem}
        result = run_refused(config, tmp_path, clean_env(keys))
        requests = fake.requests()
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "AUTOHEDGE_BINANCE_API_SECRET" in lines[0], result.stderr
    assert ec_pem.splitlines()[1] not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr and requests == []
