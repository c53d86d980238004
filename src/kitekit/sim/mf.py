"""One user's mutual funds on the simulated exchange: orders, SIPs and holdings (docs/protocol.md §12).

Kite documents little here, so the simulator keeps it simple and says so (docs/simulator.md): an order is
allotted at the next session's open at the previous trading day's NAV; a SIP places an order on each
instalment date; NAVs come from :mod:`kitekit.sim.market.funds`. Mutual funds do not move the trading
account's funds.
"""

from __future__ import annotations

import calendar as months
import hashlib
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from kitekit.clock import IST
from kitekit.engine.validation import is_decimal
from kitekit.markethours import TradingCalendar
from kitekit.sim.errors import invalid_input
from kitekit.sim.market.funds import FUNDS_BY_SYMBOL, Fund, nav, nav_day
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.formats import format_timestamp

__all__ = ["MfBook"]

_OPEN = time(9, 15)
_FREQUENCIES = ("weekly", "monthly", "quarterly")


def _number(form: dict[str, str], name: str, default: float | None = None) -> float:
    raw = form.get(name, "")
    if raw == "":
        if default is None:
            raise invalid_input(f"Missing `{name}`.")
        return default
    if not is_decimal(raw):  # float() would take "1e3", " 500" and other scripts' digits; Kite does not
        raise invalid_input(f"Invalid `{name}` {raw!r}. It must be a number.")
    value = float(raw)
    if not 0 <= value < 1e12:
        raise invalid_input(f"Invalid `{name}` {raw!r}. It must be a positive amount.")
    return value


def _whole(text: str) -> bool:
    # ASCII only: "²".isdigit() is true, yet int() refuses it.
    return text.isascii() and text.lstrip("-").isdigit() and len(text) <= 6


def _fund(form: dict[str, str]) -> Fund:
    fund = FUNDS_BY_SYMBOL.get(form.get("tradingsymbol", ""))
    if fund is None:
        raise invalid_input("Invalid `tradingsymbol`. It must be a fund's ISIN from GET /mf/instruments.")
    return fund


def _tag(form: dict[str, str]) -> str | None:
    tag = form.get("tag") or None
    if tag is not None and (len(tag) > 20 or not tag.isalnum()):
        raise invalid_input("Invalid `tag`. Use up to 20 letters and digits.")
    return tag


class MfBook:
    """One user's mutual fund orders, SIPs and holdings; plain JSON-able state, time passed in."""

    def __init__(self, user_id: str, cal: TradingCalendar, seed: int = 0, state: dict[str, Any] | None = None) -> None:
        self.user_id, self.cal, self.seed = user_id, cal, seed
        state = state or {}
        self.orders: dict[str, dict[str, Any]] = dict(state.get("orders", {}))
        self.sips: dict[str, dict[str, Any]] = dict(state.get("sips", {}))
        self.holdings: dict[str, dict[str, Any]] = dict(state.get("holdings", {}))
        self.seq: int = int(state.get("seq", 0))

    def to_state(self) -> dict[str, Any]:
        """Return the book as plain JSON-able values."""
        return {"orders": self.orders, "sips": self.sips, "holdings": self.holdings, "seq": self.seq}

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # -- time ----------------------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Run due SIP instalments and allot the orders whose allotment session has opened by ``now``."""
        cal = self.cal
        for sip in self.sips.values():
            while sip["status"] == "ACTIVE" and now >= datetime.combine(
                date.fromisoformat(sip["next_instalment"]), _OPEN, tzinfo=IST
            ):
                due = datetime.combine(date.fromisoformat(sip["next_instalment"]), _OPEN, tzinfo=IST)
                self._instalment(sip, due)
        for order in self.orders.values():
            if order["status"] != "OPEN":
                continue
            placed = datetime.fromisoformat(order["_placed"])
            allot_day = cal.next(placed.astimezone(IST).date())
            if now >= cal.session_open(allot_day):
                self._allot(order, cal.previous(allot_day))

    def _allot(self, order: dict[str, Any], day: date) -> None:
        fund = FUNDS_BY_SYMBOL[order["tradingsymbol"]]
        price = nav(fund, day)
        held = self.holdings.get(fund.tradingsymbol)
        if held is None:
            held = {"quantity": 0.0, "average_price": 0.0, "folio": f"{self.seed % 1000:03d}{self._next()}/1"}
            self.holdings[fund.tradingsymbol] = held
        if order["transaction_type"] == "BUY":
            units = round(order["amount"] / price, 3)
            total = held["quantity"] + units
            held["average_price"] = round((held["average_price"] * held["quantity"] + price * units) / total, 4)
            held["quantity"] = round(total, 3)
        else:
            units = order["quantity"]
            held["quantity"] = round(held["quantity"] - units, 3)
            order["amount"] = round(units * price, 2)
        order.update(
            status="COMPLETE",
            quantity=units,
            average_price=price,
            folio=held["folio"],
            exchange_order_id=f"{self._next():09d}",
            settlement_id=f"{day:%y%m%d}{self.seed % 10:01d}",
            exchange_timestamp=day.isoformat(),
        )

    def _instalment(self, sip: dict[str, Any], due: datetime) -> None:
        self._order(FUNDS_BY_SYMBOL[sip["tradingsymbol"]], "BUY", sip["instalment_amount"], 0.0, sip["tag"], due, "sip")
        sip["completed_instalments"] += 1
        sip["last_instalment"] = format_timestamp(due)
        if sip["instalments"] != -1:
            sip["pending_instalments"] = sip["instalments"] - sip["completed_instalments"]
            if sip["pending_instalments"] <= 0:
                sip["status"] = "COMPLETED"
        sip["next_instalment"] = _next_date(due.date(), sip["frequency"], sip["instalment_day"]).isoformat()

    # -- orders --------------------------------------------------------------------------------------
    def _order(
        self, fund: Fund, side: str, amount: float, quantity: float, tag: str | None, now: datetime, variety: str
    ) -> str:
        seq = self._next()
        digest = hashlib.sha256(f"{self.seed}:{self.user_id}:{seq}".encode()).digest()
        order_id = str(uuid.UUID(bytes=digest[:16], version=4))
        purchase = "ADDITIONAL" if self.holdings.get(fund.tradingsymbol, {}).get("quantity") else "FRESH"
        day = nav_day(self.cal, now)
        self.orders[order_id] = {
            "status": "OPEN",
            "purchase_type": purchase if side == "BUY" else "",
            "folio": self.holdings.get(fund.tradingsymbol, {}).get("folio"),
            "order_timestamp": format_timestamp(now),
            "average_price": 0.0,
            "exchange_order_id": None,
            "last_price": nav(fund, day),
            "tradingsymbol": fund.tradingsymbol,
            "settlement_id": None,
            "transaction_type": side,
            "order_id": order_id,
            "amount": amount,
            "tag": tag,
            "placed_by": self.user_id,
            "exchange_timestamp": None,
            "variety": variety,
            "last_price_date": day.isoformat(),
            "status_message": "",
            "fund": fund.name,
            "quantity": quantity,
            "_placed": now.isoformat(),
        }
        return order_id

    def place_order(self, form: dict[str, str], now: datetime) -> dict[str, str]:
        """``POST /mf/orders``: a purchase by ``amount`` or a redemption by ``quantity`` (units).

        Raises:
            RejectionError: 400 for a bad field, a purchase under the minimum, or more units than held.
        """
        fund, tag = _fund(form), _tag(form)
        side = form.get("transaction_type", "")
        if side == "BUY":
            held = self.holdings.get(fund.tradingsymbol, {}).get("quantity", 0)
            minimum = fund.minimum_additional_purchase_amount if held else fund.minimum_purchase_amount
            amount = _number(form, "amount")
            if amount < minimum:
                raise invalid_input(f"Amount should be at least {minimum:g} for {fund.name}.")
            return {"order_id": self._order(fund, side, amount, 0.0, tag, now, "regular")}
        if side == "SELL":
            units = _number(form, "quantity")
            pending = sum(
                o["quantity"]
                for o in self.orders.values()
                if (o["status"], o["transaction_type"], o["tradingsymbol"]) == ("OPEN", "SELL", fund.tradingsymbol)
            )
            free = self.holdings.get(fund.tradingsymbol, {}).get("quantity", 0.0) - pending
            if units <= 0 or units > free + 1e-9:
                raise RejectionError(ErrorType.HOLDING, f"Insufficient units. You can redeem at most {max(free, 0):g}.")
            return {"order_id": self._order(fund, side, 0.0, round(units, 3), tag, now, "regular")}
        raise invalid_input("Invalid `transaction_type`. Use BUY or SELL.")

    def cancel_order(self, order_id: str) -> dict[str, str]:
        """``DELETE /mf/orders/{order_id}``: cancel an order not yet allotted.

        Raises:
            RejectionError: unknown order (400 OrderException) or one already allotted or cancelled (400).
        """
        order = self.order(order_id)
        if order["status"] != "OPEN":
            raise invalid_input(f"Order cannot be cancelled as it is {order['status'].lower()}.")
        order["status"] = "CANCELLED"
        return {"order_id": order_id}

    def order(self, order_id: str) -> dict[str, Any]:
        """Return one order as stored (the ``_placed`` key is internal; see :meth:`order_payload`)."""
        order = self.orders.get(order_id)
        if order is None:
            raise RejectionError(ErrorType.ORDER, "Order not found", 400)
        return order

    @staticmethod
    def order_payload(order: dict[str, Any]) -> dict[str, Any]:
        """Return an order in Kite's shape."""
        return {k: v for k, v in order.items() if not k.startswith("_")}

    def order_list(self) -> list[dict[str, Any]]:
        """``GET /mf/orders``: newest first, as Kite lists them."""
        return [self.order_payload(o) for o in reversed(self.orders.values())]

    # -- SIPs ----------------------------------------------------------------------------------------
    def place_sip(self, form: dict[str, str], now: datetime) -> dict[str, str]:
        """``POST /mf/sips``: register a SIP (and buy ``initial_amount`` now if given).

        Raises:
            RejectionError: 400 for a bad field.
        """
        fund, tag = _fund(form), _tag(form)
        amount = _number(form, "amount")
        if amount < fund.minimum_additional_purchase_amount:
            raise invalid_input(f"Amount should be at least {fund.minimum_additional_purchase_amount:g}.")
        instalments, frequency, day = self._schedule(form, None)
        initial = _number(form, "initial_amount", 0.0)
        if initial and initial < fund.minimum_purchase_amount:
            raise invalid_input(f"Initial amount should be at least {fund.minimum_purchase_amount:g}.")
        local = now.astimezone(IST)
        sip_id = f"{self.seed % 1000:03d}{self._next():012d}"
        self.sips[sip_id] = {
            "sip_id": sip_id,
            "tradingsymbol": fund.tradingsymbol,
            "fund": fund.name,
            "dividend_type": fund.dividend_type,
            "transaction_type": "BUY",
            "status": "ACTIVE",
            "sip_type": "sip",
            "created": format_timestamp(local),
            "frequency": frequency,
            "instalment_amount": amount,
            "instalments": instalments,
            "last_instalment": None,
            "pending_instalments": instalments,
            "instalment_day": day or min(local.day, 28),
            "completed_instalments": 0,
            "next_instalment": "",
            "trigger_price": 0.0,
            "step_up": {},
            "sip_reg_num": None,
            "tag": tag or "",
        }
        sip = self.sips[sip_id]
        sip["next_instalment"] = _next_date(local.date(), frequency, sip["instalment_day"]).isoformat()
        if initial:
            self._order(fund, "BUY", initial, 0.0, tag, now, "sip")
        return {"sip_id": sip_id}

    @staticmethod
    def _schedule(form: dict[str, str], sip: dict[str, Any] | None) -> tuple[int, str, int]:
        raw = form.get("instalments", "")
        if raw == "" and sip is not None:
            instalments = int(sip["instalments"])
        elif _whole(raw) and (int(raw) == -1 or 1 <= int(raw) <= 1000):
            instalments = int(raw)
        else:
            raise invalid_input("Invalid `instalments`. Use -1 (until cancelled) or 1 to 1000.")
        frequency = form.get("frequency") or (sip["frequency"] if sip else "")
        if frequency not in _FREQUENCIES:
            raise invalid_input(f"Invalid `frequency`. Use one of {', '.join(_FREQUENCIES)}.")
        raw_day = form.get("instalment_day", "")
        if raw_day == "":
            return instalments, frequency, int(sip["instalment_day"]) if sip else 0
        if not _whole(raw_day) or not 1 <= int(raw_day) <= 28:
            raise invalid_input("Invalid `instalment_day`. Use a day of the month from 1 to 28.")
        return instalments, frequency, int(raw_day)

    def modify_sip(self, sip_id: str, form: dict[str, str], now: datetime) -> dict[str, str]:
        """``PUT /mf/sips/{sip_id}``: change amount, instalments, frequency, day or status (active, paused).

        Raises:
            RejectionError: unknown or cancelled SIP, or a bad field (400).
        """
        sip = self.sip(sip_id)
        if sip["status"] in ("CANCELLED", "COMPLETED"):
            raise invalid_input(f"SIP cannot be modified as it is {sip['status'].lower()}.")
        fund = FUNDS_BY_SYMBOL[sip["tradingsymbol"]]
        amount = _number(form, "amount", sip["instalment_amount"])
        if amount < fund.minimum_additional_purchase_amount:
            raise invalid_input(f"Amount should be at least {fund.minimum_additional_purchase_amount:g}.")
        status = (form.get("status") or sip["status"]).upper()
        if status not in ("ACTIVE", "PAUSED"):
            raise invalid_input("Invalid `status`. Use active or paused.")
        instalments, frequency, day = self._schedule(form, sip)
        if instalments != -1 and instalments <= sip["completed_instalments"]:
            raise invalid_input("Instalments should be more than those already completed.")
        sip.update(instalment_amount=amount, status=status, instalments=instalments, frequency=frequency)
        sip["pending_instalments"] = -1 if instalments == -1 else instalments - sip["completed_instalments"]
        if day != sip["instalment_day"] or form.get("frequency"):
            sip["instalment_day"] = day
            sip["next_instalment"] = _next_date(now.astimezone(IST).date(), frequency, day).isoformat()
        return {"sip_id": sip_id}

    def cancel_sip(self, sip_id: str) -> dict[str, str]:
        """``DELETE /mf/sips/{sip_id}``.

        Raises:
            RejectionError: unknown or already cancelled SIP (400).
        """
        sip = self.sip(sip_id)
        if sip["status"] == "CANCELLED":
            raise invalid_input("SIP is already cancelled.")
        sip["status"] = "CANCELLED"
        return {"sip_id": sip_id}

    def sip(self, sip_id: str) -> dict[str, Any]:
        """Return one SIP as stored.

        Raises:
            RejectionError: unknown SIP (400 InputException).
        """
        sip = self.sips.get(sip_id)
        if sip is None:
            raise invalid_input("SIP not found.")
        return sip

    def sip_list(self) -> list[dict[str, Any]]:
        """``GET /mf/sips``: newest first."""
        return [dict(s) for s in reversed(self.sips.values())]

    # -- holdings ------------------------------------------------------------------------------------
    def holding_list(self, now: datetime) -> list[dict[str, Any]]:
        """``GET /mf/holdings``: units held, valued at the latest NAV."""
        day = nav_day(self.cal, now)
        out = []
        for symbol, held in self.holdings.items():
            if held["quantity"] <= 0:
                continue
            fund = FUNDS_BY_SYMBOL[symbol]
            last = nav(fund, day)
            out.append(
                {
                    "folio": held["folio"],
                    "fund": fund.name,
                    "tradingsymbol": symbol,
                    "average_price": held["average_price"],
                    "last_price": last,
                    "last_price_date": day.isoformat(),
                    "pledged_quantity": 0,
                    "pnl": round((last - held["average_price"]) * held["quantity"], 2),
                    "quantity": held["quantity"],
                }
            )
        return out


def _next_date(after: date, frequency: str, day: int) -> date:
    """Return the first instalment date after ``after`` for a frequency and day of the month."""
    if frequency == "weekly":
        return after + timedelta(days=7)
    step = 3 if frequency == "quarterly" else 1
    month = after.month - 1 + (step if after.day >= day else 0)
    year, month = after.year + month // 12, month % 12 + 1
    return date(year, month, min(day, months.monthrange(year, month)[1]))
