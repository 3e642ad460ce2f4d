"""SQL through Trino over HTTPS with password login, as any client would connect."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import requests

import trino
from lakehouse import secrets as secret_store
from lakehouse.settings import Settings
from trino.auth import BasicAuthentication


def password_for(user: str, secrets: dict[str, str]) -> str:
    key = f"TRINO_{user.upper()}_PASSWORD"
    if key not in secrets:
        raise KeyError(f"No password for Trino user {user!r} in the secrets file ({key})")
    return secrets[key]


def connect(settings: Settings, user: str = "admin", password: str | None = None) -> trino.dbapi.Connection:
    if password is None:
        password = password_for(user, secret_store.load(settings.secrets_file))
    # Our own session: requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE from the environment
    # override a session's `verify`, which would drop the trust in Trino's own certificate.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(settings.tls_dir / "trino.crt")
    # trino.dbapi.connect is untyped: it returns Connection(*args, **kwargs)
    conn: trino.dbapi.Connection = trino.dbapi.connect(  # type: ignore[no-untyped-call]
        host=settings["trino"]["host"],
        port=settings["trino"]["https_port"],
        http_scheme="https",
        user=user,
        auth=BasicAuthentication(user, password),
        http_session=session,
        catalog=settings.catalog_name,
        request_timeout=300,
    )
    return conn


def query(
    settings: Settings, statement: str, user: str = "admin", password: str | None = None
) -> tuple[list[str], list[Sequence[Any]]]:
    """(column names, rows) of one statement."""
    conn = connect(settings, user, password)
    try:
        cur = conn.cursor()
        cur.execute(statement)
        rows = cur.fetchall()
        columns = [d[0] for d in cur.description or []]
        return columns, rows
    finally:
        conn.close()  # type: ignore[no-untyped-call]


def _text(value: Any) -> Any:
    """SQL-style text for CSV: booleans as true/false (as the Trino CLI prints them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def to_csv(columns: list[str], rows: list[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_text(v) for v in row] for row in rows)
    return out.getvalue()
