"""Temporal's remote codec protocol over HTTP, so the web UI and the ``temporal`` CLI can show encrypted payloads.

``POST …/encode`` and ``POST …/decode`` take and return ``{"payloads": [...]}`` (Temporal's protobuf JSON,
bytes in base64). The web UI calls it from the browser, so the answer carries CORS headers for the UI's
origin; with a token configured, a request must carry ``Authorization: Bearer <token>`` (the UI sends the
user's access token when "Pass access token" is on).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.converter import PayloadCodec

from hvdr.errors import CodecKeyError

DEFAULT_PORT = 8888
_ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


def codec_app(
    codec: PayloadCodec, *, cors_origins: Sequence[str] = (), auth_token: str | None = None
) -> web.Application:
    """The aiohttp application: /encode and /decode (under any prefix), CORS for ``cors_origins``."""

    def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin and origin in cors_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = _ALLOWED_HEADERS
            response.headers["Vary"] = "Origin"
        return response

    def error(request: web.Request, status: int, message: str) -> web.StreamResponse:
        return cors(request, web.json_response({"error": message}, status=status))

    def handler(
        transform: Callable[[Sequence[Payload]], Awaitable[list[Payload]]],
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            if request.method == "OPTIONS":
                return cors(request, web.Response(status=204))
            if auth_token is not None:
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {auth_token}".encode()):
                    return error(request, 401, "missing or wrong Authorization: Bearer token")
            try:
                body = await request.text()
                payloads = json_format.Parse(body, Payloads())
            except (json_format.ParseError, UnicodeDecodeError) as exc:
                return error(request, 400, f'expected {{"payloads": [...]}} in Temporal\'s JSON form: {exc}')
            try:
                result = Payloads(payloads=await transform(payloads.payloads))
            except CodecKeyError as exc:
                return error(request, 400, exc.message)
            text = json.dumps(json_format.MessageToDict(result))
            return cors(request, web.Response(text=text, content_type="application/json"))

        return handle

    app = web.Application()
    for name, transform in (("encode", codec.encode), ("decode", codec.decode)):
        route = handler(transform)
        for path in (f"/{name}", f"/{{prefix:.*}}/{name}"):
            app.router.add_route("POST", path, route)
            app.router.add_route("OPTIONS", path, route)
    return app
