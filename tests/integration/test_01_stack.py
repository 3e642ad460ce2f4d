"""The stack itself: health, TLS and password login, one catalog shared by every engine."""

from __future__ import annotations

import subprocess

import pytest
import requests

import trino
from lakehouse import secrets as secret_store
from lakehouse.sql import connect

pytestmark = pytest.mark.integration


def test_status_reports_every_service_healthy(cli) -> None:
    out = cli.run("status").stdout
    for service in ("postgres", "minio", "trino"):
        assert any(line.startswith(service) and "healthy" in line for line in out.splitlines()), out


def test_up_is_idempotent(cli) -> None:
    second = cli.run("up")
    assert "healthy" in second.stdout
    assert "initialising" not in second.stderr and "creating bucket" not in second.stderr


def test_secrets_file_is_private(settings) -> None:
    assert settings.secrets_file.stat().st_mode & 0o777 == 0o600
    values = secret_store.read(settings.secrets_file)
    assert {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "TRINO_ADMIN_PASSWORD"} <= set(values)


def test_wrong_password_is_rejected(cli, settings) -> None:
    conn = connect(settings, "admin", password="not-the-password")
    with pytest.raises(trino.exceptions.HttpError, match="401"):
        conn.cursor().execute("SELECT 1")


def test_no_anonymous_access_over_http_or_https(settings) -> None:
    session = requests.Session()
    session.trust_env = False
    https = session.post(
        f"{settings.trino_url}/v1/statement",
        data="SELECT 1",
        headers={"X-Trino-User": "admin"},
        verify=str(settings.tls_dir / "trino.crt"),
        timeout=10,
    )
    assert https.status_code == 401
    http_port = settings["trino"]["http_port"]
    http = requests.post(
        f"http://127.0.0.1:{http_port}/v1/statement",
        data="SELECT 1",
        headers={"X-Trino-User": "admin"},
        timeout=10,
    )
    assert http.status_code == 403


def test_sql_failure_exits_non_zero_with_the_message(cli) -> None:
    result = cli.run("sql", "SELECT * FROM curated.no_such_table", check=False)
    assert result.returncode != 0
    assert "no_such_table" in result.stderr


def test_trino_cli_jar_connects_over_https(cli, settings) -> None:
    secrets = secret_store.read(settings.secrets_file)
    jar = settings.trino_cli_jar
    result = subprocess.run(
        [
            "java",
            "-jar",
            str(jar),
            f"--server={settings.trino_url}",
            "--user=admin",
            "--password",
            f"--truststore-path={settings.tls_dir / 'trino.crt'}",
            "--execute=SHOW SCHEMAS FROM lakehouse",
        ],
        env={
            **cli.env,
            "TRINO_PASSWORD": secrets["TRINO_ADMIN_PASSWORD"],
            "JAVA_HOME": "/usr/lib/jvm/java-17-openjdk-amd64",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert {'"raw"', '"curated"', '"analytics"'} <= set(result.stdout.split())
