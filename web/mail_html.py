"""An email's HTML made safe to show inside the item page.

Mail is written by strangers, so only harmless markup survives: text formatting,
lists, tables, links and images. Scripts, styles, event handlers, forms, frames,
SVG, <base> and <meta> go; links keep only web, mail and phone addresses and open
in a new tab without a referrer. Remote images are tracking pixels as often as
pictures, so they are dropped unless the person asked for them; `cid:` images
point at the item's own inline attachments. What would reorder or hide the text (in
its words, titles, alt texts and link addresses) is written out, as a plain mail's text
is (routing.shown_text.unhidden).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import nh3
from markupsafe import Markup

from routing.shown_text import unhidden

_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup",
        "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike", "strong",
        "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
# Removed with everything inside them: what they hold is code or page furniture, not the message.
_DROPPED_WHOLE = frozenset({"script", "style", "title", "template", "noscript", "svg", "math", "head"})
_ATTRIBUTES = {
    "*": {"title", "lang", "dir"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign"},
    "ol": {"start"},
}
_LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
_REMOTE_SCHEMES = frozenset({"http", "https"})
# What the sanitizer lets reach the filter below, which then decides per attribute.
_URL_SCHEMES = _LINK_SCHEMES | {"cid"}

InlineImage = Callable[[str], "str | None"]


@dataclass(frozen=True)
class SafeHtml:
    """Sanitized markup, and how many remote images were left out of it."""

    markup: Markup
    blocked_images: int


def safe_html(html: str, inline_image: InlineImage, *, remote_images: bool = False) -> SafeHtml:
    """The HTML with only harmless markup left.

    `inline_image` turns a Content-ID into the URL that serves that attachment, or None
    when the item has no such image. With `remote_images` false, http(s) images lose
    their address (their alt text stays) and are counted as blocked.
    """
    urls = _UrlFilter(inline_image, remote_images)
    cleaned = nh3.clean(
        html,
        tags=set(_TAGS),
        clean_content_tags=set(_DROPPED_WHOLE),
        attributes={tag: set(names) for tag, names in _ATTRIBUTES.items()},
        attribute_filter=urls,
        link_rel="noopener noreferrer nofollow",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes=set(_URL_SCHEMES),
    )
    # Tag and attribute names are nh3's allowed ones: only text and attribute values (links
    # included: an address hiding a character must not pass for another) can hold such a
    # character, and its written-out form holds nothing that markup reads.
    return SafeHtml(Markup(unhidden(cleaned)), urls.blocked)


class _UrlFilter:
    """Decides each link and image address; nh3 has already dropped unknown schemes."""

    def __init__(self, inline_image: InlineImage, remote_images: bool) -> None:
        self.inline_image = inline_image
        self.remote_images = remote_images
        self.blocked = 0

    def __call__(self, tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href":
            return value if _scheme(value) in _LINK_SCHEMES else None
        if tag == "img" and attribute == "src":
            return self._image(value)
        return value

    def _image(self, value: str) -> str | None:
        scheme = _scheme(value)
        if scheme == "cid":
            # RFC 2392: the URL holds the Content-ID percent-encoded, without its brackets.
            return self.inline_image(unquote(value.strip()[4:]).strip("<>"))
        if scheme in _REMOTE_SCHEMES:
            if self.remote_images:
                return value
            self.blocked += 1
        # A relative address would point into this site: never what the sender meant.
        return None


def _scheme(url: str) -> str:
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""
