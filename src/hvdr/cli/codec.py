"""``hvdr codec-server``: the remote codec endpoint that lets the Temporal web UI show encrypted payloads."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Annotated

import typer
from aiohttp import web
from rich.markup import escape

from hvdr.cli.common import console, guarded, run_async
from hvdr.codec import load_codec, payload_codec
from hvdr.errors import ConfigError
from hvdr.runtime.codec_server import DEFAULT_PORT, codec_app
from hvdr.settings import load_settings


async def _serve(app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


@guarded
def codec_server(
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 for every interface).")] = "127.0.0.1",
    cors_origin: Annotated[
        list[str] | None,
        typer.Option("--cors-origin", help="A web UI origin that may call it (repeatable; default: the embedded UI)."),
    ] = None,
) -> None:
    """Serve Temporal's remote codec protocol (POST /encode, /decode) with hvdr's payload keys.

    Point the web UI at it (`temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8888`, or the UI's
    TEMPORAL_CODEC_ENDPOINT) so those who can reach it see payloads in clear. Set HVDR_CODEC_AUTH_TOKEN to require
    `Authorization: Bearer <token>`.
    """
    settings = load_settings()
    codec = load_codec(settings.codec)
    if codec is None:
        raise ConfigError("no payload codec key is configured: set HVDR_CODEC_KEYS or HVDR_CODEC_KEY_FILE")
    settings_ui = settings.temporal.ui_url
    origins = cors_origin or [settings_ui, settings_ui.replace("127.0.0.1", "localhost")]
    app = codec_app(payload_codec(settings), cors_origins=origins, auth_token=settings.codec.auth_token)
    console.print(
        f"Codec server on http://{escape(host)}:{port} (keys {escape(', '.join(codec.key_ids))}; encrypting with "
        f"{escape(codec.current)}; CORS for {escape(', '.join(origins))}). Ctrl-C stops it.",
        highlight=False,
    )
    run_async(_serve(app, host, port))
