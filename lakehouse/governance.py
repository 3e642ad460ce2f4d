"""The live catalog as governance sees it: which tables and columns exist right now.

Trino's rules are rendered against this (lakehouse/policies.py): a column that a later job added
without classifying it reads as NULL for everyone but admins, until it is classified.
"""

from __future__ import annotations

import contextlib

from lakehouse.settings import Settings

# Where Trino's HTTP event listener posts completed queries (the governance agent serves it).
EVENTS_PATH = "/trino-events"


def catalog_state(settings: Settings, secrets: dict[str, str]) -> dict[str, str] | None:
    """'namespace.table' -> metadata location, straight from the JDBC catalog's database (cheap
    enough to poll every second); None when the database is not reachable."""
    import psycopg2

    pg = settings["postgres"]
    try:
        conn = psycopg2.connect(
            host=pg["host"],
            port=pg["port"],
            dbname=pg["catalog_database"],
            user=pg["catalog_user"],
            password=secrets["ICEBERG_CATALOG_PASSWORD"],
            connect_timeout=3,
        )
    except psycopg2.Error:
        return None
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables "
                "WHERE catalog_name = %s",
                (settings.catalog_name,),
            )
            return {f"{ns}.{name}": location for ns, name, location in cur.fetchall()}
    except psycopg2.Error:
        return None
    finally:
        conn.close()


def live_columns(settings: Settings, tables: list[str] | None = None) -> dict[str, list[str]] | None:
    """'namespace.table' -> its current top-level columns (every table, or `tables`); None when
    the catalog cannot be read (the stack is not up yet)."""
    if not (settings.conf_dir / ".pyiceberg.yaml").exists():
        return None
    from lakehouse.provision import load_catalog

    try:
        catalog = load_catalog(settings)
        names = tables
        if names is None:
            names = [
                ".".join(identifier)
                for ns in catalog.list_namespaces()
                for identifier in catalog.list_tables(ns)
            ]
        live = {}
        for name in names:
            with contextlib.suppress(Exception):  # dropped meanwhile
                live[name] = [field.name for field in catalog.load_table(name).schema().fields]
        return live
    except Exception:  # noqa: BLE001 - unreachable catalog or store: rules without live info
        return None
