"""Fetching a recording or MMS media from the office's Twilio account, and nothing else.

Only URLs under the configured API base and `/2010-04-01/Accounts/<our sid>/` are
fetched, with Basic auth. Twilio answers such a request with a redirect to its media
content hosts; that redirect is followed once, without credentials, and only to a host
named in `twilio.redirect_hosts` (by default Twilio's own CDN hosts) whose addresses are
all public: link-local (cloud metadata such as 169.254.169.254), private, unspecified and
loopback addresses are refused even when configured (loopback only while the API itself
is on loopback, as in tests). An answer is kept only when its Content-Type is the kind
of file asked for (`Expected`): an error page served with 200 is not a recording.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import logging
import mimetypes
import re
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from urllib.parse import SplitResult, unquote, urljoin, urlsplit
from urllib.response import addinfourl

from config.settings import TwilioSettings

log = logging.getLogger(__name__)

API_VERSION_PATH = "/2010-04-01/Accounts/"
MAX_REDIRECTS = 2
_PLAIN_URL = re.compile(r"^[\x21-\x7e]+$")  # http.client refuses anything else, every time
_DEFAULT_PORTS = {"http": 80, "https": 443}
_RETRY_STATUSES = {404, 408, 429}  # plus every 5xx: Twilio may not have the file ready yet
UNKNOWN_TYPE = "application/octet-stream"  # what a missing or unannounced type is taken as
# What a server, a proxy or a CDN answers instead of a file: an error, a login, a notice.
PAGE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "application/json",
        "application/problem+json",
        "application/xml",
        "text/xml",
        "text/plain",
    }
)


class FetchRefused(Exception):
    """A URL Intake will not fetch, or an answer it will not keep; never retried."""


class FetchFailed(Exception):
    """A fetch that did not work this time; `retry` says whether trying later may help."""

    def __init__(self, problem: str, *, retry: bool) -> None:
        super().__init__(problem)
        self.retry = retry


@dataclass(frozen=True)
class Fetched:
    content: bytes
    content_type: str


@dataclass(frozen=True)
class Expected:
    """The kind of file a download must be, judged by its answer's media type (lowercase,
    without parameters) before the body is read.

    `kind` accepts a whole top-level type ("audio"); `media_type` that type, even one the
    system's MIME table does not know, and its aliases, the types sharing a usual file
    extension with it in that table (text/vcard, and text/x-vcard as some phones send it);
    with neither, any file but a page.
    """

    described: str  # as a failure names it: "a recording (audio)"
    kind: str | None = None
    media_type: str | None = None

    def accepts(self, content_type: str) -> bool:
        if self.kind is not None:
            return content_type.partition("/")[0] == self.kind
        if self.media_type is not None:
            return content_type == self.media_type or _aliases(content_type, self.media_type)
        return content_type not in PAGE_TYPES


def _aliases(one: str, other: str) -> bool:
    """Whether two media types name one kind of file, as the MIME table tells: by sharing
    a usual file extension."""
    extensions = mimetypes.guess_all_extensions(one)
    return not set(extensions).isdisjoint(mimetypes.guess_all_extensions(other))


# Twilio labels every recording with its audio type (WAV, or MP3 for a ".mp3" URL), so
# plain bytes (application/octet-stream, or no type at all) are something else answering
# for it; kept, they would be a "recording" that does not play, so they are not accepted.
RECORDING = Expected("a recording (audio)", kind="audio")


def announced_media(content_type: str | None) -> Expected:
    """MMS media whose text announced `content_type` (None when it announced none): of
    that type; or, announced as plain bytes or not at all, any file but a page, since
    Twilio then knew no better what the file is."""
    announced = (content_type or "").partition(";")[0].strip().lower()  # as an answer's is judged
    if announced in ("", UNKNOWN_TYPE):
        return Expected("a media file (not a page)")
    return Expected(f"a file of type {announced}", media_type=announced)


def check_api_url(settings: TwilioSettings, url: str) -> None:
    """Raise FetchRefused unless `url` is a Twilio API URL of the configured account."""
    if not _PLAIN_URL.match(url):
        raise FetchRefused(f"{_shown(url)} is not a plain URL (ASCII, no spaces or control characters)")
    parts, base = urlsplit(url), urlsplit(settings.api_base_url)
    if parts.username or parts.password or _origin(parts) != _origin(base):
        raise FetchRefused(f"{_shown(url)} is not on the configured Twilio API ({settings.api_base_url})")
    path = unquote(parts.path)
    if ".." in path.split("/") or not path.startswith(f"{API_VERSION_PATH}{settings.account_sid}/"):
        raise FetchRefused(f"{_shown(url)} does not belong to the configured Twilio account")


def refusal(settings: TwilioSettings, url: str) -> str | None:
    """Why a recording or media URL named in a webhook will not be fetched, or None when
    it may be: the download is then queued as failed with that reason."""
    try:
        check_api_url(settings, url)
    except FetchRefused as error:
        log.warning("not fetching %s", error)
        return str(error)
    return None


def check_redirect(settings: TwilioSettings, url: str) -> None:
    """Raise FetchRefused unless `url` is on one of the allowed media content hosts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme, _, port = _origin(parts)
    allowed_scheme = scheme == "https" or scheme == urlsplit(settings.api_base_url).scheme
    named = host in settings.redirect_hosts or f"{host}:{port}" in settings.redirect_hosts
    if not (allowed_scheme and named and _PLAIN_URL.match(url)) or parts.username or _link_local(host):
        raise FetchRefused(f"redirect to {_shown(url)} is not to an allowed media host")


def check_addresses(settings: TwilioSettings, url: str) -> None:
    """Raise FetchRefused when the host of `url` resolves to an address that is not public."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", _origin(parts)[2]
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise FetchFailed(f"cannot resolve {host}: {error}", retry=True) from None
    loopback_allowed = _resolves_to_loopback(urlsplit(settings.api_base_url).hostname or "")
    for *_, address in found:
        ip = _unmapped(ipaddress.ip_address(address[0]))
        if ip.is_loopback and loopback_allowed:
            continue
        if ip.is_link_local or ip.is_private or ip.is_unspecified or ip.is_loopback:
            raise FetchRefused(f"redirect to {_shown(url)} resolves to a non-public address ({ip})")


class TwilioFetcher:
    """GETs files from the account's API with its credentials, within a size and time limit."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        credentials = f"{settings.account_sid}:{settings.auth_token}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
        # No proxies from the environment and no automatic redirects: each hop is checked here.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())

    def fetch(self, url: str, expected: Expected) -> Fetched:
        """The file at `url`; FetchRefused or FetchFailed when it is not `expected` or not there."""
        check_api_url(self.settings, url)
        deadline = time.monotonic() + self.settings.download_timeout_seconds
        headers = {"Authorization": self._authorization}
        for _ in range(MAX_REDIRECTS + 1):
            request = urllib.request.Request(url, headers=headers)
            with self._open(request) as response:
                status = response.status or 200
                if not 300 <= status < 400:
                    content_type = _content_type(response.headers)
                    check_type(content_type, expected)
                    return Fetched(self._read(response, deadline), content_type)
                location = response.headers.get("Location")
            if location is None:
                raise FetchFailed(f"HTTP {status} without a Location from {_shown(url)}", retry=False)
            url = urljoin(url, location)
            check_redirect(self.settings, url)
            check_addresses(self.settings, url)
            headers = {}  # the content host gets no credentials
        raise FetchFailed("too many redirects", retry=False)

    def _open(self, request: urllib.request.Request) -> addinfourl:
        try:
            response: addinfourl = self._opener.open(request, timeout=self.settings.download_timeout_seconds)
        except urllib.error.HTTPError as error:
            if 300 <= error.code < 400:
                return error
            error.close()
            retry = error.code in _RETRY_STATUSES or error.code >= 500
            raise FetchFailed(f"HTTP {error.code} from {_shown(request.full_url)}", retry=retry) from None
        except (OSError, http.client.HTTPException) as error:  # URLError is an OSError
            raise FetchFailed(f"cannot reach {_shown(request.full_url)}: {error!r}", retry=True) from None
        return response

    def _read(self, response: addinfourl, deadline: float) -> bytes:
        try:
            content = self._read_body(response, deadline)
        except (OSError, http.client.HTTPException) as error:  # timeouts, resets, IncompleteRead
            raise FetchFailed(f"reading {_shown(response.url)} failed: {error!r}", retry=True) from None
        expected = response.headers.get("Content-Length", "").strip()
        if expected.isdigit() and len(content) != int(expected):
            raise FetchFailed(f"the download ended after {len(content)} of {expected} bytes", retry=True)
        return content

    def _read_body(self, response: addinfourl, deadline: float) -> bytes:
        limit = self.settings.download_max_bytes
        chunks, size = [], 0
        # read1 returns whatever has arrived, so a slow sender cannot hold us past the deadline.
        while chunk := response.read1(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise FetchRefused(f"the file is larger than {limit} bytes")
            if time.monotonic() > deadline:
                raise FetchFailed("the download took too long", retry=True)
            chunks.append(chunk)
        return b"".join(chunks)


def check_type(content_type: str, expected: Expected) -> None:
    """Raise FetchFailed unless `content_type` (lowercase, without parameters) is `expected`.

    Retried, whatever came instead: a page served with 200 is mostly a passing fault (a
    proxy's or the CDN's error page, a file not ready yet), and a wrong answer that lasts
    costs only the attempts left before the download is marked failed with this reason.
    """
    if not expected.accepts(content_type):
        raise FetchFailed(
            f"Twilio answered {content_type} where {expected.described} was expected", retry=True
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # hand the 3xx back to TwilioFetcher, which checks where it points


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _link_local(host: str) -> bool:
    try:
        return _unmapped(ipaddress.ip_address(host)).is_link_local
    except ValueError:
        return False


def _resolves_to_loopback(host: str) -> bool:
    try:
        return all(_unmapped(ipaddress.ip_address(a[0])).is_loopback for *_, a in socket.getaddrinfo(host, 0))
    except (OSError, UnicodeError, ValueError):
        return False


def _unmapped(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # ::ffff:169.254.169.254 reaches the IPv4 address; judge that one.
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped or ip


def _content_type(headers: Message) -> str:
    # get_content_type() lowercases and drops parameters ("Audio/X-WAV; charset=binary").
    return headers.get_content_type() if headers.get("Content-Type") else UNKNOWN_TYPE


def _shown(url: str) -> str:
    """The URL as it may appear in a log or on a page: no query string, no user info."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"
