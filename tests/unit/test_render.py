"""Rendered engine configuration: one catalog name everywhere, Trino's password file format."""

from __future__ import annotations

import json
from pathlib import Path

import bcrypt

from lakehouse import cluster, policies, render
from lakehouse.secrets import GENERATED
from lakehouse.settings import Settings


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return Settings.load(
        {"LAKEHOUSE_HOME": str(tmp_path / "home"), "LAKEHOUSE_CACHE": str(tmp_path / "cache"), **env}
    )


def fake_secrets() -> dict[str, str]:
    users = [policies.password_key(u) for u in policies.users(policies.load_roles())]
    return {key: f"value-of-{key.lower()}" for key in [*GENERATED, *users]}


def test_catalog_name_is_identical_in_every_engine(tmp_path: Path) -> None:
    s = settings_for(tmp_path, LAKEHOUSE_CATALOG_NAME="payments")  # not the default, `lakehouse`
    secrets = fake_secrets()
    render.render_all(s, secrets)
    spark = (s.conf_dir / "spark" / "spark-defaults.conf").read_text()
    trino = (s.conf_dir / "trino" / "catalog" / "payments.properties").read_text()
    pyiceberg = (s.conf_dir / ".pyiceberg.yaml").read_text()
    assert "spark.sql.catalog.payments " in spark and "spark.sql.catalog.lakehouse " not in spark
    assert "iceberg.jdbc-catalog.catalog-name=payments\n" in trino
    assert "\n  payments:\n" in pyiceberg
    assert not (s.conf_dir / "trino" / "catalog" / "lakehouse.properties").exists()
    assert "jdbc.schema-version      V1" in spark
    assert "iceberg.jdbc-catalog.schema-version=V1" in trino
    for text in (spark, trino, pyiceberg):
        assert "s3://lakehouse-warehouse/warehouse" in text
    assert (s.conf_dir / "spark" / "spark-defaults.conf").stat().st_mode & 0o777 == 0o600
    rules, _ = policies.install(s)
    catalogs = {rule.get("catalog") for rule in json.loads(rules.read_text())["tables"]}
    assert "payments" in catalogs and catalogs <= {"payments", "system", None}


def test_endpoint_and_ports_come_from_environment(tmp_path: Path) -> None:
    s = settings_for(
        tmp_path,
        LAKEHOUSE_S3_ENDPOINT="https://s3.example.internal",
        LAKEHOUSE_TRINO_HTTPS_PORT="9443",
        LAKEHOUSE_MINIO_PORT="9100",
    )
    assert s.trino_url == "https://127.0.0.1:9443"
    assert s.minio_endpoint == "http://127.0.0.1:9100"
    render.render_all(s, fake_secrets())
    trino = (s.conf_dir / "trino" / "catalog" / "lakehouse.properties").read_text()
    assert "s3.endpoint=https://s3.example.internal\n" in trino
    # each engine has its own object-store user
    assert "s3.aws-access-key=value-of-trino_s3_access_key_id\n" in trino
    spark = (s.conf_dir / "spark" / "spark-defaults.conf").read_text()
    assert "s3.access-key-id         value-of-spark_s3_access_key_id\n" in spark
    assert "http-server.https.port=9443\n" in (s.conf_dir / "trino" / "config.properties").read_text()


def test_password_file_uses_2y_bcrypt_and_is_stable() -> None:
    text = render.password_file_text({"admin": "s3cret-pass"})
    user, digest = text.strip().split(":", 1)
    assert user == "admin" and digest.startswith("$2y$")
    assert bcrypt.checkpw(b"s3cret-pass", digest.replace("$2y$", "$2b$", 1).encode())
    assert render.password_file_text({"admin": "s3cret-pass"}, previous=text) == text
    assert render.password_file_text({"admin": "other"}, previous=text) != text


def test_cluster_topology_is_configuration_only(tmp_path: Path) -> None:
    s = settings_for(tmp_path, LAKEHOUSE_TOPOLOGY="cluster", LAKEHOUSE_CLUSTER_SPARK_MASTER_PORT="17077")
    assert cluster.configured(s) == cluster.CLUSTER
    cluster.choose(s, cluster.configured(s))
    secrets = fake_secrets()
    render.render_all(s, secrets)
    spark = (s.conf_dir / "spark" / "spark-defaults.conf").read_text()
    assert "spark.master                                          spark://127.0.0.1:17077\n" in spark
    assert "spark.lakehouse.checkpoint.replicas                   2\n" in spark
    coordinator = s.conf_dir / "trino"
    worker = s.conf_dir / "trino-worker-1"
    assert "node-scheduler.include-coordinator=false\n" in (coordinator / "config.properties").read_text()
    worker_config = (worker / "config.properties").read_text()
    assert "coordinator=false\n" in worker_config
    assert f"discovery.uri=http://127.0.0.1:{s['trino']['http_port']}\n" in worker_config
    assert f"internal-communication.shared-secret={secrets['TRINO_SHARED_SECRET']}\n" in worker_config
    # the same catalog and access rules on both nodes
    for name in ("catalog/lakehouse.properties", "access-control.properties"):
        assert (worker / name).read_text() == (coordinator / name).read_text()
    assert (worker / "config.properties").stat().st_mode & 0o777 == 0o600
    # the Spark master and workers are told no secret
    daemons = "".join(p.read_text() for p in cluster.spark_daemon_conf_dir(s).iterdir())
    assert not [key for key, value in secrets.items() if value in daemons]


def test_single_topology_has_no_cluster_node(tmp_path: Path) -> None:
    s = settings_for(tmp_path)
    assert cluster.topology(s) == cluster.SINGLE
    render.render_all(s, fake_secrets())
    spark = (s.conf_dir / "spark" / "spark-defaults.conf").read_text()
    assert "spark.master                                          local[2]\n" in spark
    assert "spark.lakehouse.checkpoint.replicas" not in spark
    config = (s.conf_dir / "trino" / "config.properties").read_text()
    assert "node-scheduler.include-coordinator=true\n" in config
    assert not (s.conf_dir / "trino-worker-1").exists()
