"""Credential references resolve on the worker: environment first, then the owner-only credentials file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hvdr.errors import ConfigError
from hvdr.settings import load_settings
from hvdr.worker.credentials import CredentialStore


def _write(path: Path, text: str, *, mode: int = 0o600, bump: int = 0) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    if bump:  # a later modification time, as a real edit seconds later would have
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


@pytest.fixture
def store_file(hvdr_home: Path) -> Path:
    hvdr_home.mkdir(parents=True, exist_ok=True)
    return hvdr_home / "credentials.toml"


def test_the_environment_wins_over_the_file(store_file: Path) -> None:
    _write(store_file, '[dr-admin]\nusername = "CONTOSO\\\\svc-file"\npassword = "from-file"\n')
    env = {"HVDR_CREDENTIAL_DR_ADMIN_USERNAME": "CONTOSO\\svc-env", "HVDR_CREDENTIAL_DR_ADMIN_PASSWORD": "from-env"}
    settings = load_settings()
    from_env = CredentialStore(settings, env).resolve("dr-admin")
    from_file = CredentialStore(settings, {}).resolve("dr-admin")
    assert (from_env.username, from_env.password.get_secret_value()) == ("CONTOSO\\svc-env", "from-env")
    assert (from_file.username, from_file.password.get_secret_value()) == ("CONTOSO\\svc-file", "from-file")
    with pytest.raises(KeyError):
        CredentialStore(settings, {}).resolve("nobody")


def test_a_rotated_password_is_read_without_a_restart(store_file: Path) -> None:
    _write(store_file, '[ops]\nusername = "svc"\npassword = "old"\n')
    store = CredentialStore(load_settings(), {})
    assert store.resolve("ops").password.get_secret_value() == "old"
    assert store.resolve("ops") is store.resolve("ops")  # unchanged file: not read again
    _write(store_file, '[ops]\nusername = "svc"\npassword = "new"\n', bump=2)
    assert store.resolve("ops").password.get_secret_value() == "new"
    store_file.unlink()
    with pytest.raises(KeyError):
        store.resolve("ops")


def test_a_file_others_can_read_is_refused_with_the_fix(store_file: Path) -> None:
    _write(store_file, '[ops]\nusername = "svc"\npassword = "p"\n', mode=0o644)
    store = CredentialStore(load_settings(), {})
    with pytest.raises(ConfigError, match=rf"others can read it: run `chmod 600 {store_file}`"):
        store.resolve("ops")
    store_file.chmod(0o600)
    assert store.resolve("ops").username == "svc"


@pytest.mark.parametrize(
    ("text", "message"),
    [("[ops\nusername = 1", "cannot read credentials file"), ('[ops]\npassword = "p"\n', r"\[ops\] needs username")],
)
def test_a_malformed_file_is_a_clear_error(store_file: Path, text: str, message: str) -> None:
    _write(store_file, text)
    with pytest.raises(ConfigError, match=message):
        CredentialStore(load_settings(), {}).resolve("ops")


@pytest.mark.parametrize(
    ("entry", "missing"),
    [
        ('[dr-admin]\nusername = "CONTOSO\\\\svc"\n', "no password"),
        ('[dr-admin]\npassword = "x"\n', "no username"),
        ("[dr-admin]\n", "no username and no password"),
    ],
)
def test_an_entry_without_a_password_is_an_error_not_an_empty_password(
    store_file: Path, entry: str, missing: str
) -> None:
    _write(store_file, entry)
    with pytest.raises(ConfigError, match=rf"\[dr-admin\] needs username and password: it has {missing} ") as caught:
        CredentialStore(load_settings(), {}).resolve("dr-admin")
    assert "empty password is never assumed" in str(caught.value)


def test_a_password_that_is_not_a_string_is_an_error(store_file: Path) -> None:
    _write(store_file, '[dr-admin]\nusername = "svc"\npassword = 1234\n')
    with pytest.raises(ConfigError, match="must be quoted strings"):
        CredentialStore(load_settings(), {}).resolve("dr-admin")


def test_an_environment_username_without_a_password_is_an_error(hvdr_home: Path) -> None:
    env = {"HVDR_CREDENTIAL_DR_ADMIN_USERNAME": "svc"}
    with pytest.raises(ConfigError, match="HVDR_CREDENTIAL_DR_ADMIN_PASSWORD is not: set both"):
        CredentialStore(load_settings(), env).resolve("dr-admin")
    empty = CredentialStore(load_settings(), {**env, "HVDR_CREDENTIAL_DR_ADMIN_PASSWORD": ""}).resolve("dr-admin")
    assert empty.password.get_secret_value() == ""  # set on purpose: the operator's choice
