"""Binance's published WebSocket API signing example (``order.place`` with the documentation's HMAC test
key), shared by the tests that reproduce it."""

from __future__ import annotations

__all__ = [
    "API_KEY",
    "ORDER_PLACE_PARAMS",
    "ORDER_PLACE_RECV_WINDOW_MS",
    "ORDER_PLACE_SIGNATURE",
    "ORDER_PLACE_TIMESTAMP_MS",
    "SECRET",
]

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
ORDER_PLACE_PARAMS = {
    "symbol": "BTCUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.01000000",
    "price": "52000.00",
}
"""The order's own parameters (without the key, the timestamp and the window)."""
ORDER_PLACE_TIMESTAMP_MS = 1645423376532
ORDER_PLACE_RECV_WINDOW_MS = 100
ORDER_PLACE_SIGNATURE = "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
