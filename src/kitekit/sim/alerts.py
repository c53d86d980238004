"""One user's alerts on the simulated exchange: the book of them, their shape on the wire, and their firing.

The exchange keeps an :class:`AlertBook` in each account (saved with it) and judges the enabled alerts against
its market model every market second of a session, and along the market's path across a gap
(:meth:`SimExchange`'s catch-up): an alert fires once, is disabled with :data:`~kitekit.wire.alerts.FIRED_REASON`,
counts the firing in ``alert_count`` and records it in its history, with the market of its instruments at
that moment; an ``ato`` alert places its basket through the engine first. Kite's alerts page, the Go SDK's
``alerts.go`` and kiteconnect-mocks' ``alerts_get_one.json`` give the shapes (``docs/simulator.md``, "Alerts").
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kitekit.clock import ensure_aware
from kitekit.sim.market import Snapshot
from kitekit.wire.alerts import (
    FIRED_REASON,
    MAX_ALERTS,
    AlertStatus,
    AlertTerms,
    AlertType,
    RhsType,
    alert_not_found,
    json_number,
    parse_alert_form,
    too_many_alerts,
)
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.formats import format_timestamp

__all__ = ["AlertBook", "SimAlert", "quote_item"]

#: Answers whether ``EXCHANGE:TRADINGSYMBOL`` is listed now (the exchange's view, ``INDICES`` included).
Listed = Callable[[str, str], bool]


@dataclass
class SimAlert:
    """One alert: its terms and what became of it."""

    uuid: str
    user_id: str
    terms: AlertTerms
    created_at: datetime
    updated_at: datetime
    status: AlertStatus = AlertStatus.ENABLED
    disabled_reason: str = ""
    alert_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        """Return the ``EXCHANGE:TRADINGSYMBOL`` of the instruments the condition reads (left side first)."""
        rhs = self.terms.rhs_key
        return [self.terms.lhs_key] if rhs is None else [self.terms.lhs_key, rhs]

    def as_kite(self) -> dict[str, Any]:
        """Return the alert as ``GET /alerts/{uuid}`` answers it (the mock's fields in its order; ``basket`` on ato)."""
        t = self.terms
        out: dict[str, Any] = {
            "type": str(t.type),
            "user_id": self.user_id,
            "uuid": self.uuid,
            "name": t.name,
            "status": str(self.status),
            "disabled_reason": self.disabled_reason,
            "lhs_attribute": t.lhs_attribute,
            "lhs_exchange": t.lhs_exchange,
            "lhs_tradingsymbol": t.lhs_tradingsymbol,
            "operator": str(t.operator),
            "rhs_type": str(t.rhs_type),
            "rhs_attribute": t.rhs_attribute,
            "rhs_exchange": t.rhs_exchange,
            "rhs_tradingsymbol": t.rhs_tradingsymbol,
            "rhs_constant": json_number(t.rhs_constant),
            "alert_count": self.alert_count,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        }
        if t.basket is not None:
            out["basket"] = t.basket
        return out

    def to_state(self) -> dict[str, Any]:
        """Return the alert as plain JSON-able values (the form it was made from, and what became of it)."""
        return {
            "uuid": self.uuid,
            "user_id": self.user_id,
            "form": self.terms.to_form(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "status": str(self.status),
            "disabled_reason": self.disabled_reason,
            "alert_count": self.alert_count,
            "history": self.history,
        }

    @classmethod
    def from_state(cls, raw: Mapping[str, Any]) -> SimAlert:
        """Return an alert saved by :meth:`to_state`.

        Raises:
            RejectionError, KeyError, ValueError: a damaged record (the account is set aside then).
        """
        return cls(
            uuid=str(raw["uuid"]),
            user_id=str(raw["user_id"]),
            terms=parse_alert_form(raw["form"]),
            created_at=ensure_aware(datetime.fromisoformat(raw["created_at"])),
            updated_at=ensure_aware(datetime.fromisoformat(raw["updated_at"])),
            status=AlertStatus(raw["status"]),
            disabled_reason=str(raw["disabled_reason"]),
            alert_count=int(raw["alert_count"]),
            history=list(raw["history"]),
        )


class AlertBook:
    """One user's alerts, oldest first; not thread-safe (the exchange calls it under its lock)."""

    def __init__(self, user_id: str, state: Iterable[Mapping[str, Any]] = ()) -> None:
        self.user_id = user_id
        self._alerts: dict[str, SimAlert] = {}
        for raw in state:
            alert = SimAlert.from_state(raw)
            self._alerts[alert.uuid] = alert

    def to_state(self) -> list[dict[str, Any]]:
        """Return every alert as plain JSON-able values."""
        return [a.to_state() for a in self._alerts.values()]

    # -- the routes ---------------------------------------------------------------------------------
    def create(self, form: Mapping[str, str], now: datetime, listed: Listed) -> dict[str, Any]:
        """``POST /alerts``: return the new alert.

        Raises:
            RejectionError: InputException for a malformed form, an instrument not listed, or one alert too many.
        """
        terms = _terms(form, listed)
        if len(self._alerts) >= MAX_ALERTS:
            raise too_many_alerts()
        alert = SimAlert(str(uuidlib.uuid4()), self.user_id, terms, now, now)
        self._alerts[alert.uuid] = alert
        return alert.as_kite()

    def modify(self, uuid: str, form: Mapping[str, str], now: datetime, listed: Listed) -> dict[str, Any]:
        """``PUT /alerts/{uuid}``: replace the alert's terms (the whole alert, as Kite does) and enable it again.

        Raises:
            RejectionError: InputException for an unknown alert or a malformed form.
        """
        alert = self._get(uuid)
        alert.terms = _terms(form, listed)
        alert.status, alert.disabled_reason, alert.updated_at = AlertStatus.ENABLED, "", now
        return alert.as_kite()

    def delete(self, uuids: list[str]) -> None:
        """``DELETE /alerts?uuid=…``: remove every alert named, or none if one is unknown.

        Raises:
            RejectionError: InputException for no uuid or an unknown one.
        """
        if not uuids:
            raise RejectionError(ErrorType.INPUT, "Missing `uuid`. Name the alerts to delete.")
        for uuid in uuids:
            self._get(uuid)
        for uuid in uuids:
            self._alerts.pop(uuid, None)

    def get(self, uuid: str) -> dict[str, Any]:
        """``GET /alerts/{uuid}``.

        Raises:
            RejectionError: InputException for an unknown alert.
        """
        return self._get(uuid).as_kite()

    def listing(self, status: str | None = None) -> list[dict[str, Any]]:
        """``GET /alerts[?status=…]``: the alerts, newest first, those of ``status`` only when it is given.

        Raises:
            RejectionError: InputException for a status other than enabled or disabled.
        """
        if status and status not in (AlertStatus.ENABLED, AlertStatus.DISABLED):
            raise RejectionError(ErrorType.INPUT, f"Invalid `status` {status!r}. Use enabled or disabled.")
        alerts = reversed(self._alerts.values())
        return [a.as_kite() for a in alerts if not status or a.status == status]

    def history(self, uuid: str) -> list[dict[str, Any]]:
        """``GET /alerts/{uuid}/history``: each firing, oldest first.

        Raises:
            RejectionError: InputException for an unknown alert.
        """
        return [dict(entry) for entry in self._get(uuid).history]

    def _get(self, uuid: str) -> SimAlert:
        alert = self._alerts.get(uuid)
        if alert is None:
            raise alert_not_found(uuid)
        return alert

    # -- the market ---------------------------------------------------------------------------------
    def enabled(self) -> list[SimAlert]:
        """Return the alerts being watched, oldest first."""
        return [a for a in self._alerts.values() if a.status is AlertStatus.ENABLED]

    def fired(
        self, alert: SimAlert, at: datetime, meta: list[dict[str, Any]], order_meta: list[dict[str, Any]] | None
    ) -> None:
        """Record that ``alert`` fired at ``at`` on the market ``meta`` shows, having placed ``order_meta``."""
        alert.alert_count += 1
        alert.status, alert.disabled_reason, alert.updated_at = AlertStatus.DISABLED, FIRED_REASON, at
        alert.history.append(
            {
                "uuid": alert.uuid,
                "type": str(alert.terms.type),
                "meta": meta,
                "condition": alert.terms.condition(),
                "created_at": format_timestamp(at),
                "order_meta": order_meta if alert.terms.type is AlertType.ATO else None,
            }
        )


def _terms(form: Mapping[str, str], listed: Listed) -> AlertTerms:
    terms = parse_alert_form(form)
    sides = [("lhs", terms.lhs_exchange, terms.lhs_tradingsymbol)]
    if terms.rhs_type is RhsType.INSTRUMENT:
        sides.append(("rhs", terms.rhs_exchange, terms.rhs_tradingsymbol))
    for side, exchange, symbol in sides:
        if not listed(exchange, symbol):
            raise RejectionError(
                ErrorType.INPUT, f"Invalid `{side}_tradingsymbol`: {exchange}:{symbol} is not a known instrument."
            )
    for item in (terms.basket or {}).get("items", []):
        if not listed(str(item["exchange"]), str(item["tradingsymbol"])):
            raise RejectionError(
                ErrorType.INPUT,
                f"Invalid `basket`: {item['exchange']}:{item['tradingsymbol']} is not a known instrument.",
            )
    return terms


def quote_item(snap: Snapshot, i: int, exchange: str, tradingsymbol: str) -> dict[str, Any]:
    """Return row ``i`` of ``snap`` as an alert history's ``meta`` entry (the Go SDK's ``AlertHistoryMeta``).

    It is also the ``GET /quote`` item the alert's attributes are read from
    (:func:`~kitekit.wire.alerts.attribute_value`).
    """
    moment = snap.point.moment
    last, close = float(snap.last_price[i]), float(snap.close[i])
    return {
        "instrument_token": int(snap.tokens[i]),
        "tradingsymbol": tradingsymbol,
        "timestamp": format_timestamp(moment),
        "last_price": last,
        "ohlc": {
            "open": float(snap.open[i]),
            "high": float(snap.high[i]),
            "low": float(snap.low[i]),
            "close": close,
        },
        "net_change": round(last - close, 4),
        "exchange": exchange,
        "last_trade_time": format_timestamp(moment - timedelta(seconds=int(snap.last_trade_lag[i]))),
        "last_quantity": int(snap.last_quantity[i]),
        "buy_quantity": int(snap.buy_quantity[i]),
        "sell_quantity": int(snap.sell_quantity[i]),
        "volume": int(snap.volume[i]),
        "volume_tick": int(snap.last_quantity[i]),
        "average_price": float(snap.average_price[i]),
        "oi": int(snap.oi[i]),
        "oi_day_high": int(snap.oi_day_high[i]),
        "oi_day_low": int(snap.oi_day_low[i]),
        "lower_circuit_limit": float(snap.lower_circuit[i]),
        "upper_circuit_limit": float(snap.upper_circuit[i]),
    }
