"""The inventory database: SQLite in the hvdr home by default, PostgreSQL by URL (HVDR_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlmodel import Session, SQLModel, create_engine

from hvdr.errors import ConfigError
from hvdr.inventory import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from hvdr.settings import Settings

_ENGINES: dict[str, Engine] = {}


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def engine_for(url: str) -> Engine:
    """One engine per URL, with the schema created on first use."""
    given, url = url, _normalise(url)
    if url in _ENGINES:
        return _ENGINES[url]
    try:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_pre_ping=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the inventory database's folder for {url}: {exc.strerror or exc}") from exc
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        # ConfigError masks the URL's password (hvdr.display.mask_credentials).
        raise ConfigError(
            f"HVDR_DATABASE_URL {given!r} is not a database URL hvdr can use "
            "(sqlite:///PATH or postgresql://USER:PASSWORD@HOST[:PORT]/DB)"
        ) from exc
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        SQLModel.metadata.create_all(engine)
    except OperationalError as exc:
        raise ConfigError(f"cannot open the inventory database: {str(exc.orig).strip().splitlines()[0]}") from exc
    _ENGINES[url] = engine
    return engine


def _sqlite_pragmas(connection: object, _record: object) -> None:
    cursor = connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


@contextmanager
def session_for(settings: Settings) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine_for(settings.database_url)) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
