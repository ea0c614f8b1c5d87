"""Coinbase ES256 JWTs: verified with the public key (ECDSA is randomised; strings never compare)."""

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import SecretStr

from autohedge.adapters.coinbase.auth import CoinbaseSigner, jwt_uri
from autohedge.core.errors import AuthError

KEY_NAME = "organizations/org-1/apiKeys/key-1"
NOW_S = 1_700_000_000


def _pem(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    fmt = (
        serialization.PrivateFormat.TraditionalOpenSSL
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else serialization.PrivateFormat.PKCS8
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _decode(token: str, key: ec.EllipticCurvePrivateKey) -> dict[str, object]:
    decoded: dict[str, object] = jwt.decode(
        token, key.public_key(), algorithms=["ES256"], options={"verify_exp": False, "verify_nbf": False}
    )
    return decoded


def test_auth_rest_jwt_carries_the_documented_claims_and_header(
    private_key: ec.EllipticCurvePrivateKey,
) -> None:
    signer = CoinbaseSigner(SecretStr(KEY_NAME), SecretStr(_pem(private_key)))
    uri = jwt_uri("POST", "https://api.coinbase.com/api/v3/brokerage", "/orders")
    token = signer.rest_jwt(uri, now_s=NOW_S, nonce="ab12")
    assert _decode(token, private_key) == {
        "sub": KEY_NAME,
        "iss": "cdp",
        "nbf": NOW_S,
        "exp": NOW_S + 120,
        "uri": "POST api.coinbase.com/api/v3/brokerage/orders",
    }
    assert jwt.get_unverified_header(token) == {
        "alg": "ES256",
        "kid": KEY_NAME,
        "nonce": "ab12",
        "typ": "JWT",
    }


def test_auth_ws_jwt_has_no_uri_and_a_fresh_nonce_each_time(private_key: ec.EllipticCurvePrivateKey) -> None:
    signer = CoinbaseSigner(SecretStr(KEY_NAME), SecretStr(_pem(private_key)))
    first, second = signer.ws_jwt(now_s=NOW_S), signer.ws_jwt(now_s=NOW_S)
    assert "uri" not in _decode(first, private_key)
    assert jwt.get_unverified_header(first)["nonce"] != jwt.get_unverified_header(second)["nonce"]


def test_auth_jwt_uri_drops_the_query_and_keeps_a_local_port() -> None:
    assert jwt_uri("get", "http://127.0.0.1:8123/api/v3/brokerage/", "/orders/historical/batch?x=1") == (
        "GET 127.0.0.1:8123/api/v3/brokerage/orders/historical/batch"
    )


def test_auth_pem_with_literal_newlines_is_accepted(private_key: ec.EllipticCurvePrivateKey) -> None:
    one_line = _pem(private_key).replace("\n", "\\n")
    signer = CoinbaseSigner(SecretStr(KEY_NAME), SecretStr(one_line))
    assert _decode(signer.ws_jwt(now_s=NOW_S), private_key)["sub"] == KEY_NAME


def test_auth_not_a_pem_names_the_secret_variable() -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_COINBASE_API_SECRET"):
        CoinbaseSigner(SecretStr(KEY_NAME), SecretStr("not a key"))


def test_auth_ed25519_key_is_refused_as_not_es256() -> None:
    with pytest.raises(AuthError, match="P-256"):
        CoinbaseSigner(SecretStr(KEY_NAME), SecretStr(_pem(ed25519.Ed25519PrivateKey.generate())))


def test_auth_empty_key_name_names_the_key_variable(private_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(AuthError, match="AUTOHEDGE_COINBASE_API_KEY"):
        CoinbaseSigner(SecretStr(" "), SecretStr(_pem(private_key)))
