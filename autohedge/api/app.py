"""The FastAPI application: JSON endpoints, Prometheus metrics and the static status page."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI, Query, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr

from autohedge.api.auth import BearerAuth
from autohedge.api.control import EngineControl
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

__all__ = ["create_app"]

STATIC_DIR = Path(__file__).parent / "static"


def create_app(control: EngineControl, *, token: SecretStr | None, token_env: str) -> FastAPI:
    """Every route but ``GET /health`` and the static page needs ``Authorization: Bearer <token>``."""
    app = FastAPI(
        title="autohedge", version="0.1.0", description="Control API of a running autohedge process."
    )
    auth = Depends(BearerAuth(token, token_env))

    @app.get("/health", response_model=HealthReport, tags=["status"])
    def health() -> HealthReport:
        return control.health()

    @app.get("/status", response_model=StatusReport, dependencies=[auth], tags=["status"])
    def status() -> StatusReport:
        return control.status()

    @app.get("/positions", response_model=list[PositionView], dependencies=[auth], tags=["status"])
    def positions() -> list[PositionView]:
        return control.positions()

    @app.get("/orders", response_model=list[OrderView], dependencies=[auth], tags=["status"])
    def orders() -> list[OrderView]:
        return control.orders()

    @app.get("/actors", response_model=ActorsReport, dependencies=[auth], tags=["status"])
    def actors() -> ActorsReport:
        return control.actors()

    @app.get("/events", response_model=list[EventView], dependencies=[auth], tags=["status"])
    def events(limit: int = Query(100, ge=1, le=500)) -> list[EventView]:
        return control.recent_events(limit)

    @app.get("/trades", response_model=list[TradeView], dependencies=[auth], tags=["status"])
    def trades(limit: int = Query(50, ge=1, le=500)) -> list[TradeView]:
        return control.trades(limit)

    @app.get("/pnl", response_model=PnlView, dependencies=[auth], tags=["status"])
    def pnl() -> PnlView:
        return control.pnl()

    @app.post("/trading/stop", response_model=ActionResult, dependencies=[auth], tags=["control"])
    def stop_trading(flatten: bool = False) -> ActionResult:
        closed = control.stop_trading(flatten=flatten)
        message = "trading stopped; exits keep protecting" + (
            f"; closing {closed} positions" if flatten else ""
        )
        return ActionResult(ok=True, message=message, count=closed)

    @app.post("/trading/start", response_model=ActionResult, dependencies=[auth], tags=["control"])
    def start_trading() -> ActionResult:
        control.start_trading()
        return ActionResult(ok=True, message="trading started")

    @app.post("/positions/sync", response_model=ActionResult, dependencies=[auth], tags=["control"])
    def sync_positions() -> ActionResult:
        adopted = control.sync_positions()
        return ActionResult(ok=True, message=f"{adopted} positions adopted and protected", count=adopted)

    @app.post("/orders/cancel-entries", response_model=ActionResult, dependencies=[auth], tags=["control"])
    def cancel_entries() -> ActionResult:
        cancelled = control.cancel_entries()
        return ActionResult(ok=True, message=f"{cancelled} entry orders cancelled", count=cancelled)

    @app.get("/metrics", dependencies=[auth], tags=["status"], response_class=Response)
    def metrics() -> Response:
        # The exposition library is imported on the first scrape: a process nobody scrapes never pays
        # its memory.
        from prometheus_client import CONTENT_TYPE_LATEST

        from autohedge.api.metrics import render_metrics

        return Response(render_metrics(control.metrics_snapshot), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
