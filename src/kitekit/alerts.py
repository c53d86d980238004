"""Kite's alerts from Python: create, list, read, change and delete alerts, and read their firings.

The official Python SDK has no alerts methods, so :class:`Alerts` sends Kite's ``/alerts`` routes itself,
through the client's own session (:func:`kitekit.rest.raw.kite_call`): paced under the same limits as every
other call, with the SDK's headers, and Kite's errors raised as the SDK's exceptions. Before anything is
sent, an alert is checked the way Kite's alerts API checks it (:mod:`kitekit.wire.alerts`, shared with the
simulator), its instruments are looked up when an instrument store is given, the 200-alert cap is counted,
and an ``ato`` alert's orders pass the pre-trade rules when a validator is given: a refusal raises
:class:`~kitekit.errors.AlertValidationError` (or the order's ``OrderValidationError``) and sends nothing.

Example::

    alerts = Alerts(kite, instruments=store.instrument, validator=Validator(store.instrument))
    alert = alerts.create(price_alert("INDICES", "NIFTY 50", above=27000))
    alerts.create(price_alert("NSE", "INFY", below=1500), then=[OrderRequest.buy("NSE:INFY", 10)])
    print(alerts.list(), alerts.history(alert.uuid))
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kitekit.errors import AlertValidationError
from kitekit.rest.raw import kite_call
from kitekit.wire.alerts import (
    MAX_ALERTS,
    AlertOperator,
    AlertStatus,
    AlertTerms,
    AlertType,
    RhsType,
    too_many_alerts,
)
from kitekit.wire.envelope import RejectionError
from kitekit.wire.formats import parse_kite_datetime
from kitekit.wire.orders import Exchange, Product

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.orders.model import OrderRequest
    from kitekit.orders.validator import Validator
    from kitekit.wire.instruments_csv import Instrument

__all__ = [
    "Alert",
    "AlertFiring",
    "AlertOperator",
    "AlertStatus",
    "AlertTerms",
    "AlertType",
    "Alerts",
    "RhsType",
    "basket_of",
    "price_alert",
]


def _time(value: Any) -> datetime | None:
    return parse_kite_datetime(str(value)) if value else None


@dataclass(frozen=True)
class Alert:
    """One alert as Kite reports it (``GET /alerts/{uuid}``); ``raw`` keeps every field."""

    uuid: str
    name: str
    type: AlertType | str
    status: AlertStatus | str
    terms: AlertTerms
    disabled_reason: str = ""
    alert_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def enabled(self) -> bool:
        """Return True while the alert is watched."""
        return self.status == AlertStatus.ENABLED

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Alert:
        """Return the alert of one Kite alert object."""
        kind = str(data.get("type", ""))
        terms = AlertTerms(
            name=str(data.get("name", "")),
            type=AlertType(kind) if kind in tuple(AlertType) else AlertType.SIMPLE,
            lhs_exchange=str(data.get("lhs_exchange", "")),
            lhs_tradingsymbol=str(data.get("lhs_tradingsymbol", "")),
            lhs_attribute=str(data.get("lhs_attribute", "")),
            operator=AlertOperator(str(data.get("operator", ">="))),
            rhs_type=RhsType(str(data.get("rhs_type") or "constant")),
            rhs_constant=float(data.get("rhs_constant") or 0.0),
            rhs_exchange=str(data.get("rhs_exchange") or ""),
            rhs_tradingsymbol=str(data.get("rhs_tradingsymbol") or ""),
            rhs_attribute=str(data.get("rhs_attribute") or ""),
            basket=data.get("basket"),
        )
        status = str(data.get("status", ""))
        return cls(
            uuid=str(data["uuid"]),
            name=terms.name,
            type=terms.type if kind in tuple(AlertType) else kind,
            status=AlertStatus(status) if status in tuple(AlertStatus) else status,
            terms=terms,
            disabled_reason=str(data.get("disabled_reason") or ""),
            alert_count=int(data.get("alert_count") or 0),
            created_at=_time(data.get("created_at")),
            updated_at=_time(data.get("updated_at")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AlertFiring:
    """One firing of an alert (``GET /alerts/{uuid}/history``): when, on what market, and the orders it placed."""

    uuid: str
    condition: str
    created_at: datetime | None
    meta: list[dict[str, Any]]
    order_meta: Any = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> AlertFiring:
        """Return the firing of one history entry."""
        meta = data.get("meta")
        return cls(
            uuid=str(data.get("uuid", "")),
            condition=str(data.get("condition", "")),
            created_at=_time(data.get("created_at")),
            meta=[dict(m) for m in meta] if isinstance(meta, list) else [],
            order_meta=data.get("order_meta"),
            raw=dict(data),
        )


def price_alert(
    exchange: str,
    tradingsymbol: str,
    *,
    above: float | None = None,
    below: float | None = None,
    name: str | None = None,
) -> AlertTerms:
    """Return the terms of a simple alert on an instrument's last price reaching a level, from above or below.

    Give them to :meth:`Alerts.create` with ``then=`` orders to make it an ``ato`` alert.

    Args:
        exchange: the instrument's exchange; ``INDICES`` for an index, as Kite names them in alerts.
        tradingsymbol: its symbol.
        above: fire when the last price is at or above this level.
        below: fire when the last price is at or below this level.
        name: the alert's name (default: symbol and condition).

    Raises:
        ValueError: not exactly one of ``above`` and ``below``.
    """
    if (above is None) == (below is None):
        raise ValueError("give exactly one of above and below")
    level = above if above is not None else below
    assert level is not None  # noqa: S101 - one of the two, checked above
    operator = AlertOperator.GE if above is not None else AlertOperator.LE
    return AlertTerms(
        name=name or f"{tradingsymbol} {operator} {level:g}",
        type=AlertType.SIMPLE,
        lhs_exchange=exchange,
        lhs_tradingsymbol=tradingsymbol,
        lhs_attribute="LastTradedPrice",
        operator=operator,
        rhs_type=RhsType.CONSTANT,
        rhs_constant=float(level),
    )


def basket_of(orders: Sequence[OrderRequest], name: str = "kitekit") -> dict[str, Any]:
    """Return an ``ato`` alert's basket of ``orders``, in the shape of Kite's alerts page and the Go SDK.

    A request without a product gets its segment's carry product (CNC in the cash market, NRML in F&O), and
    a market order without protection Kite's automatic one (-1), as the pre-trade check completes them.
    """
    items = []
    for i, req in enumerate(orders):
        product = req.product or (Product.CNC if req.exchange in (Exchange.NSE, Exchange.BSE) else Product.NRML)
        protection = req.market_protection if req.market_protection is not None else -1
        params: dict[str, Any] = {
            "transaction_type": str(req.transaction_type),
            "product": str(product),
            "order_type": str(req.order_type),
            "validity": str(req.validity),
            "validity_ttl": req.validity_ttl or 0,
            "quantity": req.quantity,
            "price": req.price or 0,
            "trigger_price": req.trigger_price or 0,
            "disclosed_quantity": req.disclosed_quantity or 0,
            "last_price": 0,
            "variety": str(req.variety),
            "tags": [],
            "squareoff": 0,
            "stoploss": 0,
            "trailing_stoploss": 0,
            "iceberg_legs": req.iceberg_legs or 0,
            "market_protection": protection if str(req.order_type) in ("MARKET", "SL-M") else 0,
        }
        items.append(
            {
                "type": "insert",
                "tradingsymbol": req.tradingsymbol,
                "exchange": str(req.exchange),
                "weight": i,
                "params": params,
            }
        )
    return {"name": name, "type": "alert", "tags": [], "items": items}


_FIELD = re.compile(r"`(\w+)`")


class Alerts:
    """Kite's alerts for one logged-in client.

    Args:
        kite: a logged-in ``KiteConnect`` (from :func:`kitekit.get_kite`, so its calls are paced).
        instruments: looks an ``EXCHANGE:TRADINGSYMBOL`` up (``InstrumentStore.instrument``) to refuse an alert
            on an instrument that does not exist before sending it; None leaves that to Kite.
        validator: checks an ``ato`` alert's orders against the pre-trade rules; None leaves that to Kite.
        check_cap: count the alerts (``GET /alerts``) before creating one, to refuse the 201st locally.
    """

    def __init__(
        self,
        kite: KiteConnect,
        instruments: Callable[[str], Instrument] | None = None,
        validator: Validator | None = None,
        *,
        check_cap: bool = True,
    ) -> None:
        self.kite = kite
        self.instruments = instruments
        self.validator = validator
        self.check_cap = check_cap

    # -- reading ------------------------------------------------------------------------------------
    def list(self, status: AlertStatus | str | None = None) -> list[Alert]:
        """Return the alerts, newest first; only those of ``status`` when given. Route: ``GET /alerts``."""
        params = {"status": str(status)} if status else None
        return [Alert.from_kite(a) for a in kite_call(self.kite, "GET", "/alerts", params) or []]

    def get(self, uuid: str) -> Alert:
        """Return one alert. Route: ``GET /alerts/{uuid}``."""
        return Alert.from_kite(kite_call(self.kite, "GET", f"/alerts/{_path(uuid)}"))

    def history(self, uuid: str) -> builtins.list[AlertFiring]:
        """Return each firing of an alert, oldest first. Route: ``GET /alerts/{uuid}/history``."""
        return [AlertFiring.from_kite(h) for h in kite_call(self.kite, "GET", f"/alerts/{_path(uuid)}/history") or []]

    # -- changing -----------------------------------------------------------------------------------
    def create(self, terms: AlertTerms, then: Sequence[OrderRequest] = ()) -> Alert:
        """Create an alert (an ``ato`` one with the orders of ``then``, if any). Route: ``POST /alerts``.

        Raises:
            AlertValidationError: Kite would refuse the alert (a field, the cap); nothing was sent.
            OrderValidationError: one of its orders breaks a pre-trade rule; nothing was sent.
            UnknownInstrumentError: an instrument it names does not exist; nothing was sent.
        """
        terms = self.check(terms, then)
        if self.check_cap and len(self.list()) >= MAX_ALERTS:
            raise AlertValidationError(too_many_alerts().message, "")
        return Alert.from_kite(kite_call(self.kite, "POST", "/alerts", form=terms.to_form()))

    def modify(self, uuid: str, terms: AlertTerms, then: Sequence[OrderRequest] = ()) -> Alert:
        """Replace an alert's terms (Kite replaces the whole alert) and enable it again. Route: ``PUT /alerts/{uuid}``.

        Raises:
            AlertValidationError, OrderValidationError, UnknownInstrumentError: as :meth:`create`.
        """
        terms = self.check(terms, then)
        return Alert.from_kite(kite_call(self.kite, "PUT", f"/alerts/{_path(uuid)}", form=terms.to_form()))

    def delete(self, *uuids: str) -> None:
        """Delete alerts. Route: ``DELETE /alerts?uuid=…``.

        Raises:
            ValueError: no uuid given.
        """
        if not uuids:
            raise ValueError("name at least one alert to delete")
        kite_call(self.kite, "DELETE", "/alerts", [("uuid", u) for u in uuids])

    # -- checking -----------------------------------------------------------------------------------
    def check(self, terms: AlertTerms, then: Sequence[OrderRequest] = ()) -> AlertTerms:
        """Return ``terms`` checked as Kite's alerts API checks them, with ``then``'s orders as its basket.

        Raises:
            AlertValidationError, OrderValidationError, UnknownInstrumentError: as :meth:`create`.
        """
        orders = builtins.list(then)
        if orders and self.validator is not None:
            orders = [self.validator.check(req) for req in orders]  # completes product and protection too
        if orders:
            terms = AlertTerms(**{**_fields(terms), "type": AlertType.ATO, "basket": basket_of(orders)})
        try:
            checked = terms.checked()
        except RejectionError as exc:
            found = _FIELD.search(exc.message)
            raise AlertValidationError(exc.message, found.group(1) if found else "") from None
        if self.instruments is not None:
            for key in _keys(checked):
                self.instruments(key)
        return checked


def _fields(terms: AlertTerms) -> dict[str, Any]:
    return {name: getattr(terms, name) for name in AlertTerms.__dataclass_fields__}


def _keys(terms: AlertTerms) -> list[str]:
    """Return the instrument-store keys of every instrument an alert names (an index by its listing's name)."""
    keys = [_store_key(terms.lhs_exchange, terms.lhs_tradingsymbol)]
    if terms.rhs_type is RhsType.INSTRUMENT:
        keys.append(_store_key(terms.rhs_exchange, terms.rhs_tradingsymbol))
    keys += [f"{item['exchange']}:{item['tradingsymbol']}" for item in (terms.basket or {}).get("items", [])]
    return keys


def _store_key(exchange: str, tradingsymbol: str) -> str:
    # Alerts name an index on INDICES; the dump lists it on NSE or BSE, and the store finds it by its name.
    return tradingsymbol if exchange == "INDICES" else f"{exchange}:{tradingsymbol}"


def _path(uuid: str) -> str:
    """Return ``uuid`` fit for a path segment (a uuid is hex and dashes; anything else is refused)."""
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", uuid):
        raise ValueError(f"{uuid!r} is not an alert uuid")
    return uuid
