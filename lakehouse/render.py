"""Renders each engine's configuration from the settings into $LAKEHOUSE_HOME/conf (mode 0600).

Templates live beside the engine they configure (catalog_config/, trino/etc/); the values
all come from `Settings` and the generated secrets, so Spark, Trino and PyIceberg can never
disagree on the catalog name, the warehouse or the object store.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from pathlib import Path
from string import Template

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lakehouse import cluster, governance, policies
from lakehouse import secrets as secret_store
from lakehouse.governance import EVENTS_PATH
from lakehouse.secrets import write_private
from lakehouse.settings import REPO_ROOT, Settings

TRINO_ETC = REPO_ROOT / "trino" / "etc"
CATALOG_CONFIG = REPO_ROOT / "catalog_config"


def _render(template: Path, values: dict[str, object]) -> str:
    return Template(template.read_text()).substitute({k: str(v) for k, v in values.items()})


def common_values(settings: Settings, secrets: dict[str, str], engine: str) -> dict[str, object]:
    pg, s3 = settings["postgres"], settings["s3"]
    access_key, secret_key = secret_store.engine_s3_keys(secrets, engine)
    return {
        "catalog": settings.catalog_name,
        "jdbc_url": settings.catalog_jdbc_url,
        "jdbc_user": pg["catalog_user"],
        "jdbc_password": secrets["ICEBERG_CATALOG_PASSWORD"],
        "pg_host": pg["host"],
        "pg_port": pg["port"],
        "pg_database": pg["catalog_database"],
        "warehouse": settings.warehouse_uri,
        "s3_endpoint": settings.s3_endpoint,
        "s3_region": s3["region"],
        "s3_path_style": str(s3["path_style_access"]).lower(),
        "s3_access_key": access_key,
        "s3_secret_key": secret_key,
        "format_version": settings["catalog"]["format_version"],
    }


def spark_conf_dir(settings: Settings) -> Path:
    return settings.conf_dir / "spark"


def render_spark(settings: Settings, secrets: dict[str, str]) -> Path:
    spark = settings["spark"]
    values = common_values(settings, secrets, "SPARK") | {
        "spark_master": cluster.spark_master(settings),
        "driver_memory": spark["driver_memory"],
        "executor_memory": spark["executor_memory"],
        "shuffle_partitions": spark["shuffle_partitions"],
        "spark_jars": ",".join(str(p) for p in settings.spark_jars),
    }
    target = spark_conf_dir(settings) / "spark-defaults.conf"
    text = _render(CATALOG_CONFIG / "spark-defaults.conf.template", values)
    write_private(target, text + cluster.spark_conf_block(settings))
    return target


def render_pyiceberg(settings: Settings, secrets: dict[str, str]) -> Path:
    target = settings.conf_dir / ".pyiceberg.yaml"
    # PyIceberg is the platform's own tooling (provisioning, checks): it reads as the jobs do.
    values = common_values(settings, secrets, "SPARK")
    write_private(target, _render(CATALOG_CONFIG / "pyiceberg.yaml.template", values))
    return target


def trino_etc(settings: Settings) -> Path:
    return settings.conf_dir / "trino"


def trino_users(secrets: dict[str, str]) -> dict[str, str]:
    """Trino login -> password, for every member of a group in access_policies/roles.toml."""
    return {user: secrets[policies.password_key(user)] for user in policies.users(policies.load_roles())}


def password_file_text(users: dict[str, str], previous: str = "") -> str:
    """Trino's password file: `user:bcrypt-hash` lines, `$2y$` prefix as Trino requires.

    Existing hashes that still match are kept, so re-rendering does not rewrite the file.
    """
    old = dict(line.split(":", 1) for line in previous.splitlines() if ":" in line)
    lines = []
    for user, password in sorted(users.items()):
        digest = old.get(user, "")
        check = digest.replace("$2y$", "$2b$", 1).encode()
        if not digest or not bcrypt.checkpw(password.encode(), check):
            digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
            digest = digest.replace("$2b$", "$2y$", 1)
        lines.append(f"{user}:{digest}")
    return "\n".join(lines) + "\n"


def ensure_tls(settings: Settings) -> tuple[Path, Path]:
    """A self-signed certificate for Trino (SAN localhost, 127.0.0.1), created once.

    Returns (keystore PEM with key and certificate, certificate PEM for clients).
    """
    keystore = settings.tls_dir / "trino-keystore.pem"
    cert_path = settings.tls_dir / "trino.crt"
    if keystore.exists() and cert_path.exists():
        return keystore, cert_path
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lakehouse-trino")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    write_private(keystore, key_pem + cert_pem)
    cert_path.write_text(cert_pem)
    return keystore, cert_path


def render_trino(settings: Settings, secrets: dict[str, str]) -> Path:
    etc = trino_etc(settings)
    trino = settings["trino"]
    keystore, _ = ensure_tls(settings)
    data_dir = settings.home / "trino"
    node_id_file = data_dir / "node-id"
    if not node_id_file.exists():
        node_id_file.parent.mkdir(parents=True, exist_ok=True)
        node_id_file.write_text(str(uuid.uuid4()))
    password_db = etc / "password.db"
    previous = password_db.read_text() if password_db.exists() else ""
    values = common_values(settings, secrets, "TRINO") | {
        "http_port": trino["http_port"],
        "https_port": trino["https_port"],
        "keystore": keystore,
        "shared_secret": secrets["TRINO_SHARED_SECRET"],
        "node_id": node_id_file.read_text().strip(),
        "data_dir": data_dir,
        "password_file": password_db,
    }
    values |= cluster.trino_coordinator_values(settings)  # heap, memory, scheduling: per topology
    rules_file, group_file = policies.install(settings, governance.live_columns(settings))
    gov = settings["governance"]
    values |= {
        "rules_file": rules_file,
        "group_file": group_file,
        "event_listener_file": etc / "http-event-listener.properties",
        "audit_uri": f"http://{gov['host']}:{gov['port']}{EVENTS_PATH}",
        "audit_token": secrets["AUDIT_EVENTS_TOKEN"],
    }
    for name in (
        "http-event-listener.properties",
        "config.properties",
        "jvm.config",
        "node.properties",
        "password-authenticator.properties",
        "access-control.properties",
        "group-provider.properties",
    ):
        write_private(etc / name, _render(TRINO_ETC / f"{name}.template", values))
    write_private(etc / "log.properties", (TRINO_ETC / "log.properties").read_text())
    write_private(
        etc / "catalog" / f"{settings.catalog_name}.properties",
        _render(TRINO_ETC / "catalog" / "lakehouse.properties.template", values),
    )
    write_private(password_db, password_file_text(trino_users(secrets), previous))
    cluster.render_trino_workers(settings, values)
    return etc


def render_all(settings: Settings, secrets: dict[str, str]) -> None:
    render_spark(settings, secrets)
    cluster.render_spark_daemons(settings)
    render_pyiceberg(settings, secrets)
    render_trino(settings, secrets)
