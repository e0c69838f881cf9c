"""Swagger UI, served offline: the page and its assets come from the pinned swagger-ui-bundle-v2 package, not a
CDN. Imported only by the documentation routes."""
from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import re

from chalice.app import Request, Response

from chalicelib.domain.errors import NotFound

TITLE = "tradeapi"
# Swagger UI's files the page loads; nothing else from the package is served.
ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "index.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "application/javascript; charset=utf-8",
}


def swagger_page(request: Request) -> Response:
    """The page loads its assets and the document relative to where the API is mounted (a stage prefix too)."""
    path = request.context.get("path") or "/swagger"
    base = re.sub(r"/swagger/?$", "", path)
    assets = html.escape(f"{base}/swagger")
    # A JS string literal inside <script>: JSON-escaped, and "</" split so it cannot close the element.
    spec_url = json.dumps(f"{base}/openapi.json").replace("</", "<\\/")
    script = f"""
    window.ui = SwaggerUIBundle({{url: {spec_url}, dom_id: "#swagger-ui", deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout"}});
  """
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{TITLE} API</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <link rel="stylesheet" href="{assets}/index.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="{assets}/swagger-ui-standalone-preset.js"></script>
  <script>{script}</script>
</body>
</html>
"""
    return Response(body=page, status_code=200, headers={"Content-Type": "text/html; charset=utf-8",
                                                         **page_headers(script)})


def page_headers(inline_script: str) -> dict[str, str]:
    """Users paste keys into this page: it runs only its own scripts (the one inline script by its hash), talks only
    to this API, and is never framed by another site."""
    digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    policy = ("default-src 'none'; "
              f"script-src 'self' 'sha256-{digest}'; "
              "style-src 'self' 'unsafe-inline'; "  # Swagger UI sets styles on its elements
              "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
              "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer"}


def swagger_asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    return Response(body=_read_asset(name), status_code=200,
                    headers={"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400",
                             "X-Content-Type-Options": "nosniff"})


@functools.lru_cache(maxsize=len(ASSETS))
def _read_asset(name: str) -> str:
    from swagger_ui_bundle import swagger_ui_path

    asset: str = (swagger_ui_path / name).read_text(encoding="utf-8")
    return asset
