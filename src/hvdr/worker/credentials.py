"""Resolve a credential reference (a name in the topology) into a username and password, on the worker.

Secrets never travel through Temporal: a workflow names a host, the host names a credential, and only the
site worker that connects turns that name into a secret. Sources, first match wins:

1. environment: ``HVDR_CREDENTIAL_<NAME>_USERNAME`` / ``HVDR_CREDENTIAL_<NAME>_PASSWORD`` (NAME upper-cased,
   other characters than letters and digits as ``_``);
2. a TOML file, ``HVDR_CREDENTIALS_FILE`` or ``$HVDR_HOME/credentials.toml``, readable by its owner only::

       [dr-admin]
       username = "CONTOSO\\\\svc-hvdr"
       password = "…"

The file is read again whenever it changes, so a rotated password takes effect on the next connection
without restarting the worker (the environment is fixed for the life of the process).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path

from pydantic import SecretStr

from hvdr.errors import ConfigError
from hvdr.hyperv.connection import Credential
from hvdr.settings import Settings


def _env_name(reference: str) -> str:
    return "HVDR_CREDENTIAL_" + re.sub(r"[^A-Za-z0-9]", "_", reference).upper()


class CredentialStore:
    """The worker's credentials; ``resolve`` raises KeyError for an unknown reference."""

    def __init__(self, settings: Settings, env: dict[str, str] | None = None) -> None:
        self._env = dict(os.environ) if env is None else env
        configured = self._env.get("HVDR_CREDENTIALS_FILE")
        self._file = Path(configured) if configured else settings.home / "credentials.toml"
        self._loaded: dict[str, Credential] = {}
        self._loaded_from: tuple[int, ...] | None = None  # (mtime_ns, size, inode, mode) of what was read

    def _file_entries(self) -> dict[str, Credential]:
        try:
            info = self._file.stat()
        except OSError:
            info = None
        if info is None or not stat.S_ISREG(info.st_mode):
            self._loaded, self._loaded_from = {}, None
            return self._loaded
        version = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_mode)
        if version == self._loaded_from:
            return self._loaded
        mode = info.st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{self._file} holds passwords but others can read it: run `chmod 600 {self._file}`")
        try:
            data = tomllib.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read credentials file {self._file}: {exc}") from exc
        entries: dict[str, Credential] = {}
        for name, entry in data.items():
            missing = [k for k in ("username", "password") if not isinstance(entry, dict) or k not in entry]
            if missing:
                raise ConfigError(
                    f"{self._file}: [{name}] needs username and password: it has no {' and no '.join(missing)} "
                    "(an empty password is never assumed)"
                )
            if not all(isinstance(entry[k], str) for k in ("username", "password")):
                raise ConfigError(f'{self._file}: [{name}]: username and password must be quoted strings ("…")')
            entries[name] = Credential(username=entry["username"], password=SecretStr(entry["password"]))
        self._loaded, self._loaded_from = entries, version
        return self._loaded

    def resolve(self, reference: str) -> Credential:
        prefix = _env_name(reference)
        username = self._env.get(f"{prefix}_USERNAME")
        if username is not None:
            password = self._env.get(f"{prefix}_PASSWORD")
            if password is None:
                raise ConfigError(
                    f"{prefix}_USERNAME is set but {prefix}_PASSWORD is not: set both (an empty password is never "
                    "assumed)"
                )
            return Credential(username=username, password=SecretStr(password))
        entries = self._file_entries()
        if reference in entries:
            return entries[reference]
        raise KeyError(reference)
