"""Swagger UI for /schema from the app's own copy of ``swagger-ui-dist`` (installed by npm).

Litestar's plugin renders an inline ``<script>`` and defaults to a CDN; this page loads the bundle,
the preset and a small start-up script from /static, so it works offline under a CSP without
inline script. The start-up script reads the spec URL from the container's data attribute.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

VENDOR = "/static/vendor/swagger-ui"
# The files of swagger-ui-dist this page loads: the only ones /static/vendor/swagger-ui serves.
SWAGGER_UI_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "swagger-ui-standalone-preset.js",
    "favicon-32x32.png",
)


class LocalSwaggerRenderPlugin(SwaggerRenderPlugin):
    def __init__(self) -> None:
        super().__init__(
            js_url=f"{VENDOR}/swagger-ui-bundle.js",
            css_url=f"{VENDOR}/swagger-ui.css",
            standalone_preset_js_url=f"{VENDOR}/swagger-ui-standalone-preset.js",
            path=["/", "/swagger"],
            favicon=f'<link rel="icon" type="image/png" href="{VENDOR}/favicon-32x32.png">',
            style='<link rel="stylesheet" href="/static/api-docs.css">',
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema["info"]["title"]))
        spec_url = escape(self.get_openapi_json_route(request))
        return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{self.favicon}
<link rel="stylesheet" href="{self.css_url}">
{self.style}
<script src="{self.js_url}" defer></script>
<script src="{self.standalone_preset_js_url}" defer></script>
<script src="/static/api-docs.js" defer></script>
</head>
<body>
<div id="swagger-container" data-spec-url="{spec_url}"></div>
</body>
</html>
""".encode()
