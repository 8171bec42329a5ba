"""hvdr's settings: defaults, then an optional TOML file, then environment variables.

The same settings serve the CLI, the workers and Python users, so one machine's embedded Temporal and a
remote Temporal cluster differ only in configuration:

==========================  ==================================  ===========================================
environment variable        config file key                     default
==========================  ==================================  ===========================================
``HVDR_HOME``               (the file lives here)               ``~/.local/share/hvdr``
``HVDR_CONFIG``             –                                   ``$HVDR_HOME/config.toml`` (optional)
``HVDR_TEMPORAL_ADDRESS``   ``temporal.address``                ``127.0.0.1:7233``
``HVDR_NAMESPACE``          ``temporal.namespace``              ``default``
``HVDR_TEMPORAL_UI_PORT``   ``temporal.ui_port``                Temporal port + 1000 (``8233``)
``HVDR_TLS_CERT``           ``temporal.tls_cert``               – (client certificate, PEM, for mTLS)
``HVDR_TLS_KEY``            ``temporal.tls_key``                – (client key, PEM)
``HVDR_TLS_CA``             ``temporal.tls_ca``                 – (server CA, PEM; setting it turns TLS on)
``HVDR_TLS_SERVER_NAME``    ``temporal.tls_server_name``        –
``HVDR_TLS``                ``temporal.tls``                    ``false`` (TLS with the system roots)
``HVDR_TEMPORAL_DB``        ``temporal.database``               ``$HVDR_HOME/temporal/temporal.db``
``HVDR_DATABASE_URL``       ``inventory.database_url``          ``sqlite:///$HVDR_HOME/inventory.db``
``HVDR_TOPOLOGY``           ``topology``                        the lab's built-in default topology
``HVDR_LAB``                ``lab``                             ``false`` (real hosts only)
``HVDR_TIME_SCALE``         ``time_scale``                      1 (with ``lab``: the running lab's speed)
``HVDR_IDENTITY``           ``identity``                        ``<OS user>@<host name>`` (audit identity)
``HVDR_CODEC_KEYS``         ``codec.keys``                      – (``ID:BASE64KEY,…``; first encrypts)
``HVDR_CODEC_KEY_FILE``     ``codec.key_file``                  – (one ``ID:BASE64KEY`` a line)
``HVDR_CODEC_AUTH_TOKEN``   ``codec.auth_token``                – (bearer token the codec server asks)
==========================  ==================================  ===========================================

The lab is used only when asked for: with ``lab`` off (the default) nothing reads the lab's endpoints file, so a
file left behind by ``hvdr up`` can neither send a host to loopback nor speed up a real estate's timers.
``hvdr up``, ``hvdr demo`` and the tests turn it on, and set the time scale to the lab's speed themselves.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hvdr.errors import ConfigError

DEFAULT_TEMPORAL_ADDRESS = "127.0.0.1:7233"
WORKFLOW_TASK_QUEUE = "hvdr"


def site_task_queue(site: str) -> str:
    """The task queue a site's worker polls for the activities that must run at that site."""
    return f"hvdr-site-{site}"


class TemporalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = DEFAULT_TEMPORAL_ADDRESS
    namespace: str = "default"
    ui_port: int | None = None
    tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_ca: Path | None = None
    tls_server_name: str | None = None
    database: Path | None = None
    """The embedded server's SQLite file (default ``$HVDR_HOME/temporal/temporal.db``)."""

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port or self.port + 1000}"

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca is not None or self.tls_cert is not None


class CodecSettings(BaseModel):
    """The optional AES-GCM payload codec (see ``hvdr.codec``); off while no key is configured."""

    model_config = ConfigDict(extra="forbid")

    keys: str | None = None
    key_file: Path | None = None
    auth_token: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.keys) or self.key_file is not None


class InventorySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    database_url: str | None = None


class Settings(BaseModel):
    """Everything hvdr reads from its environment; see the module docstring for the sources."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    home: Path
    config_file: Path | None = None
    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    codec: CodecSettings = Field(default_factory=CodecSettings)
    identity_override: str | None = Field(None, alias="identity", min_length=1)
    topology: Path | None = None
    lab: bool = False
    """Use the lab: hosts it serves are reached at its loopback endpoints, its speed is the default time scale."""
    time_scale_override: float | None = Field(None, gt=0, alias="time_scale")

    @property
    def time_scale(self) -> float:
        """Host seconds per real second: HVDR_TIME_SCALE, else (with ``lab`` only) the running lab's speed, else 1."""
        if self.time_scale_override:
            return self.time_scale_override
        if not self.lab:
            return 1.0
        try:
            speed = json.loads(self.lab_endpoints.read_text(encoding="utf-8")).get("speed")
        except (OSError, ValueError):
            return 1.0
        return float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0

    @property
    def identity(self) -> str:
        """Who acts, for the audit trail: HVDR_IDENTITY, else ``<OS user>@<host name>``."""
        if self.identity_override:
            return self.identity_override
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a bare container)
            user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
        return f"{user}@{socket.gethostname()}"

    @property
    def database_url(self) -> str:
        return self.inventory.database_url or f"sqlite:///{self.home / 'inventory.db'}"

    @property
    def lab_endpoints(self) -> Path:
        """Where ``hvdr lab up`` writes the lab's WinRM endpoints and credentials; read only with ``lab`` on."""
        return self.home / "lab" / "endpoints.json"

    def with_lab(self, speed: float) -> Settings:
        """These settings using a lab that runs at ``speed`` (``hvdr up``, ``hvdr demo``): both explicit."""
        return self.model_copy(update={"lab": True, "time_scale_override": speed if speed > 0 else None})

    @property
    def temporal_db(self) -> Path:
        """The embedded Temporal server's SQLite file: runs survive a server restart."""
        return self.temporal.database or self.home / "temporal" / "temporal.db"


_ENV: dict[str, tuple[str, ...]] = {
    "HVDR_TEMPORAL_ADDRESS": ("temporal", "address"),
    "HVDR_NAMESPACE": ("temporal", "namespace"),
    "HVDR_TEMPORAL_UI_PORT": ("temporal", "ui_port"),
    "HVDR_TLS": ("temporal", "tls"),
    "HVDR_TLS_CERT": ("temporal", "tls_cert"),
    "HVDR_TLS_KEY": ("temporal", "tls_key"),
    "HVDR_TLS_CA": ("temporal", "tls_ca"),
    "HVDR_TLS_SERVER_NAME": ("temporal", "tls_server_name"),
    "HVDR_TEMPORAL_DB": ("temporal", "database"),
    "HVDR_DATABASE_URL": ("inventory", "database_url"),
    "HVDR_TOPOLOGY": ("topology",),
    "HVDR_LAB": ("lab",),
    "HVDR_TIME_SCALE": ("time_scale",),
    "HVDR_IDENTITY": ("identity",),
    "HVDR_CODEC_KEYS": ("codec", "keys"),
    "HVDR_CODEC_KEY_FILE": ("codec", "key_file"),
    "HVDR_CODEC_AUTH_TOKEN": ("codec", "auth_token"),
}


def default_home() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "hvdr"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the settings; a bad value raises ConfigError naming the variable or key and the fix."""
    env = dict(os.environ) if env is None else env
    home = Path(env["HVDR_HOME"]).expanduser() if env.get("HVDR_HOME") else default_home()
    config_path = Path(env["HVDR_CONFIG"]).expanduser() if env.get("HVDR_CONFIG") else home / "config.toml"
    data: dict[str, Any] = {}
    if config_path.is_file():
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_path}: {exc}") from exc
    elif env.get("HVDR_CONFIG"):
        raise ConfigError(f"HVDR_CONFIG points to {config_path}, which does not exist")
    for var, path in _ENV.items():
        value = env.get(var)
        if value in (None, ""):
            continue
        target = data
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    data["home"] = home
    data["config_file"] = config_path if config_path.is_file() else None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = next((v for v, p in _ENV.items() if ".".join(p) == where), where)
        raise ConfigError(f"invalid setting {source}: {first['msg']}") from exc
    _check_address(settings.temporal.address)
    return settings


def _check_address(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(
            f"invalid Temporal address {address!r}: expected HOST:PORT such as 127.0.0.1:7233 "
            "(set HVDR_TEMPORAL_ADDRESS or temporal.address in the config file)"
        )
