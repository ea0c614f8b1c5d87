"""Binance's published HMAC-SHA256 examples, reproduced."""

from pydantic import SecretStr

from autohedge.adapters.binance.auth import HmacSigner, encode_params, signed_query

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
HMAC = HmacSigner(SecretStr(SECRET))
PARAMS = [
    ("symbol", "LTCBTC"),
    ("side", "BUY"),
    ("type", "LIMIT"),
    ("timeInForce", "GTC"),
    ("quantity", "1"),
    ("price", "0.1"),
    ("recvWindow", "5000"),
    ("timestamp", "1499827319559"),
]


def test_auth_query_string_example_signature() -> None:
    assert (
        HMAC.sign(encode_params(PARAMS)) == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    )


def test_auth_non_ascii_symbol_is_percent_encoded_before_signing() -> None:
    params = [("symbol", "\uff11\uff12\uff13\uff14\uff15\uff16"), *PARAMS[1:]]  # full-width digits 1-6
    payload = encode_params(params)
    assert payload.startswith("symbol=%EF%BC%91%EF%BC%92")
    assert HMAC.sign(payload) == "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"


def test_auth_query_plus_body_example_signature() -> None:
    query = encode_params(PARAMS[:4])
    body = encode_params(PARAMS[4:])
    assert HMAC.sign(query + body) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_auth_signed_query_appends_the_signature_of_exactly_what_is_sent() -> None:
    query = signed_query(HMAC, PARAMS)
    payload, _, signature = query.rpartition("&signature=")
    assert payload == encode_params(PARAMS) and signature == HMAC.sign(payload)
