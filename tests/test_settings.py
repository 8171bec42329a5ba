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


def _stale_lab_file(home: Path) -> None:
    """What a killed `hvdr up` leaves behind: a lab at speed 300 serving a real host's name on loopback."""
    (home / "lab").mkdir(parents=True)
    (home / "lab" / "endpoints.json").write_text(
        '{"control": "http://127.0.0.1:1", "speed": 300, "hosts": [{"name": "hv01.corp.example", '
        '"url": "http://127.0.0.1:2/wsman", "username": "lab\\\\hvdr", "password": "hvdr-lab"}]}'
    )


def test_a_stale_lab_file_does_not_change_the_time_scale(tmp_path: Path) -> None:
    _stale_lab_file(tmp_path)
    assert load_settings({"HVDR_HOME": str(tmp_path)}).time_scale == 1.0
    assert load_settings({"HVDR_HOME": str(tmp_path), "HVDR_LAB": "0"}).time_scale == 1.0
    # Told to use the lab: its speed, unless the time scale is given.
    assert load_settings({"HVDR_HOME": str(tmp_path), "HVDR_LAB": "1"}).time_scale == 300.0
    assert load_settings({"HVDR_HOME": str(tmp_path), "HVDR_LAB": "1", "HVDR_TIME_SCALE": "60"}).time_scale == 60.0
    (tmp_path / "config.toml").write_text("lab = true\ntime_scale = 10\n")
    assert load_settings({"HVDR_HOME": str(tmp_path)}).time_scale == 10.0


def test_hvdr_lab_must_be_a_boolean(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid setting HVDR_LAB"):
        load_settings({"HVDR_HOME": str(tmp_path), "HVDR_LAB": "sometimes"})
