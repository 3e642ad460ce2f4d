"""Idempotent provisioning: catalog database (Iceberg JDBC V1 schema), buckets, namespaces."""

from __future__ import annotations

import os
import subprocess
from string import Template
from typing import TYPE_CHECKING, Any

from lakehouse import artifacts
from lakehouse import secrets as secret_store
from lakehouse.services import Postgres, say
from lakehouse.settings import REPO_ROOT, Settings

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

# Iceberg's JDBC catalog tables, schema version V1 (the iceberg_type column marks tables and
# views). Created here so the schema does not depend on which engine touches the catalog first.
CATALOG_DDL = (
    """CREATE TABLE IF NOT EXISTS iceberg_tables (
        catalog_name VARCHAR(255) NOT NULL,
        table_namespace VARCHAR(255) NOT NULL,
        table_name VARCHAR(255) NOT NULL,
        metadata_location VARCHAR(1000),
        previous_metadata_location VARCHAR(1000),
        iceberg_type VARCHAR(5),
        PRIMARY KEY (catalog_name, table_namespace, table_name))""",
    """CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
        catalog_name VARCHAR(255) NOT NULL,
        namespace VARCHAR(255) NOT NULL,
        property_key VARCHAR(255),
        property_value VARCHAR(1000),
        PRIMARY KEY (catalog_name, namespace, property_key))""",
)


def database(settings: Settings, secrets: dict[str, str], name: str, user: str, password: str) -> None:
    """A database owned by its own non-superuser role (created, or password brought up to date)."""
    conn = Postgres(settings).connect(secrets)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,))
        verb = "ALTER" if cur.fetchone() else "CREATE"
        cur.execute(f'{verb} ROLE "{user}" LOGIN PASSWORD %s', (password,))
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if not cur.fetchone():
            cur.execute(f'CREATE DATABASE "{name}" OWNER "{user}"')
    conn.close()


def catalog_database(settings: Settings, secrets: dict[str, str]) -> None:
    """The Iceberg catalog's database, with the JDBC catalog tables (schema V1)."""
    import psycopg2

    cfg = settings["postgres"]
    user, name, password = cfg["catalog_user"], cfg["catalog_database"], secrets["ICEBERG_CATALOG_PASSWORD"]
    database(settings, secrets, name, user, password)
    conn = psycopg2.connect(host=cfg["host"], port=cfg["port"], dbname=name, user=user, password=password)
    with conn, conn.cursor() as cur:
        for statement in CATALOG_DDL:
            cur.execute(statement)
    conn.close()


def s3_client(settings: Settings, access_key: str, secret_key: str) -> Any:
    """A plain S3 client: endpoint, region and addressing style come from the settings."""
    import boto3  # on use: most commands never reach the object store
    from botocore.config import Config

    style = "path" if settings["s3"]["path_style_access"] else "virtual"
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings["s3"]["region"],
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(s3={"addressing_style": style}, retries={"max_attempts": 3}),
    )


def buckets(settings: Settings, secrets: dict[str, str]) -> None:
    """Private buckets whose every object is encrypted at rest (SSE-S3, MinIO's KMS key)."""
    from botocore.exceptions import ClientError

    client = s3_client(settings, secrets["MINIO_ROOT_USER"], secrets["MINIO_ROOT_PASSWORD"])
    sse = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
    for bucket in settings.buckets:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError:
            say(f"creating bucket {bucket}")
            client.create_bucket(Bucket=bucket)
        client.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=sse)


# Object-store users: the two engines, and the source system that drops files into landing/stream/.
ENGINES = {"SPARK": "spark", "TRINO": "trino", "SOURCE": "source"}


def minio_users(settings: Settings, secrets: dict[str, str]) -> None:
    """One MinIO user per engine, with the least-privilege policy in minio/policies/.

    Uses MinIO's admin API through `mc`, with the root account: the only use of root keys.
    """
    env = dict(os.environ)
    endpoint = settings.minio_endpoint.replace(
        "://", f"://{secrets['MINIO_ROOT_USER']}:{secrets['MINIO_ROOT_PASSWORD']}@", 1
    )
    env["MC_HOST_lakehouse"] = endpoint
    mc = [str(artifacts.mc(settings)), "--config-dir", str(settings.home / "mc"), "--quiet", "--no-color"]
    s3 = settings["s3"]

    def run(*args: str, ok_if: str = "", stdin: str | None = None) -> None:
        result = subprocess.run([*mc, *args], env=env, capture_output=True, text=True, input=stdin)
        if result.returncode != 0 and not (ok_if and ok_if in result.stdout + result.stderr):
            message = secret_store.redact(result.stdout + result.stderr, secrets.values())
            raise RuntimeError(f"mc {args[0]} {args[1]} failed: {message.strip()}")

    for engine, name in ENGINES.items():
        policy = Template((REPO_ROOT / "minio" / "policies" / f"{name}.json.template").read_text())
        document = policy.substitute(
            warehouse_bucket=s3["warehouse_bucket"],
            export_bucket=s3["export_bucket"],
            landing_bucket=s3["landing_bucket"],
        )
        path = settings.home / "mc" / f"{name}-policy.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document)
        user = secrets[f"{engine}_S3_ACCESS_KEY_ID"]
        run("admin", "policy", "create", "lakehouse", f"lakehouse-{name}", str(path))
        # the secret key goes on stdin: a command line is visible to every user in `ps`
        run("admin", "user", "add", "lakehouse", user, stdin=secrets[f"{engine}_S3_SECRET_ACCESS_KEY"] + "\n")
        run("admin", "policy", "attach", "lakehouse", f"lakehouse-{name}", "--user", user, ok_if="already")


def load_catalog(settings: Settings) -> Catalog:
    """The PyIceberg catalog `lakehouse`, from the rendered $LAKEHOUSE_HOME/conf/.pyiceberg.yaml."""
    import os

    os.environ["PYICEBERG_HOME"] = str(settings.conf_dir)
    from pyiceberg.catalog import load_catalog as pyiceberg_load

    return pyiceberg_load(settings.catalog_name)


def namespaces(settings: Settings) -> None:
    catalog = load_catalog(settings)
    existing = {ns[0] for ns in catalog.list_namespaces()}
    for ns in settings.namespaces:
        if ns not in existing:
            say(f"creating namespace {settings.catalog_name}.{ns}")
            catalog.create_namespace(ns)


def landing_dirs(settings: Settings) -> None:
    for source in ("transactions", "payments"):
        (settings.home / "landing" / source).mkdir(parents=True, exist_ok=True)


def provision(settings: Settings, secrets: dict[str, str]) -> None:
    catalog_database(settings, secrets)
    a = settings["airflow"]
    database(settings, secrets, a["database"], a["user"], secrets["AIRFLOW_DB_PASSWORD"])
    buckets(settings, secrets)
    if not settings["s3"]["endpoint"]:  # the local MinIO: we manage its users
        minio_users(settings, secrets)
    namespaces(settings)
    landing_dirs(settings)
