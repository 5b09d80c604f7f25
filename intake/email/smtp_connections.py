"""How many SMTP connections are open at once, in total and per client.

A sender that opens connections and never finishes them must not hold every slot:
past either limit a new connection hears 421 and is closed. The public and the
submission listener share one count from their two threads. An IPv6 client is
counted by its /64 network, since one host usually holds a whole /64.
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter

TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections, please try again later"


def client_of(address: str) -> str:
    """The key one client's connections are counted under."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


class ConnectionCount:
    """Open connections, in total and per client, within their limits."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total, self.per_client = total, per_client
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def take(self, address: str) -> str | None:
        """Count a new connection from `address`: its client's key, or None when it is one too many."""
        client = client_of(address)
        with self._lock:
            if self._open.total() >= self.total or self._open[client] >= self.per_client:
                return None
            self._open[client] += 1
        return client

    def give_back(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if not self._open[client]:
                del self._open[client]
