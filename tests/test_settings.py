"""Settings: defaults, a TOML file, environment variables over it, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvdr.errors import ConfigError
from hvdr.settings import load_settings


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings({"HVDR_HOME": str(tmp_path)})
    assert settings.temporal.address == "127.0.0.1:7233"
    assert settings.temporal.ui_url == "http://127.0.0.1:8233"
    assert settings.temporal.namespace == "default"
    assert settings.database_url == f"sqlite:///{tmp_path / 'inventory.db'}"
    assert settings.temporal_db == tmp_path / "temporal" / "temporal.db"
    assert not settings.temporal.uses_tls


def test_config_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[temporal]\naddress = "temporal.dr.example.net:7233"\nnamespace = "hvdr"\ntls_ca = "/etc/ca.pem"\n'
        '[inventory]\ndatabase_url = "postgresql://hvdr@db/hvdr"\n'
    )
    settings = load_settings({"HVDR_HOME": str(tmp_path), "HVDR_NAMESPACE": "dr-prod"})
    assert settings.temporal.address == "temporal.dr.example.net:7233"
    assert settings.temporal.namespace == "dr-prod"
    assert settings.temporal.uses_tls
    assert settings.database_url == "postgresql://hvdr@db/hvdr"
    assert settings.config_file == tmp_path / "config.toml"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HVDR_TEMPORAL_ADDRESS": "no-port"}, "invalid Temporal address 'no-port'"),
        ({"HVDR_TEMPORAL_ADDRESS": "host:99999"}, "invalid Temporal address"),
        ({"HVDR_TEMPORAL_UI_PORT": "eighty"}, "invalid setting HVDR_TEMPORAL_UI_PORT"),
        ({"HVDR_TIME_SCALE": "-2"}, "invalid setting HVDR_TIME_SCALE"),
        ({"HVDR_CONFIG": "/nonexistent/hvdr.toml"}, "HVDR_CONFIG points to /nonexistent/hvdr.toml"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"HVDR_HOME": str(tmp_path), **env})


def test_unknown_key_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[temporal]\nadress = "x:1"\n')
    with pytest.raises(ConfigError, match=r"temporal\.adress"):
        load_settings({"HVDR_HOME": str(tmp_path)})
