"""What time alone does to an account: TTL expiry, the intraday square-off, the close, the next session.

Session times come from :class:`~kitekit.markethours.TradingCalendar` (09:15–15:30 IST on trading days). At
the square-off time (15:20 by default, Zerodha's for equity) open MIS/CO orders are cancelled and MIS/CO
positions closed at the last price; at 15:30 every order still open is cancelled; at the next session's open
delivery positions settle into holdings (T1, then settled a session later), the rest carry over, expired
contracts settle at their last price, the order book starts empty and queued AMOs go to the exchange.
"""

from __future__ import annotations

from datetime import datetime, time

from kitekit.clock import IST
from kitekit.engine.flow import OrderFlow
from kitekit.engine.holdings import Holding
from kitekit.engine.positions import Position
from kitekit.wire.order_terms import PlaceRequest
from kitekit.wire.orders import GttStatus, OrderType, Product, TransactionType, Variety
from kitekit.wire.orders import OrderStatus as S

__all__ = ["DayCycle"]

_INTRADAY = (Product.MIS, Product.CO)
_DELIVERY = (Product.CNC, Product.MTF)


class DayCycle:
    """Runs the session events between the account's last moment and a new one, in time order."""

    def __init__(self, flow: OrderFlow, squareoff_at: time | None) -> None:
        self.flow = flow
        self.squareoff_at = squareoff_at
        self._quiet_until: datetime | None = None  # no session event before this moment

    def advance(self, now: datetime) -> datetime:
        """Bring the account up to ``now`` and return the time it is at (time never runs backwards)."""
        acct, cal = self.flow.account, self.flow.calendar
        if now == acct.now and self._quiet_until is not None and now < self._quiet_until and not acct.gtts:
            # Already brought up to this very moment: no session event is due and nothing placed since can
            # expire at it (a TTL runs a minute at least). Every call of a burst at one moment (a backtest's
            # bar: its quote, then its order) passes here.
            acct.now = now
            return now
        now = max(now, acct.now)
        while self._quiet_until is None or now >= self._quiet_until:
            day = acct.day
            trading = cal.is_trading_day(day)
            if trading and not acct.squared_off and self.squareoff_at is not None:
                at = datetime.combine(day, self.squareoff_at, tzinfo=IST)
                if now >= at:
                    self._expire(at)
                    self.squareoff(at)
                    acct.squared_off = True
                    continue
            close = cal.session_close(day)
            if trading and not acct.closed and now >= close:
                self._expire(close)
                self.close(close)
                acct.squared_off = acct.closed = True
                continue
            opens = cal.session_open(cal.next(day))
            if now >= opens:
                self.roll(opens)
                continue
            pending = [opens]
            if trading and not acct.closed:
                pending.append(close)
                if not acct.squared_off and self.squareoff_at is not None:
                    pending.append(datetime.combine(day, self.squareoff_at, tzinfo=IST))
            self._quiet_until = min(pending)
            break
        self._expire(now)
        for gtt in acct.gtts.values():
            if gtt.status is GttStatus.ACTIVE and now >= gtt.expires_at:
                gtt.status, gtt.updated_at = GttStatus.EXPIRED, gtt.expires_at
        acct.now = now
        return now

    def _expire(self, until: datetime) -> None:
        for order in self.flow.account.expiring():
            if order.expires_at is not None and order.expires_at <= until:
                self.flow.lapse(order, order.expires_at)

    def squareoff(self, at: datetime) -> None:
        """Cancel open intraday orders and close intraday positions at their last price."""
        acct = self.flow.account
        for order in acct.live():
            if order.product in _INTRADAY and order.status is not S.AMO_REQ_RECEIVED:
                self.flow.lapse(order, at, "Cancelled for the intraday square-off.")
        for pos in list(acct.positions.values()):
            if pos.product in _INTRADAY and pos.quantity != 0:
                self._close_out(pos, at)

    def _close_out(self, pos: Position, at: datetime) -> None:
        # The broker's square-off is a market order that fills in full at the last price.
        flow, acct = self.flow, self.flow.account
        spec = acct.specs[pos.instrument_token]
        quote = acct.quotes.get(pos.instrument_token)
        price = quote.last_price if quote else (pos.last_price or pos.net.average)
        req = PlaceRequest(
            variety=Variety.REGULAR,
            exchange=spec.exchange,
            tradingsymbol=spec.tradingsymbol,
            transaction_type=TransactionType.SELL if pos.quantity > 0 else TransactionType.BUY,
            order_type=OrderType.MARKET,
            product=Product.MIS,
            quantity=abs(pos.quantity),
        )
        order = flow.new_order(req, spec, at)
        order.product = pos.product
        order.enter(S.PUT_ORDER_REQ_RECEIVED, at)
        order.enter(S.VALIDATION_PENDING, at)
        order.enter(S.OPEN_PENDING, at)
        order.exchange_order_id, order.exchange_timestamp = acct.ids.exchange_order_id(), at
        order.enter(S.OPEN, at)
        flow.execute(order, price, order.quantity, at)
        order.status_message = "Auto square-off by the broker at the intraday cut-off."
        flow.settle(order, S.COMPLETE, at)

    def close(self, at: datetime) -> None:
        """Cancel every order still open at the close (queued AMOs wait for the next open)."""
        for order in self.flow.account.live():
            if order.status is not S.AMO_REQ_RECEIVED:
                self.flow.lapse(order, at)

    def roll(self, opens: datetime) -> None:
        """Start the session opening at ``opens``: settle, carry, clear the book, release AMOs."""
        acct = self.flow.account
        day = opens.astimezone(IST).date()
        for holding in acct.holdings.values():
            holding.settle()
        for key, pos in list(acct.positions.items()):
            spec = acct.specs.get(pos.instrument_token)
            funds = acct.funds[spec.funds_segment if spec else "equity"]
            if pos.product in _DELIVERY:
                if pos.quantity:
                    holding = acct.holdings.get(pos.instrument_token) or Holding(
                        pos.instrument_token,
                        pos.exchange,
                        pos.tradingsymbol,
                        spec.isin if spec else "",
                        authorised_date=day,
                    )
                    acct.holdings[pos.instrument_token] = holding
                    if pos.quantity > 0:
                        holding.add_t1(pos.quantity, pos.net.average, mtf=pos.product is Product.MTF)
                    else:
                        holding.remove(-pos.quantity)
                    # Delivery is paid (or received) at settlement, at the position's average price.
                    funds.cash -= pos.quantity * pos.net.average * pos.multiplier
                    holding.close_price = holding.last_price = pos.last_price or holding.last_price
                del acct.positions[key]
                continue
            if spec is not None and spec.expiry is not None and spec.expiry < day and pos.quantity:
                # Expired contracts settle in cash at their last price.
                funds.credit_realised(pos.apply_fill(pos.quantity < 0, abs(pos.quantity), pos.last_price))
            if pos.quantity == 0:
                del acct.positions[key]
            else:
                pos.carry()
        for token, holding in list(acct.holdings.items()):
            if holding.total == 0:
                del acct.holdings[token]
            else:
                holding.opening_quantity = holding.total
        for funds in acct.funds.values():
            funds.new_session()
        for gtt in acct.gtts.values():
            spec = acct.specs.get(gtt.instrument_token)
            if gtt.status is GttStatus.ACTIVE and spec is not None and spec.expiry is not None and spec.expiry < day:
                gtt.status, gtt.updated_at = GttStatus.CANCELLED, opens
        queued = [o for o in acct.orders.values() if o.status is S.AMO_REQ_RECEIVED]
        acct.orders = {o.order_id: o for o in queued}
        acct.trades = []
        acct.reindex()
        acct.day, acct.squared_off, acct.closed = day, False, False
        for order in queued:
            self.flow.open(order, opens)
