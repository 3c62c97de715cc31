"""The dashboard's packaged files: loaded once, typed, versioned in the index, and free of
what the page's Content-Security-Policy forbids (inline scripts, inline styles, remote URLs)."""

from __future__ import annotations

import re

import pytest

from plano.dashboard import build_table, load_assets


def test_the_packaged_files_load_with_types_and_etags() -> None:
    table = load_assets()
    assert set(table.assets) >= {"index.html", "app.js", "charts.js", "style.css", "icon.svg"}
    app = table.get("app.js")
    assert app is not None and app.content_type.startswith("text/javascript")
    assert table.get("../pyproject.toml") is None
    assert table.index.content_type == "text/html; charset=utf-8"
    etags = {a.etag for a in table.assets.values()}
    assert len(etags) == len(table.assets)  # one per distinct body
    assert load_assets() is table  # read once per process


def test_the_index_names_versioned_assets() -> None:
    table = load_assets()
    page = table.index.body.decode()
    assert "{{" not in page
    for name in ("app.js", "charts.js", "style.css"):
        version = table.assets[name].etag[1:13]
        assert f'"{name}?v={version}"' in page


def test_a_changed_file_changes_its_version() -> None:
    index = b'<script src="{{a.js}}"></script>'
    one = build_table({"index.html": index, "a.js": b"1"}).index.body
    two = build_table({"index.html": index, "a.js": b"2"}).index.body
    assert one != two


def test_an_unknown_placeholder_is_a_packaging_error() -> None:
    with pytest.raises(ValueError, match=r"missing\.js"):
        build_table({"index.html": b"{{missing.js}}"})


def test_nothing_the_csp_would_block() -> None:
    table = load_assets()
    page = table.index.body.decode()
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None, "inline script"
    assert "<style" not in page and " style=" not in page, "inline style"
    assert re.search(r" on[a-z]+=", page) is None, "inline event handler"
    for name, asset in table.assets.items():
        text = asset.body.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in text, name  # no CDN: works offline
    for name in ("app.js", "charts.js"):
        js = table.assets[name].body.decode()
        assert "innerHTML" not in js and "eval(" not in js, name
        assert 'setAttribute("style"' not in js, name
