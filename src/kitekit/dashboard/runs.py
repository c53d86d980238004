"""The Strategies page's source: the runner's runs as their folders tell them, and the kill switch.

Everything is read from ``<data dir>/runs`` (:mod:`kitekit.runner.state`): ``run.json`` (mode, strategy, limits,
status), ``state.json`` (the risk state, a kill, the day's starting P&L), ``equity.jsonl``, ``orders.jsonl`` and
``trades.jsonl`` (appended as they come), ``events.jsonl`` (the run's own record of its orders, fills, risk state
changes, kills and stop: the page's recent events), ``stats.json`` and ``report.html``. So the page shows a run in
another process (``kitekit run``) as well as one in this one, and a kill is the runner's own flag file
(:func:`kitekit.runner.request_kill`), which the run obeys within a fraction of a second.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from kitekit.clock import IST, Clock
from kitekit.dashboard.views import money
from kitekit.runner.killswitch import KILL_FILE, read_kill, request_kill
from kitekit.runner.state import JsonLines, RunFolder, run_name

__all__ = ["Runs"]

#: What a run's report page may do when the dashboard serves it: run its own inline scripts (plotly), nothing
#: else; sandboxed, so it is an origin of its own and cannot reach the dashboard's cookie or routes.
_REPORT_CSP = ("sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
               "img-src data:")  # fmt: skip

#: Recent rows of each log the page lists.
RECENT = 20


def _amount(value: float) -> dict[str, Any]:
    return {"value": value, "text": money(value)}


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _event(record: dict[str, Any]) -> dict[str, Any]:
    """Return one record of a run's ``events.jsonl`` for the page: its time of day (IST), kind and text."""
    text = str(record.get("time", ""))
    try:
        at = datetime.fromisoformat(text).astimezone(IST).strftime("%H:%M:%S")
    except ValueError:
        at = text
    return {"time": at, "at": text, "kind": str(record.get("kind", "info")), "text": str(record.get("text", ""))}


class Runs:
    """The runs of one data dir.

    Args:
        root: the folder of the runs (``<data dir>/runs``).
        clock: the time kills are stamped with.
    """

    def __init__(self, root: Path, clock: Clock) -> None:
        self.root = root
        self.clock = clock

    def folder(self, name: str) -> RunFolder:
        """Return the run called ``name``.

        Raises:
            KeyError: no run by that name (or a name that is not a run's: no paths).
        """
        if run_name(name) != name or not (self.root / name / "run.json").is_file():
            raise KeyError(name)
        return RunFolder(self.root / name)

    def summary(self, folder: RunFolder) -> dict[str, Any]:
        """Return one run's line: mode, status, risk state, P&L, the day's loss against its limits."""
        meta = folder.meta()
        state = _json(folder.file("state.json"))
        risk = state.get("risk") or {}
        kill = read_kill(folder.kill_flag) or read_kill(self.root / KILL_FILE)
        equity = JsonLines(folder.file("equity.jsonl")).load()
        capital = float(meta.get("capital") or 0.0)
        last = float(equity[-1]["equity"]) if equity else capital
        pnl = last - capital if capital else 0.0
        day = pnl - float(state.get("day_start_pnl") or 0.0)
        status = str(meta.get("status") or "")
        risk_state = "killed" if kill is not None or state.get("killed") else str(risk.get("state") or "active")
        return {
            "name": folder.name,
            "mode": str(meta.get("mode", "")),
            "strategy": str(meta.get("strategy", "")),
            "symbols": list(meta.get("symbols") or []),
            "status": "killed" if kill is not None and status in ("", "running") else status or "running",
            "risk": risk_state,
            "risk_reason": str(risk.get("reason") or (kill.reason if kill else "")),
            "started": str(meta.get("started", "")),
            "finished": str(meta.get("finished", "") or ""),
            "pnl": _amount(pnl),
            "day_pnl": _amount(day),
            "limits": self._limits(meta.get("limits") or {}, day, risk),
            "kill_flag": kill is not None,
            "report": folder.file("report.html").is_file(),
        }

    @staticmethod
    def _limits(limits: dict[str, Any], day_pnl: float, risk: dict[str, Any]) -> list[dict[str, Any]]:
        """Return each limit with how much of it the run has used (the day's loss, the day's orders), when known."""
        used: dict[str, float] = {"max_daily_loss": max(-day_pnl, 0.0), "reduce_at": max(-day_pnl, 0.0)}
        if "orders_today" in risk:
            used["max_orders_per_day"] = float(risk["orders_today"])
        out = []
        for name, value in limits.items():
            if value is None:
                continue
            row: dict[str, Any] = {"name": name, "value": value, "used": None, "share": None}
            if name in used and isinstance(value, int | float) and value:
                row["used"] = used[name]
                row["share"] = min(used[name] / float(value), 1.0) if math.isfinite(used[name]) else None
            out.append(row)
        return out

    def listing(self) -> dict[str, Any]:
        """Return every run, newest first."""
        runs = []
        if self.root.is_dir():
            for path in self.root.iterdir():
                if (path / "run.json").is_file():
                    runs.append(self.summary(RunFolder(path)))
        runs.sort(key=lambda r: r["started"], reverse=True)
        return {"runs": runs, "root": str(self.root)}

    def detail(self, name: str) -> dict[str, Any]:
        """Return one run: its line, its equity curve, recent events, orders and trades, its statistics."""
        folder = self.folder(name)
        equity = JsonLines(folder.file("equity.jsonl")).load()
        curve = []
        for record in equity:
            moment = datetime.fromisoformat(str(record["time"]))
            curve.append({"time": int(moment.timestamp()) + 19_800, "value": float(record["equity"])})
        # The chart wants one point a second, ascending: the last equity of each second.
        points = list({p["time"]: p for p in curve}.values())
        points.sort(key=lambda p: p["time"])
        return {
            **self.summary(folder),
            "equity": points,
            "events": [_event(e) for e in JsonLines(folder.file("events.jsonl")).load()[-RECENT:][::-1]],
            "orders": JsonLines(folder.file("orders.jsonl")).load()[-RECENT:][::-1],
            "trades": JsonLines(folder.file("trades.jsonl")).load()[-RECENT:][::-1],
            "stats": _json(folder.file("stats.json")),
            "meta": {k: v for k, v in folder.meta().items() if k in ("interval", "capital", "source", "reason")},
        }

    def kill(self, name: str, flatten: bool) -> dict[str, Any]:
        """Set the run's kill flag (``kitekit kill RUN [--flatten]``); return its line."""
        folder = self.folder(name)
        at = self.clock.now().isoformat()
        request_kill(folder.kill_flag, flatten=flatten, reason="killed from the dashboard", at=at)
        return self.summary(folder)

    def routes(self, reading: Callable[..., Any], control: Callable[..., Any]) -> list[BaseRoute]:
        """Return the Strategies page's routes, wrapped like the app's others."""

        def report(request: Request) -> Response:
            try:
                folder = self.folder(request.path_params["run"])
            except KeyError:
                return PlainTextResponse("no such run", status_code=404)
            path = folder.file("report.html")
            if not path.is_file():
                return PlainTextResponse("this run has no report yet", status_code=404)
            return FileResponse(path, media_type="text/html", headers={"content-security-policy": _REPORT_CSP})

        async def report_endpoint(request: Request) -> Response:
            return report(request)

        def kill(request: Request, body: dict[str, Any]) -> Any:
            return self.kill(request.path_params["run"], bool(body.get("flatten")))

        return [
            Route("/api/runs", reading(lambda r: self.listing())),
            Route("/api/runs/{run}", reading(lambda r: self.detail(r.path_params["run"]))),
            Route("/api/runs/{run}/report", report_endpoint),
            Route("/api/runs/{run}/kill", control(kill), methods=["POST"]),
        ]
