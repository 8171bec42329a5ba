"""Shared fixtures: Temporal test servers from the installed binaries (nothing downloads), and the
exit hook that sdk-python's own conftest uses against the SDK's crash at interpreter exit (#300)."""

from __future__ import annotations

import os
import shutil
import sysconfig
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import hypothesis.internal.observability  # noqa: F401 — see below
import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client as TemporalClient
from temporalio.testing import WorkflowEnvironment

from hvdr.codec import CONVERTER
from hvdr.settings import Settings, load_settings
from hvdr.visibility import SEARCH_ATTRIBUTES


def _binary(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts")) / name
    found = str(scripts) if scripts.is_file() else shutil.which(name)
    if not found:
        pytest.exit(f"{name} is not installed: pip install -e '.[dev]'", returncode=2)
    return found


# Imported now, not by hypothesis's plugin at the terminal summary: that late import is parsed (assertion
# rewriting) while the garbage collector finalizes context managers that evicted workflows abandoned (Temporal's
# OpenTelemetry interceptor keeps each run's span in one), and CPython 3.11's AST builder then fails with
# "AST constructor recursion depth mismatch" (gh-106905), turning a green run red.


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_cmdline_main(config: pytest.Config):  # type: ignore[no-untyped-def]
    result = yield
    exit_code = result.get_result()
    # Same as sdk-python's tests/conftest.py: leave before the Temporal runtime's threads can crash
    # the interpreter's finalisation and turn a green run red.
    if exit_code == 0 and not os.environ.get("PYTEST_XDIST_WORKER"):
        os._exit(0)
    return exit_code


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``scan_last`` run after every other: they scan what the session's runs left behind."""
    items.sort(key=lambda item: item.get_closest_marker("scan_last") is not None)


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A local dev server (full feature set: visibility, updates, schedules), shared by the session."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=CONVERTER,
        search_attributes=list(SEARCH_ATTRIBUTES),
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=200"],
    ) as environment:
        yield environment


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (for long timers); not shared, its clock is global."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=CONVERTER,
    ) as environment:
        # The Java test server knows no custom search attributes until they are added here.
        await environment.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=environment.client.namespace,
                search_attributes={key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD for key in SEARCH_ATTRIBUTES},
            )
        )
        yield environment


@pytest.fixture
def client(env: WorkflowEnvironment) -> TemporalClient:
    return env.client


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def hvdr_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty hvdr home for the test, with every HVDR_* variable cleared."""
    for name in list(os.environ):
        if name.startswith("HVDR_"):
            monkeypatch.delenv(name)
    home = tmp_path / "hvdr-home"
    monkeypatch.setenv("HVDR_HOME", str(home))
    yield home


@pytest.fixture
def settings_for(env: WorkflowEnvironment, hvdr_home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings that point at the session's dev server."""
    address = env.client.service_client.config.target_host
    monkeypatch.setenv("HVDR_TEMPORAL_ADDRESS", address)
    return load_settings()
