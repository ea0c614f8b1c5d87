"""Binance's published HMAC-SHA256 examples, reproduced; the Ed25519 signer against RFC 8032 and an
independent signature; the key kind chosen from the secret, and a PEM of another kind refused."""

import base64
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr

from autohedge.adapters.binance.auth import (
    SECRET_VARIABLE,
    HmacSigner,
    KeyKind,
    encode_params,
    load_signer,
    signed_query,
)
from autohedge.core.errors import AuthError
from tests.fakes.binance_keys import pkcs8_pem

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


# -- Ed25519 ----------------------------------------------------------------------------------------------

SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 TEST 1
RFC8032_EMPTY_MESSAGE_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
WS_PAYLOAD = (
    "apiKey=4yNzx3yWC5bS6YTwEkSRaC0nRmSQIIStAUOh1b6kqaBrTLIhjCpI5lJH8q8R8WNO&price=52000.00&quantity=0.01000000"
    "&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp=1645423376532&type=LIMIT"
)


ED25519_PEM = pkcs8_pem(Ed25519PrivateKey.from_private_bytes(SEED))


def test_auth_ed25519_pem_selects_the_ed25519_signer_and_a_plain_secret_hmac() -> None:
    assert load_signer(SecretStr(ED25519_PEM)).kind is KeyKind.ED25519
    assert load_signer(SecretStr(SECRET)).kind is KeyKind.HMAC
    one_line = ED25519_PEM.strip().replace("\n", "\\n")  # as a .env file holds it
    assert load_signer(SecretStr(one_line)).kind is KeyKind.ED25519


def test_auth_ed25519_reproduces_the_rfc8032_vector() -> None:
    signature = load_signer(SecretStr(ED25519_PEM)).sign("")
    assert base64.b64decode(signature).hex() == RFC8032_EMPTY_MESSAGE_SIGNATURE


def test_auth_ed25519_signs_a_binance_payload_as_base64_of_the_ed25519_signature() -> None:
    expected = base64.b64encode(Ed25519PrivateKey.from_private_bytes(SEED).sign(WS_PAYLOAD.encode()))
    signature = load_signer(SecretStr(ED25519_PEM)).sign(WS_PAYLOAD)
    assert signature == expected.decode("ascii") and len(signature) == 88


def test_auth_ed25519_signed_query_percent_encodes_the_signature_of_exactly_what_is_sent() -> None:
    signer = load_signer(SecretStr(ED25519_PEM))
    query = signed_query(signer, PARAMS)
    payload, _, encoded = query.rpartition("&signature=")
    assert payload == encode_params(PARAMS)
    assert not set(encoded) & set("+/=") and unquote(encoded) == signer.sign(payload)
    public_key = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    public_key.verify(base64.b64decode(unquote(encoded)), payload.encode())  # raises if not valid


@pytest.mark.parametrize(
    "secret",
    [
        pkcs8_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
        pkcs8_pem(ec.generate_private_key(ec.SECP256R1())),
    ],
    ids=["rsa", "ec"],
)
def test_auth_a_pem_of_another_key_kind_is_an_error_naming_the_variable(secret: str) -> None:
    with pytest.raises(AuthError, match=SECRET_VARIABLE) as caught:
        load_signer(SecretStr(secret))
    assert "Ed25519" in str(caught.value) and secret.splitlines()[1] not in str(caught.value)
    assert caught.value.__context__ is None


@pytest.mark.parametrize(
    "secret",
    [
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
        Ed25519PrivateKey.from_private_bytes(SEED)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"password"),
        )
        .decode("ascii"),
        ED25519_PEM.replace("PRIVATE", "PUBLIC"),
    ],
    ids=["garbage", "encrypted", "not-a-private-key"],
)
def test_auth_a_pem_that_does_not_parse_is_an_error_naming_the_variable(secret: str) -> None:
    with pytest.raises(AuthError, match=SECRET_VARIABLE) as caught:
        load_signer(SecretStr(secret))
    assert "bm90IGEga2V5" not in str(caught.value) and caught.value.__suppress_context__


def test_auth_signers_never_show_their_secret() -> None:
    for secret in (SECRET, ED25519_PEM):
        signer = load_signer(SecretStr(secret))
        assert secret not in repr(signer) and "*" in repr(signer)
