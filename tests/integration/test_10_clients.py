"""What users reach for after `make demo`, on the real stack: the Trino shell, the documented
clients (Python, PyIceberg, JDBC with the official driver), the report in a real browser,
backfills, and the quality checks Airflow runs through its Trino provider.

Self-contained: loads its own (dirty) data set, so it passes when run alone.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lakehouse import secrets as secret_store
from lakehouse.airflow_api import AirflowClient
from lakehouse.settings import REPO_ROOT

pytestmark = pytest.mark.integration

DOC = REPO_ROOT / "docs" / "clients.md"
OUTPUT = REPO_ROOT / "build" / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PSEUDONYM = re.compile(r"anon_[0-9a-f]{8,}")
PS_EVERY_PROCESS = ["ps", "-eww", "-o", "pid,args", "--no-headers"]  # full command lines


@pytest.fixture(scope="module")
def loaded(cli, tmp_path_factory) -> dict[str, str]:
    """A dirty v2 data set ingested and analysed once: rejections, violations, cohorts."""
    folder = tmp_path_factory.mktemp("clients-data")
    cli.run("generate", "--customers", "60", "--out", str(folder), "--seed", "31", "--dirty-ratio", "0.05")
    cli.run(
        "ingest",
        "--transactions",
        str(folder / "transactions.jsonl"),
        "--payments",
        str(folder / "payments.jsonl"),
    )
    out = cli.run("delinquency").stdout
    as_of = re.search(r"as of (\d{4}-\d{2}-\d{2})", out).group(1)
    return {"as_of": as_of, "folder": str(folder)}


def real_customer_ids(cli) -> set[str]:
    return {row[0] for row in cli.sql("SELECT DISTINCT customer_id FROM curated.transactions")[1:]}


# ---------------------------------------------------------------------------------------
# lakehouse trino
# ---------------------------------------------------------------------------------------
def test_trino_shell_as_analyst_shows_pseudonyms_and_never_the_password(cli, settings, loaded) -> None:
    password = secret_store.read(settings.secrets_file)["TRINO_ANALYST_PASSWORD"]
    proc = cli.start(
        "trino", "--user", "analyst", "--execute", "SELECT customer_id FROM curated.transactions LIMIT 1"
    )
    seen_cli, leaked = False, []
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while proc.poll() is None:
        try:
            running_cli = b"trino-cli" in cmdline.read_bytes()  # the CLI replaced the Python process
        except OSError:
            break
        if running_cli:  # list every process, as anyone on the machine could
            ps = subprocess.run(PS_EVERY_PROCESS, capture_output=True, text=True)
            mine = [line for line in ps.stdout.splitlines() if line.split()[0] == str(proc.pid)]
            seen_cli |= bool(mine) and "trino-cli" in mine[0] and "--user=analyst" in mine[0]
            leaked += [line for line in ps.stdout.splitlines() if password in line]
        time.sleep(0.02)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert seen_cli, "the Trino CLI process was never seen by ps"
    assert leaked == []
    (value,) = stdout.split()
    assert PSEUDONYM.fullmatch(value.strip('"')), stdout
    assert value.strip('"') not in real_customer_ids(cli)


def test_trino_shell_unknown_user_fails_with_a_clear_message(cli) -> None:
    result = cli.run("trino", "--user", "mallory", "--execute", "SELECT 1", check=False)
    assert result.returncode != 0
    assert "no Trino user 'mallory'" in result.stderr
    assert "admin, analyst, bi, collections, pipeline" in result.stderr


# ---------------------------------------------------------------------------------------
# The documented clients, run as written in docs/clients.md
# ---------------------------------------------------------------------------------------
def documented(name: str) -> tuple[str, str]:
    """(language, code) of the block marked `<!-- tested: name -->` in docs/clients.md."""
    match = re.search(rf"<!-- tested: {name} -->\n```(\w+)\n(.*?)\n```", DOC.read_text(), re.S)
    assert match, f"docs/clients.md has no block marked tested: {name}"
    return match.group(1), match.group(2)


def as_on_this_stack(code: str, settings) -> str:
    """The doc's code with the test stack's home, port and cache (and this venv's Python)."""
    code = re.sub(r"(?:/path/to/checkout/|\$PWD/)?\.lakehouse/", f"{settings.home}/", code)
    code = re.sub(r"\b8443\b", str(settings["trino"]["https_port"]), code)
    code = code.replace("~/.cache/lakehouse", str(settings.cache))
    code = code.replace("uv run lakehouse", f"{sys.executable} -m lakehouse.cli")
    return code.replace("uv run python", sys.executable)


@pytest.mark.parametrize("client", ["trino-cli", "python", "pyiceberg", "jdbc"])
def test_documented_client_runs_as_written(cli, settings, loaded, client: str) -> None:
    language, code = documented(client)
    code = as_on_this_stack(code, settings)
    cmd = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
    result = subprocess.run(cmd, env=cli.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{client}:\n{code}\n{result.stdout}\n{result.stderr[-3000:]}"
    if client == "pyiceberg":  # the platform's view of the catalog, not a user's
        assert "('curated', 'transactions')" in result.stdout
        return
    # every SQL client here connects as the analyst: customer ids are pseudonyms
    shown = PSEUDONYM.findall(result.stdout)
    assert len(shown) == 3, result.stdout
    assert not set(shown) & real_customer_ids(cli)
    if client == "jdbc":
        assert "SSLTrustStoreType" not in code  # the fixed URL: the driver reads the PEM itself


# ---------------------------------------------------------------------------------------
# lakehouse report, in a real browser
# ---------------------------------------------------------------------------------------
def open_in_chromium(page_path: Path, screenshot: Path) -> dict:
    """Load the page in headless Chromium; what it logged, requested and drew."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run lakehouse/bootstrap.sh as root"
    seen: dict = {"errors": [], "requests": []}
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": 1100, "height": 900},
        )
        try:
            page = browser.new_page()
            page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            seen["charts"] = {
                fig.get_attribute("data-chart"): {
                    "marks": fig.locator(".role-mark path, .role-mark rect").count(),
                    "box": fig.locator("svg").bounding_box(),
                }
                for fig in page.locator("figure.chart").all()
            }
            seen["headline"] = page.locator("#headline-pct").get_attribute("data-value")
            seen["summary_rows"] = page.locator("#summary-table tbody tr").evaluate_all(
                "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
            )
            seen["top_ids"] = page.locator('#top-table td[data-column="customer_id"]').all_text_contents()
            seen["html"] = page.content()
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return seen


@pytest.mark.parametrize("user", ["admin", "analyst"])
def test_report_in_a_real_browser(cli, settings, loaded, tmp_path, user: str) -> None:
    as_of = loaded["as_of"]
    result = cli.run("report", "--user", user, "--as-of", as_of, "--out", str(tmp_path))
    path = Path(re.search(r"report: (\S+)", result.stdout).group(1))
    assert path.exists() and path.parent == tmp_path
    seen = open_in_chromium(path, OUTPUT / f"report-{user}.png")
    print(f"screenshot: {OUTPUT / f'report-{user}.png'}")
    assert seen["errors"] == []
    assert [u for u in seen["requests"] if not u.startswith("file:")] == []  # nothing fetched
    assert set(seen["charts"]) == {"vintage", "trend", "rejected", "dpd"}
    for name, chart in seen["charts"].items():
        assert chart["marks"] > 0, f"chart {name} drew nothing"
        assert chart["box"]["width"] > 200 and chart["box"]["height"] > 100, name
    # the headline is the summary table's figure, on the page and in Trino
    summary = f"SELECT pct_delinquent FROM analytics.delinquency_summary WHERE as_of = DATE '{as_of}'"
    pct = cli.sql(summary)[1][0]
    assert float(seen["headline"]) == float(pct)
    on_page = {row[0]: row[3] for row in seen["summary_rows"]}
    assert float(on_page[as_of]) == float(pct)
    real = real_customer_ids(cli)
    assert seen["top_ids"], "no delinquent customer listed"
    if user == "analyst":
        assert all(PSEUDONYM.fullmatch(i) for i in seen["top_ids"]), seen["top_ids"]
        words = set(re.findall(r"[\w-]+", seen["html"]))
        assert not words & real, sorted(words & real)[:5]
    else:
        assert set(seen["top_ids"]) <= real


# ---------------------------------------------------------------------------------------
# lakehouse backfill
# ---------------------------------------------------------------------------------------
def test_backfill_three_days_runs_three_dag_runs(cli, settings, loaded) -> None:
    last = cli.sql("SELECT max(payment_date) FROM curated.payments")[1][0]
    import datetime as dt

    end = dt.date.fromisoformat(last)
    days = [(end - dt.timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    result = cli.run("backfill", "--from", days[0], "--to", days[2], "--timeout", "900", check=False)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    table = result.stdout[result.stdout.index("as_of  ") :].splitlines()
    rows = [line.split() for line in table[1:] if line.strip()]
    assert [r[0] for r in rows] == days
    assert all(r[1] == "success" and r[2].endswith("%") for r in rows), table
    client = AirflowClient(settings)
    runs = [r[-1] for r in rows]
    for day, run_id in zip(days, runs, strict=True):
        run = client._call("GET", f"/api/v2/dags/lakehouse_daily/dagRuns/{run_id}")
        assert run["conf"] == {"as_of": day} and run["state"] == "success"
        summary = cli.sql(f"SELECT count(*) FROM analytics.delinquency_summary WHERE as_of = DATE '{day}'")
        assert summary[1] == ["1"]
    # long steps log progress into Airflow's task logs as plain lines, closed by what they ran
    for run_id in runs:
        log = client.log_path("lakehouse_daily", run_id, "delinquency", 1).read_text()
        progress = [json.loads(line)["event"] for line in log.splitlines() if "[progress]" in line]
        closing = [p for p in progress if " done: " in p]
        assert len(closing) == 1 and re.search(r"done: [1-9]\d* Spark job\(s\)", closing[0]), progress
        assert all(p.startswith("[progress]") and "\r" not in p and "\x1b" not in p for p in progress)


# ---------------------------------------------------------------------------------------
# The quality checks Airflow runs through the Trino provider
# ---------------------------------------------------------------------------------------
def test_a_broken_rule_fails_its_check_task_only(cli, settings, loaded) -> None:
    before = cli.sql('SELECT max_by(snapshot_id, committed_at) FROM curated."transactions$snapshots"')[1][0]
    key = cli.sql("SELECT min(transaction_id) FROM curated.transactions")[1][0]
    # an admin forces a duplicate key into curated by hand
    table = "curated.transactions"
    cli.sql(f"INSERT INTO {table} SELECT * FROM {table} WHERE transaction_id = '{key}'")
    try:
        result = cli.run("run-dag", "lakehouse_daily", "--conf", "{}", "--timeout", "900", check=False)
        assert result.returncode == 1, result.stdout + result.stderr
        run_id = re.search(r"triggered lakehouse_daily run (\S+)", result.stdout).group(1)
        not_succeeded = dict(re.findall(r"^  (\w+): (\w+); log: ", result.stdout, re.MULTILINE))
        assert not_succeeded == {
            "check_transactions_unique_keys": "failed",
            "check_transactions": "upstream_failed",
            "all_sources_loaded": "upstream_failed",
        }
        client = AirflowClient(settings)
        states = {t["task_id"]: t for t in client.task_instances("lakehouse_daily", run_id)}
        failed = states["check_transactions_unique_keys"]
        assert failed["operator"] == "SQLColumnCheckOperator" and failed["try_number"] == 1  # no retry
        for rule in ("row_count_accounting", "not_null", "value_ranges"):
            assert states[f"check_transactions_{rule}"]["state"] == "success"
            assert states[f"check_payments_{rule}"]["state"] == "success"
        assert states["delinquency"]["state"] == "success"  # ran on, with transactions flagged stale
        latest = "SELECT stale_inputs FROM analytics.delinquency_summary ORDER BY computed_at DESC LIMIT 1"
        stale = cli.sql(latest)
        assert stale[1] == ["transactions"]
        # the API shows which rule failed, and the values
        log = client.session.get(
            f"{client.base}/api/v2/dags/lakehouse_daily/dagRuns/{run_id}/taskInstances/"
            "check_transactions_unique_keys/logs/1",
            headers={"Accept": "application/json"},
            timeout=30,
        ).json()
        text = json.dumps(log)
        assert "The following tests have failed" in text and "unique_check" in text
        assert "transaction_id" in text
    finally:
        cli.sql(f"ALTER TABLE curated.transactions EXECUTE rollback_to_snapshot({before})")
    assert cli.sql(f"SELECT count(*) FROM curated.transactions WHERE transaction_id = '{key}'")[1] == ["1"]
