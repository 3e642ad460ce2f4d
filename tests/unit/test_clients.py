"""The client-side pieces without a stack: the Trino CLI command line, the Airflow connection,
backfill days and summary, the report's HTML from known rows."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse import backfill, report, trino_cli
from lakehouse.airflow_service import airflow_env, trino_connection_env
from lakehouse.settings import Settings

SECRETS = {
    "TRINO_ADMIN_PASSWORD": "admin-secret-123",
    "TRINO_PIPELINE_PASSWORD": "pipeline-secret-456",
    "TRINO_ANALYST_PASSWORD": "analyst-secret-789",
    "AIRFLOW_DB_PASSWORD": "db-pass-000",
    "AIRFLOW_FERNET_KEY": "fernet",
    "AIRFLOW_API_SECRET_KEY": "api",
    "AIRFLOW_JWT_SECRET": "jwt",
}


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    (home / "tls").mkdir(parents=True)
    (home / "tls" / "trino.crt").write_text("-----BEGIN CERTIFICATE-----\nTRINO\n-----END CERTIFICATE-----\n")
    (home / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in SECRETS.items()))
    return Settings.load({"LAKEHOUSE_HOME": str(home), "LAKEHOUSE_TRINO_HTTPS_PORT": "28443"})


def test_trino_cli_command_has_everything_but_the_password(settings) -> None:
    argv = trino_cli.command(settings, "analyst", "SELECT 1")
    assert argv[argv.index("-jar") + 1] == str(settings.trino_cli_jar)
    assert "--server=https://127.0.0.1:28443" in argv
    assert "--user=analyst" in argv and "--password" in argv and "--catalog=lakehouse" in argv
    assert f"--truststore-path={settings.tls_dir / 'trino.crt'}" in argv
    assert argv[-1] == "--execute=SELECT 1"
    assert not any(SECRETS["TRINO_ANALYST_PASSWORD"] in a for a in argv)
    assert trino_cli.environment(settings, "analyst")["TRINO_PASSWORD"] == SECRETS["TRINO_ANALYST_PASSWORD"]


def test_trino_cli_unknown_user_names_the_known_ones(settings) -> None:
    with pytest.raises(trino_cli.UnknownUser, match=r"no Trino user 'mallory'.*admin, analyst"):
        trino_cli.environment(settings, "mallory")


def test_airflow_gets_the_trino_connection_from_the_secrets(settings, monkeypatch) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    env = airflow_env(settings, SECRETS)
    conn = json.loads(env["AIRFLOW_CONN_LAKEHOUSE_TRINO"])
    assert conn["conn_type"] == "trino"
    assert (conn["host"], conn["port"], conn["login"]) == ("127.0.0.1", 28443, "pipeline")
    assert conn["password"] == SECRETS["TRINO_PIPELINE_PASSWORD"]
    assert conn["extra"] == {
        "protocol": "https",
        "verify": str(settings.tls_dir / "trino.crt"),
        "catalog": "lakehouse",
        "source": "airflow",
    }


def test_a_ca_bundle_in_the_environment_gets_the_stack_certificate(settings, tmp_path, monkeypatch) -> None:
    system = tmp_path / "system.pem"
    system.write_text("SYSTEM CAS\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(system))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    env = trino_connection_env(settings, SECRETS)
    bundle = Path(env["REQUESTS_CA_BUNDLE"]).read_text()
    assert bundle.startswith("SYSTEM CAS\n") and "TRINO" in bundle
    assert "CURL_CA_BUNDLE" not in env


def test_backfill_days_and_summary() -> None:
    days = backfill.days(dt.date(2025, 6, 29), dt.date(2025, 7, 1))
    assert days == [dt.date(2025, 6, 29), dt.date(2025, 6, 30), dt.date(2025, 7, 1)]
    with pytest.raises(ValueError, match="before"):
        backfill.days(dt.date(2025, 7, 1), dt.date(2025, 6, 1))
    run_id = backfill.run_id_for(dt.date(2025, 6, 30), dt.datetime(2026, 1, 2, 3, 4, 5))
    assert run_id == "lakehouse_backfill__as_of_2025-06-30__20260102T030405"
    assert not run_id.startswith(("backfill__", "scheduled__", "manual__"))  # reserved by Airflow
    assert re.fullmatch(r"[A-Za-z0-9_.~:+-]+", run_id)  # Airflow's allowed run id characters
    table = backfill.summary_table(
        [backfill.DayResult(d, f"r{d.day}", "success", {}, "12.50%", "5", "40") for d in days]
    ).splitlines()
    assert table[0].split()[:3] == ["as_of", "state", "%"]
    assert [line.split()[:3] for line in table[1:]] == [[d.isoformat(), "success", "12.50%"] for d in days]


def sample_data(user: str = "admin") -> report.Data:
    as_of = dt.date(2025, 6, 20)
    ts = dt.datetime(2026, 1, 1, 12, 0)
    return report.Data(
        user=user,
        as_of=as_of,
        trino_url="https://127.0.0.1:8443",
        summary={
            "as_of": as_of,
            "customers": 40,
            "delinquent": 5,
            "pct_delinquent": Decimal("12.50"),
            "over30mob3": 3,
            "ever15mob6": 4,
            "customers_window_complete": 30,
            "pct_delinquent_window_complete": Decimal("10.00"),
            "transactions_snapshot_id": 111,
            "payments_snapshot_id": 222,
            "stale_inputs": None,
            "computed_at": ts,
            "run_id": "run-1",
        },
        trend=[
            {"as_of": dt.date(2025, 6, d), "customers": 40, "delinquent": 4, "pct_delinquent": Decimal(d)}
            for d in (18, 19, 20)
        ],
        vintage=[
            {"cohort_month": c, "months_on_book": m, "pct_delinquent": Decimal(m * 2), "customers": 10}
            for c in ("2024-01", "2024-02")
            for m in (3, 4, 5)
        ],
        rejected=[
            {"batch_id": "b1", "source": "payments", "first_at": ts, "reason": reason, "records": n}
            for reason, n in (("missing_payment_id", 3), ("invalid_payment_date", 1))
        ],
        batches=[
            {
                "batch_id": "b1",
                "source": "payments",
                "finished_at": ts,
                "received": 10,
                "accepted": 6,
                "rejected": 4,
                "duplicates": 0,
            }
        ],
        dpd=[
            {"criterion": "ever15mob6", "days_past_due": 20, "violations": 4},
            {"criterion": "over30mob3", "days_past_due": 45, "violations": 2},
        ],
        top=[
            {
                "customer_id": "C<script>",
                "cohort_month": "2024-01",
                "origination_date": dt.date(2024, 1, 3),
                "max_days_past_due": 45,
                "over30mob3": True,
                "ever15mob6": True,
            }
        ],
        generated_at=ts,
    )


def test_report_page_is_self_contained_with_four_drawn_charts() -> None:
    page = report.render(sample_data())
    assert "<script" not in page  # no code to run, and values are escaped
    assert "C&lt;script&gt;" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch
    charts = re.findall(r'<figure class="chart" data-chart="(\w+)">(.*?)</figure>', page, re.S)
    assert [name for name, _ in charts] == ["vintage", "trend", "rejected", "dpd"]
    for name, svg in charts:
        marks = re.findall(r'<g class="mark-(\w+) role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
        drawn = sum(body.count("<path") + body.count("<rect") for _, body in marks)
        assert drawn > 0, name
    headline = re.search(r'id="headline-pct" data-value="([\d.]+)"', page).group(1)
    assert headline == "12.50"


def test_report_says_what_the_user_may_not_see() -> None:
    data = sample_data("bi")
    data.top, data.dpd = None, None
    data.notes = {"top": "not available to user bi: Access Denied", "dpd": "not available to user bi: denied"}
    page = report.render(data)
    assert "not available to user bi: Access Denied" in page
    assert 'data-chart="dpd"' not in page and 'id="top-table"' not in page


def test_airflow_runs_the_triggerer_only_when_asked(tmp_path) -> None:
    """No DAG here defers a task: three processes by default; the triggerer (and its health) on
    request, for DAGs that do."""
    from lakehouse.airflow_service import Airflow

    default = Airflow(Settings.load({"LAKEHOUSE_HOME": str(tmp_path)}))
    assert default.components == ("api-server", "scheduler", "dag-processor")
    assert default._checked() == ("scheduler", "dag_processor")
    asked = Airflow(Settings.load({"LAKEHOUSE_HOME": str(tmp_path), "LAKEHOUSE_AIRFLOW_TRIGGERER": "true"}))
    assert asked.components == ("api-server", "scheduler", "dag-processor", "triggerer")
    assert asked._checked() == ("scheduler", "dag_processor", "triggerer")


def test_a_restarted_scheduler_counts_only_by_its_own_heartbeat() -> None:
    """After a kill, the dead scheduler's job still has the newest heartbeat in Airflow's health
    for a while: `up` waits for one at or after the moment it started the new process."""
    from lakehouse.airflow_service import heartbeat_since

    started = dt.datetime(2026, 12, 2, 10, 49, 5, tzinfo=dt.UTC)

    def health(beat: str | None) -> dict[str, object]:
        return {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": beat}}

    assert not heartbeat_since(health("2026-12-02T10:48:50.123456+00:00"), "scheduler", started)
    assert heartbeat_since(health("2026-12-02T10:49:19.278546+00:00"), "scheduler", started)
    assert heartbeat_since(health("2026-12-02T10:49:05+00:00"), "scheduler", started)
    assert not heartbeat_since(health(None), "scheduler", started)
    assert not heartbeat_since({}, "scheduler", started)
    assert not heartbeat_since(None, "dag_processor", started)
