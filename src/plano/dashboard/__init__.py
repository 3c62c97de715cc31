"""The dashboard's static files (``static/``: HTML, CSS, JS, an icon), shipped in the package
and read once into an :class:`AssetTable`: each file's bytes, content type and ETag.

No build step and no CDN: the files are plain HTML, CSS and JavaScript (charts are SVG drawn
by ``charts.js``), so the page works offline. ``index.html`` names the other files with
``{{name}}`` placeholders, replaced here by ``name?v=<etag>`` so a browser may cache every
asset for good and still fetch a new one after an upgrade.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Final

__all__ = ["INDEX", "Asset", "AssetTable", "build_table", "load_assets"]

INDEX: Final = "index.html"
_TYPES: Final = MappingProxyType(
    {
        ".html": "text/html; charset=utf-8",
        ".css": "text/css; charset=utf-8",
        ".js": "text/javascript; charset=utf-8",
        ".svg": "image/svg+xml",
    }
)
_PLACEHOLDER = re.compile(r"\{\{([a-z0-9_.-]+)\}\}")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    #: A strong validator: the quoted start of the body's SHA-256.
    etag: str


@dataclass(frozen=True, slots=True)
class AssetTable:
    """The dashboard's files by name (``index.html``, ``app.js``...)."""

    assets: MappingProxyType[str, Asset]

    def get(self, name: str) -> Asset | None:
        return self.assets.get(name)

    @property
    def index(self) -> Asset:
        return self.assets[INDEX]


def _asset(name: str, body: bytes) -> Asset:
    suffix = name[name.rfind(".") :]
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, _TYPES[suffix], f'"{digest}"')


def build_table(files: dict[str, bytes]) -> AssetTable:
    """The table for these files (pure): every file of a known type, and the index with its
    placeholders replaced by versioned names. An unknown placeholder is a packaging bug."""
    assets = {
        n: _asset(n, b) for n, b in files.items() if n != INDEX and n[n.rfind(".") :] in _TYPES
    }

    def versioned(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in assets:
            raise ValueError(f"index.html names {name!r}, which is not a dashboard asset")
        return f"{name}?v={assets[name].etag[1:13]}"

    index = _PLACEHOLDER.sub(versioned, files[INDEX].decode())
    assets[INDEX] = _asset(INDEX, index.encode())
    return AssetTable(MappingProxyType(assets))


@cache
def load_assets() -> AssetTable:
    """The packaged files, read once per process (a reload builds new routes, not new files)."""
    root = resources.files(__name__) / "static"
    files = {p.name: p.read_bytes() for p in root.iterdir() if p.is_file()}
    return build_table(files)
