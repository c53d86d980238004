"""The client's edge of Kite's static-IP rule: the address orders leave from, checked before they are sent.

Kite takes order placement, modification and cancellation only from the app's registered static IPs
(:mod:`kitekit.wire.static_ip`). :class:`AddressCheck` refuses an order before it is sent when the address it
would leave from is not among them (``PreTradeRules(static_ips=...)``), and, once Kite has refused one with
``IP (<ip>) is not allowed``, every later one from that address. Behind a router (a private address) the
address Kite sees cannot be told from here: only Kite's refusal teaches it then.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kitekit.errors import OrderValidationError
from kitekit.wire.order_rules import Rule
from kitekit.wire.static_ip import refused_ip

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["AddressCheck", "sending_address"]

_CONSOLE = "the app's settings in the Kite developer console (developers.kite.trade)"


def sending_address(kite: KiteConnect) -> str | None:
    """Return the local address requests to ``kite.root`` leave from, or None when it cannot be found.

    A transport bound to an address (``install_transport(..., source_address=...)``) says so; otherwise the
    system's route to the API host decides, found by connecting a UDP socket (no packet is sent).
    """
    adapter = kite.reqsession.get_adapter(kite.root)
    bound = getattr(adapter, "source_address", None)
    if isinstance(bound, str) and bound:
        return bound
    parts = urlsplit(kite.root)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        family, kind, proto, _, where = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(where)
            found: Any = probe.getsockname()[0]
    except OSError:
        return None
    return str(found)


def _seen_as_is(address: str) -> bool:
    """Return True when the server sees ``address`` itself: a public or a loopback one, not one behind NAT."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_global


class AddressCheck:
    """Refuses order requests Kite would refuse for the address they leave from.

    Args:
        kite: the client the orders go through.
        static_ips: the addresses registered for the app (empty: only Kite's refusals teach).
    """

    def __init__(self, kite: KiteConnect, static_ips: Sequence[str] = ()) -> None:
        self.kite = kite
        self.static_ips = tuple(static_ips)
        self._address: str | None = None
        self._found = False
        self._refused: str | None = None
        self._lock = threading.Lock()

    def address(self) -> str | None:
        """Return the address orders leave from (found once), None when unknown."""
        with self._lock:
            if not self._found:
                self._address, self._found = sending_address(self.kite), True
            return self._address

    def check(self) -> None:
        """Refuse before sending when Kite would refuse the address this order leaves from.

        Raises:
            OrderValidationError: rule ``static_ip``, field ``ip``, the nearest valid value a registered address.
        """
        address = self.address()
        nearest = self.static_ips[0] if self.static_ips else None
        # Refused once, refused again: unless orders now plainly leave from another address Kite sees as is.
        moved = address is not None and _seen_as_is(address) and address != self._refused
        if self._refused is not None and not moved:
            raise OrderValidationError(
                str(Rule.STATIC_IP),
                f"Kite refused an order from {self._refused} (IP ({self._refused}) is not allowed): it takes orders "
                f"only from the static IPs registered in {_CONSOLE}; register {self._refused} there or send from "
                f"{nearest or 'a registered address'}",
                "ip",
                nearest,
            )
        if not self.static_ips or address is None or not _seen_as_is(address) or address in self.static_ips:
            return
        raise OrderValidationError(
            str(Rule.STATIC_IP),
            f"orders leave this machine from {address}, not a static IP registered for the app "
            f"({', '.join(self.static_ips)}): Kite would refuse them (IP ({address}) is not allowed); send from "
            f"{nearest} or register {address} in {_CONSOLE}",
            "ip",
            nearest,
        )

    def learn(self, exc: BaseException) -> None:
        """Remember the address a refusal from Kite names (``IP (<ip>) is not allowed``), if it names one."""
        ip = refused_ip(str(exc))
        if ip is not None:
            self._refused = ip
