"""The control API: JSON endpoints, Prometheus metrics and the static status page.

Every endpoint is one row of ``ENDPOINTS``, served by Starlette alone. The OpenAPI schema and its pages
(``/openapi.json``, ``/docs``, ``/redoc``) come from a FastAPI application built from the same rows when
one of them is first asked: the framework, its schema models and the schema generation (about 6 MiB)
are never loaded by a process whose API only answers requests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from autohedge.api.auth import BearerAuth
from autohedge.api.control import ActionRefused, EngineControl, EngineUnavailable
from autohedge.api.models import (
    ActionResult,
    ActorsReport,
    EventView,
    HealthReport,
    OrderView,
    PnlView,
    PositionView,
    StatusReport,
    TradeView,
)

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ENDPOINTS", "SCHEMA_PATHS", "Endpoint", "QueryParam", "create_app", "schema_app"]

STATIC_DIR = Path(__file__).parent / "static"
SCHEMA_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
"""Served by the FastAPI application built at the first request for one of them."""
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


@dataclass(frozen=True)
class QueryParam:
    """A query parameter: an int within ``ge``..``le``, or a bool (``true``/``false``/``1``/``0``...)."""

    name: str
    kind: type[int] | type[bool]
    default: int | bool
    ge: int | None = None
    le: int | None = None

    def parse(self, raw: str | None) -> int | bool:
        """The value of ``raw`` (None: absent); ValueError says what is wrong with it."""
        if raw is None:
            return self.default
        if self.kind is bool:
            word = raw.strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
            raise ValueError("Input should be a valid boolean")
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("Input should be a valid integer") from None
        if self.ge is not None and value < self.ge:
            raise ValueError(f"Input should be greater than or equal to {self.ge}")
        if self.le is not None and value > self.le:
            raise ValueError(f"Input should be less than or equal to {self.le}")
        return value


@dataclass(frozen=True)
class Endpoint:
    """One route. ``answer(control, **params)`` runs on a worker thread and returns a model, a list of
    models, or a ``Response`` (the metrics text)."""

    method: Literal["GET", "POST"]
    path: str
    name: str
    """The operation's name in the schema."""
    answer: Callable[..., Any]
    response_model: Any
    """What the schema documents (None: a plain response)."""
    auth: bool = True
    params: tuple[QueryParam, ...] = ()
    tag: str = "status"


def _stop_trading(control: EngineControl, *, flatten: bool) -> ActionResult:
    closed = control.stop_trading(flatten=flatten)
    message = "trading stopped; exits keep protecting" + (f"; closing {closed} positions" if flatten else "")
    return ActionResult(ok=True, message=message, count=closed)


def _start_trading(control: EngineControl) -> ActionResult:
    control.start_trading()
    return ActionResult(ok=True, message="trading started")


def _sync_positions(control: EngineControl) -> ActionResult:
    adopted = control.sync_positions()
    return ActionResult(ok=True, message=f"{adopted} positions adopted and protected", count=adopted)


def _cancel_entries(control: EngineControl) -> ActionResult:
    cancelled = control.cancel_entries()
    return ActionResult(ok=True, message=f"{cancelled} entry orders cancelled", count=cancelled)


def _metrics(control: EngineControl) -> Response:
    # The exposition library is imported on the first scrape: a process nobody scrapes never pays it.
    from prometheus_client import CONTENT_TYPE_LATEST

    from autohedge.api.metrics import render_metrics

    return Response(render_metrics(control.metrics_snapshot), media_type=CONTENT_TYPE_LATEST)


_LIMIT_EVENTS = QueryParam("limit", int, 100, ge=1, le=500)
_LIMIT_TRADES = QueryParam("limit", int, 50, ge=1, le=500)

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/health", "health", lambda c: c.health(), HealthReport, auth=False),
    Endpoint("GET", "/status", "status", lambda c: c.status(), StatusReport),
    Endpoint("GET", "/positions", "positions", lambda c: c.positions(), list[PositionView]),
    Endpoint("GET", "/orders", "orders", lambda c: c.orders(), list[OrderView]),
    Endpoint("GET", "/actors", "actors", lambda c: c.actors(), ActorsReport),
    Endpoint(
        "GET",
        "/events",
        "events",
        lambda c, limit: c.recent_events(limit),
        list[EventView],
        params=(_LIMIT_EVENTS,),
    ),
    Endpoint(
        "GET", "/trades", "trades", lambda c, limit: c.trades(limit), list[TradeView], params=(_LIMIT_TRADES,)
    ),
    Endpoint("GET", "/pnl", "pnl", lambda c: c.pnl(), PnlView),
    Endpoint(
        "POST",
        "/trading/stop",
        "stop_trading",
        _stop_trading,
        ActionResult,
        params=(QueryParam("flatten", bool, False),),
        tag="control",
    ),
    Endpoint("POST", "/trading/start", "start_trading", _start_trading, ActionResult, tag="control"),
    Endpoint("POST", "/positions/sync", "sync_positions", _sync_positions, ActionResult, tag="control"),
    Endpoint(
        "POST", "/orders/cancel-entries", "cancel_entries", _cancel_entries, ActionResult, tag="control"
    ),
    Endpoint("GET", "/metrics", "metrics", _metrics, None),
)


def _json(answer: Any) -> Response:
    """A model or a list of models as JSON (decimals as strings, as the schema says)."""
    if isinstance(answer, Response):
        return answer
    if isinstance(answer, BaseModel):
        body = answer.model_dump_json().encode("utf-8")
    else:
        body = b"[" + b",".join(item.model_dump_json().encode("utf-8") for item in answer) + b"]"
    return Response(body, media_type="application/json")


def _unauthorized(detail: str) -> Response:
    return JSONResponse({"detail": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


def _parse_params(endpoint: Endpoint, request: Request) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(values, errors). A parameter this endpoint does not take, one given twice, or a body is refused
    rather than ignored: ``?flaten=true`` or ``{"flatten": true}`` would otherwise stop without closing."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    known = {param.name for param in endpoint.params}
    for name in dict.fromkeys(request.query_params.keys()):
        if name not in known:
            takes = ", ".join(sorted(known)) or "none"
            msg = f"unknown query parameter {name!r} (this endpoint takes: {takes})"
            errors.append({"type": "unknown", "loc": ["query", name], "msg": msg, "input": None})
    for param in endpoint.params:
        given = request.query_params.getlist(param.name)
        if len(given) > 1:
            msg = f"{param.name} given {len(given)} times; give it once"
            errors.append({"type": "repeated", "loc": ["query", param.name], "msg": msg, "input": given})
            continue
        raw = given[0] if given else None
        try:
            values[param.name] = param.parse(raw)
        except ValueError as exc:
            errors.append({"type": "invalid", "loc": ["query", param.name], "msg": str(exc), "input": raw})
    # Judged on the headers alone: a huge body is never read.
    length = request.headers.get("content-length", "0").strip()
    if length not in ("", "0") or "transfer-encoding" in request.headers:
        takes = ", ".join(f"{name}=..." for name in sorted(known))
        hint = f"; pass options as query parameters ({takes})" if known else ""
        msg = f"this endpoint takes no request body{hint}"
        errors.append({"type": "body", "loc": ["body"], "msg": msg, "input": None})
    return values, errors


def _serve(endpoint: Endpoint, control: EngineControl, auth: BearerAuth) -> Callable[[Request], Any]:
    async def handle(request: Request) -> Response:
        """On the server's event loop; the answer is computed on a worker thread (asks may wait)."""
        if endpoint.auth:
            denied = auth.denial(request.headers.get("authorization", ""))
            if denied is not None:
                return _unauthorized(denied)
        values, errors = _parse_params(endpoint, request)
        if errors:
            return JSONResponse({"detail": errors}, status_code=422)
        try:
            answer = await run_in_threadpool(endpoint.answer, control, **values)
        except ActionRefused as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        except EngineUnavailable as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        return _json(answer)

    return handle


class _SchemaOnDemand:
    """The FastAPI application of the same endpoints, built at the first request for the schema or its
    pages (on the server's event-loop thread: built once)."""

    def __init__(self, control: EngineControl, auth: BearerAuth) -> None:
        self._control = control
        self._auth = auth
        self._app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            self._app = schema_app(self._control, self._auth)
        await self._app(scope, receive, send)


def schema_app(control: EngineControl, auth: BearerAuth) -> FastAPI:
    """FastAPI over ``ENDPOINTS``: it documents (and would serve) exactly what ``create_app`` serves."""
    from fastapi import Depends, FastAPI, HTTPException, Query

    def require_token(request: Request) -> None:
        denied = auth.denial(request.headers.get("authorization", ""))
        if denied is not None:
            raise HTTPException(401, detail=denied, headers={"WWW-Authenticate": "Bearer"})

    app = FastAPI(
        title="autohedge", version="0.1.0", description="Control API of a running autohedge process."
    )
    for endpoint in ENDPOINTS:
        app.add_api_route(
            endpoint.path,
            _documented(endpoint, control, Query),
            methods=[endpoint.method],
            response_model=endpoint.response_model,
            response_class=Response if endpoint.response_model is None else JSONResponse,
            dependencies=[Depends(require_token)] if endpoint.auth else [],
            tags=[endpoint.tag],
        )
    return app


def _documented(endpoint: Endpoint, control: EngineControl, query: Callable[..., Any]) -> Callable[..., Any]:
    """A function whose signature declares ``endpoint``'s query parameters the way FastAPI reads them."""

    def call(**values: Any) -> Any:
        return endpoint.answer(control, **values)

    call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                p.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=query(p.default, ge=p.ge, le=p.le),
                annotation=p.kind,
            )
            for p in endpoint.params
        ]
    )
    call.__name__ = endpoint.name
    return call


def create_app(control: EngineControl, *, token: SecretStr | None, token_env: str) -> ASGIApp:
    """Every route but ``GET /health`` and the static page needs ``Authorization: Bearer <token>``."""
    auth = BearerAuth(token, token_env)
    schema = _SchemaOnDemand(control, auth)
    routes: list[Route | Mount] = [
        Route(e.path, _serve(e, control, auth), methods=[e.method]) for e in ENDPOINTS
    ]
    routes += [Route(path, schema) for path in SCHEMA_PATHS]
    routes.append(Route("/", lambda _request: FileResponse(STATIC_DIR / "index.html"), methods=["GET"]))
    routes.append(Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"))
    return Starlette(routes=routes)
