"""Property-based fuzzing of every route in the served OpenAPI schema: no 5xx, no unauthenticated mutation."""

from __future__ import annotations

import string

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from autohedge.api.app import create_app
from tests.api.fake_control import FakeEngineControl

TOKEN = "fuzz-token"
CONTROL = FakeEngineControl()
CLIENT = TestClient(create_app(CONTROL, token=SecretStr(TOKEN), token_env="AUTOHEDGE_API_TOKEN"))
SCHEMA = CLIENT.get("/openapi.json").json()
OPERATIONS = sorted((method.upper(), path) for path, item in SCHEMA["paths"].items() for method in item)
QUERY_NAMES = sorted(
    {p["name"] for item in SCHEMA["paths"].values() for op in item.values() for p in op.get("parameters", [])}
)

text = st.text(alphabet=string.printable, max_size=20)
query_values = st.one_of(
    text, st.integers(min_value=-(10**6), max_value=10**6).map(str), st.sampled_from(["true", "false", ""])
)
headers: st.SearchStrategy[dict[str, str]] = st.one_of(
    st.just({}),
    st.just({"Authorization": f"Bearer {TOKEN}"}),
    text.map(lambda t: {"Authorization": "Bearer " + t.replace("\n", "").replace("\r", "")}),
    text.map(lambda t: {"Authorization": t.replace("\n", "").replace("\r", "")}),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operation=st.sampled_from(OPERATIONS),
    query=st.dictionaries(st.sampled_from([*QUERY_NAMES, "junk"]), query_values, max_size=3),
    auth=headers,
)
def test_fuzz_schema_routes_never_5xx_and_never_mutate_without_token(
    operation: tuple[str, str], query: dict[str, str], auth: dict[str, str]
) -> None:
    method, path = operation
    before = len(CONTROL.mutations)
    response = CLIENT.request(method, path, params=query, headers=auth)
    assert response.status_code < 500, (method, path, query, response.text)
    authorized = auth.get("Authorization") == f"Bearer {TOKEN}"
    if not authorized and path != "/health":
        assert response.status_code == 401
        assert len(CONTROL.mutations) == before
