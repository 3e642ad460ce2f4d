"""`lakehouse`: start the local stack, ingest, query, generate data."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from jobs.protocol import DEFAULT_WAIT, EXIT_INPUT_REFUSED, EXIT_LOCK_TIMEOUT, EXIT_NOTHING_TO_DO
from lakehouse import artifacts, cluster, cluster_nodes, policies, provision, render
from lakehouse import secrets as secret_store
from lakehouse.airflow_service import Airflow
from lakehouse.governance_agent import GovernanceAgent
from lakehouse.services import Service, ServiceError, all_services, say
from lakehouse.settings import REPO_ROOT, Settings
from lakehouse.spark import JobFailed
from lakehouse.spark_service import SparkService


class InputMissing(RuntimeError):
    """No input file matches what the user gave."""


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    started = time.monotonic()
    artifacts.ensure_all(settings)
    cluster.choose(settings, chosen_topology(settings, args))
    secrets = secret_store.ensure(settings.secrets_file, passwords_for_users())
    render.render_all(settings, secrets)
    launched = cluster_nodes.before_services(settings)
    for service in all_services(settings):
        service.start(secrets)
        say(f"{service.name} healthy")
    cluster_nodes.after_services(settings, launched)
    provision.provision(settings, secrets)
    GovernanceAgent(settings).start(secrets)
    say("governance agent healthy")
    if settings["spark"]["service"]:
        SparkService(settings).ensure_current()
        say("spark service healthy")
    cluster_nodes.after_spark(settings)
    Airflow(settings).start(secrets)
    say("airflow healthy")
    say(f"stack up in {time.monotonic() - started:.0f}s")
    return cmd_status(settings, argparse.Namespace())


def chosen_topology(settings: Settings, args: argparse.Namespace) -> str:
    """`up --cluster` / `up --single`, else the settings' (LAKEHOUSE_TOPOLOGY), else single."""
    if getattr(args, "cluster", False):
        return cluster.CLUSTER
    if getattr(args, "single", False):
        return cluster.SINGLE
    return cluster.configured(settings)


def passwords_for_users() -> list[str]:
    return [policies.password_key(u) for u in policies.users(policies.load_roles())]


def cmd_policies(settings: Settings, args: argparse.Namespace) -> int:
    for path in policies.build():
        print(f"rendered {path.relative_to(REPO_ROOT)}")
    if settings.secrets_file.exists():  # a stack exists: refresh Trino's copy (it reloads in 5 s)
        secrets = secret_store.ensure(settings.secrets_file, passwords_for_users())
        render.render_trino(settings, secrets)
        print(f"installed into {settings.conf_dir / 'trino'} (Trino reloads within 5 s)")
    return 0


def cmd_rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    """A new pseudonymisation key: every pseudonym column rewritten, then the key promoted."""
    from lakehouse.spark import submit

    secrets = secret_store.load(settings.secrets_file)
    new_key = secrets.get("PSEUDONYM_KEY_NEXT")
    if new_key:
        say("finishing the pseudonym key rotation that was started before")
    else:
        new_key = secret_store.new_pseudonym_key()
        secret_store.update(settings.secrets_file, {"PSEUDONYM_KEY_NEXT": new_key})
    result = submit(
        settings, "rotate_key", ["--wait", str(args.wait)], {"LAKEHOUSE_PSEUDONYM_KEY_NEXT": new_key}
    )
    secret_store.update(settings.secrets_file, {"PSEUDONYM_KEY": new_key, "PSEUDONYM_KEY_NEXT": None})
    print(f"{'table':<34} {'rows rewritten':>14}")
    for table, rows in sorted(result["tables"].items()):
        print(f"{table:<34} {rows:>14}")
    print("new pseudonymisation key in use: every pseudonym changed (joins across tables still match)")
    return 0


def cmd_forget(settings: Settings, args: argparse.Namespace) -> int:
    """LGPD art. 18: erase one customer everywhere (jobs/forget.py)."""
    import getpass

    from lakehouse.spark import submit

    job_args = [
        "--reason",
        args.reason,
        "--requested-by",
        args.requested_by or getpass.getuser(),
        "--export-uri",
        settings.export_uri,
        "--landing-uri",
        f"s3://{settings['s3']['landing_bucket']}",
        "--wait",
        str(args.wait),
    ]
    # the id travels in the job's environment, not on a command line other users can list
    result = submit(settings, "forget", job_args, {"LAKEHOUSE_ERASE_CUSTOMER": args.customer})
    if not result["logged"]:
        print(f"nothing to erase: this customer was erased on {result['already_erased_at']}")
        return 0
    removed = result["removed"]
    print(f"{'table':<34} {'rows removed':>12}")
    for table, rows in sorted(removed.items()):
        print(f"{table:<34} {rows:>12}")
    print(
        f"rows removed: {sum(removed.values())}; streamed files rewritten: "
        f"{result['streamed_files_rewritten']}; exports rewritten: {result['exports_rewritten']}"
    )
    print("older snapshots expired and orphan files removed; recorded in governance.erasure_log")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.replay import Options, replay, s3_put

    inputs = {name: getattr(args, name) for name in ("transactions", "payments") if getattr(args, name)}
    if not inputs:
        raise SystemExit("lakehouse replay: give --transactions PATH and/or --payments PATH")
    options = Options(inputs, args.rate, args.batch_size, args.disorder, args.duplicates, args.seed)
    secrets = secret_store.load(settings.secrets_file)
    counts = replay(options, s3_put(settings, secrets), say)
    landing = f"s3://{settings['s3']['landing_bucket']}/stream/"
    print(f"sent {counts['records']} records in {counts['files']} files to {landing}")
    return 0


def cmd_stream(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.stream_service import StreamApp

    app = StreamApp(settings)
    if args.action == "start":
        pid = app.start(args.trigger_seconds, args.max_files)
        print(f"stream running (pid {pid}); log: {app.log}")
    elif args.action == "stop":
        app.stop()
        print("stream stopped")
    else:
        status = app.status()
        state = f"running (pid {status['pid']})" if status["running"] else "not running"
        print(f"stream: {state}")
        header = ("source", "batch", "in rows/s", "done rows/s", "latency p50", "p95")
        print("{:<13} {:>6} {:>10} {:>12} {:>12} {:>7}".format(*header))
        for source, s in status["sources"].items():
            if s is None:
                print(f"{source:<13} {'-':>6}")
                continue
            p50 = "-" if s["latency_p50_s"] is None else f"{s['latency_p50_s']:.1f}s"
            p95 = "-" if s["latency_p95_s"] is None else f"{s['latency_p95_s']:.1f}s"
            print(
                f"{source:<13} {s['last_micro_batch']:>6} {s['input_rows_per_s']:>10} "
                f"{s['processed_rows_per_s']:>12} {p50:>12} {p95:>7}"
            )
        return 0 if status["running"] else 1
    return 0


def cmd_docs(_: Settings, __: argparse.Namespace) -> int:
    from lakehouse import contracts_doc

    changed = contracts_doc.write()
    print(f"{contracts_doc.DOC.relative_to(REPO_ROOT)} {'rendered' if changed else 'up to date'}")
    return 0


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """Move the agent's audit events into governance.query_log, then show them (admin only)."""
    from lakehouse.governance_agent import ready_spool_files
    from lakehouse.spark import submit
    from lakehouse.sql import query

    secrets = secret_store.load(settings.secrets_file)
    files = ready_spool_files(settings, secrets)
    if files:
        result = submit(settings, "audit", ["--files", *map(str, files)])
        for path in files:
            path.unlink(missing_ok=True)
        say(f"audit: {result['events']} new event(s) recorded in governance.query_log")
    where = []
    if args.user:
        where.append(f"\"user\" = '{args.user.replace(chr(39), chr(39) * 2)}'")
    if args.since:
        where.append(f"created_at >= TIMESTAMP '{args.since}'")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    columns, rows = query(
        settings,
        "SELECT created_at, \"user\", state, coalesce(error_code, '') AS error, "
        "array_join(transform(tables, t -> t.schema || '.' || t.\"table\" || '(' || "
        "array_join(t.columns, ',') || ')'), ' ') AS read "
        f"FROM governance.query_log {clause} ORDER BY created_at DESC LIMIT {args.limit}",
    )
    print(f"{'time':<24} {'user':<12} {'state':<9} {'error':<22} read")
    for created, user, state, error, read in rows:
        print(f"{str(created)[:23]:<24} {user:<12} {state:<9} {error:<22} {read}")
    return 0


def cmd_down(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.stream_service import StreamApp

    StreamApp(settings).stop()
    stopping: list[Service] = [Airflow(settings), SparkService(settings), GovernanceAgent(settings)]
    for service in stopping:
        service.stop()
        say(f"{service.name} stopped")
    for name in cluster_nodes.stop_all(settings):
        say(f"{name} stopped")
    for service in reversed(all_services(settings)):
        service.stop()
        say(f"{service.name} stopped")
    if args.purge:
        for service in [*all_services(settings), GovernanceAgent(settings), Airflow(settings)]:
            service.purge()
        cluster_nodes.purge(settings)
        for path in (settings.home / "landing", settings.home / "build"):
            shutil.rmtree(path, ignore_errors=True)
        (settings.home / "alerts.log").unlink(missing_ok=True)
        say(f"all data deleted (buckets, catalog, tables); downloaded artifacts kept in {settings.cache}")
    return 0


def cmd_status(settings: Settings, _: argparse.Namespace) -> int:
    all_ok = True
    extra = [SparkService(settings)] if settings["spark"]["service"] else []
    services = [*all_services(settings), GovernanceAgent(settings), *extra, Airflow(settings)]
    lines = [s.status() for s in services[:3]] + cluster_nodes.statuses(settings)
    lines += [s.status() for s in services[3:]]
    width = max(10, *(len(st.name) + 1 for st in lines))
    print(f"{'service':<{width}} {'health':<9} address")
    for st in lines:
        all_ok &= st.healthy
        health = "healthy" if st.healthy else "down"
        print(f"{st.name:<{width}} {health:<9} {st.address}  {st.detail}".rstrip())
    if cluster.is_cluster(settings):
        print(
            f"cluster topology: Spark master UI {cluster.spark_master_ui(settings)}, "
            f"Trino UI {cluster.trino_ui(settings)}"
        )
    used = cluster_nodes.memory(settings)
    print(
        f"memory: {used['rss'] / 2**30:.1f} GiB RSS ({used['pss'] / 2**30:.1f} GiB PSS) in "
        f"{used['processes']} processes of this stack"
    )
    print(f"runtime home: {settings.home}\nsecrets: {settings.secrets_file}")
    from lakehouse.orchestration import recent_alerts

    alerts = recent_alerts(settings)
    if alerts:
        print("recent task failures (alerts.log):")
        for a in alerts:
            print(
                f"  {a['time']} {a['dag_id']}/{a['task_id']} run {a['run_id']} try {a['try_number']}: "
                f"{a['error'][:160]}"
            )
    return 0 if all_ok else 1


def print_account(result: dict[str, Any]) -> None:
    print(f"{'source':<13} {'received':>9} {'accepted':>9} {'rejected':>9} {'duplicates':>10}  batch")
    for name, acc in result["sources"].items():
        print(
            f"{name:<13} {acc['received']:>9} {acc['accepted']:>9} {acc['rejected']:>9} "
            f"{acc['duplicates']:>10}  {acc.get('batch_id', '-')}"
        )
        for path in acc["skipped_files"]:
            print(f"  skipped (already ingested, same content): {path}")
        if acc.get("updated") or acc.get("superseded"):
            print(
                f"  updated {acc['updated']} curated rows; {acc['superseded']} earlier "
                "versions in this batch replaced by later ones"
            )


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.ingest import expand_paths
    from lakehouse.spark import submit

    job_args: list[str] = []
    given = [name for name in ("transactions", "payments") if getattr(args, name)]
    if not given:
        raise SystemExit("lakehouse ingest: give --transactions PATH and/or --payments PATH")
    for name in given:
        spec = getattr(args, name)
        try:
            expand_paths(spec)  # a missing input is a clear error before Spark starts
        except FileNotFoundError as exc:
            if not args.allow_empty:
                raise InputMissing(str(exc)) from exc
            print(f"{name}: no file in {spec}, nothing to ingest")
            continue
        job_args += [f"--{name}", spec]
    if not job_args:
        return 0
    if args.force:
        job_args.append("--force")
    job_args += ["--wait", str(args.wait)]
    result = submit(settings, "ingest", job_args)
    if args.json:
        print(json.dumps(result))
    else:
        print_account(result)
    return 0


def cmd_delinquency(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.spark import submit

    job_args = [] if args.no_export else ["--export-uri", settings.export_uri]
    job_args += ["--wait", str(args.wait)]
    if args.stale:
        job_args += ["--stale", args.stale]
    if args.export_only:
        job_args += ["--export-only"]
    if args.as_of:
        job_args += ["--as-of", args.as_of]
    if args.terms_days is not None:
        job_args += ["--terms-days", str(args.terms_days)]
    if args.rules:
        job_args += ["--rules", str(Path(args.rules).resolve())]
    r = submit(settings, "delinquency", job_args)
    if args.json:
        print(json.dumps(r))
        return 0
    if args.export_only:
        print(f"exported as_of {r['as_of']} to {r['export']}")
        return 0
    pct = "n/a" if r["pct_delinquent"] is None else f"{r['pct_delinquent']:.2f}%"
    print(
        f"{pct} of customers are delinquent (inadimplentes) as of {r['as_of']}: "
        f"{r['delinquent']} of {r['customers']}"
    )
    print(f"  over30mob3: {r['over30mob3']}   ever15mob6: {r['ever15mob6']}   violations: {r['violations']}")
    complete = r["pct_delinquent_window_complete"]
    print(
        f"  customers with a complete 6-month window: {r['customers_window_complete']}, "
        f"delinquent among them: {'n/a' if complete is None else f'{complete:.2f}%'}"
    )
    print(
        f"  read snapshots: transactions {r['transactions_snapshot_id']}, "
        f"payments {r['payments_snapshot_id']}"
    )
    print(
        f"  tables: {settings.catalog_name}.analytics.customer_delinquency, delinquency_violations, "
        "delinquency_summary, delinquency_by_cohort"
    )
    if r.get("stale_inputs"):
        print(
            f"  STALE INPUT: the latest load of {r['stale_inputs']} failed; used its last committed snapshot"
        )
    if r.get("unchanged"):
        print("  unchanged: same input snapshots and rules as the committed results; nothing rewritten")
    print(f"  export: {r['export'] or 'skipped (--no-export)'}")
    return 0


def cmd_run_dag(settings: Settings, args: argparse.Namespace) -> int:
    import json

    from lakehouse.airflow_api import AirflowClient

    client = AirflowClient(settings)
    conf = json.loads(args.conf) if args.conf else {}
    if args.rerun:
        run_id = client.rerun(args.dag_id, args.rerun)
        print(f"re-running {args.dag_id} run {run_id}", flush=True)
    else:
        run_id = client.trigger(args.dag_id, conf)
        print(f"triggered {args.dag_id} run {run_id}", flush=True)
    outcome = client.follow(args.dag_id, run_id, timeout=args.timeout)
    print(f"run {run_id}: {outcome.state}")
    failed = {t: s for t, s in outcome.tasks.items() if s not in ("success", "skipped")}
    for task_id, state in sorted(failed.items()):
        print(f"  {task_id}: {state}; log: {outcome.logs[task_id]}")
    return 0 if outcome.state == "success" else 1


def cmd_maintenance(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.spark import submit

    result = submit(
        settings,
        "maintenance",
        [
            "--retain-last",
            str(args.retain_last),
            "--max-age-days",
            str(args.max_age_days),
            "--orphan-age-days",
            str(args.orphan_age_days),
            "--wait",
            str(args.wait),
        ],
    )
    print(f"{'table':<34} {'rewritten':>9} {'added':>6} {'expired':>8} {'orphans':>8}")
    for table, r in result.items():
        print(
            f"{table:<34} {r['rewritten_data_files']:>9} {r['added_data_files']:>6} "
            f"{r['expired_snapshot_files']:>8} {r['orphan_files_removed']:>8}"
        )
    return 0


def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.quality import run_checks

    failed = 0
    for check in run_checks(settings, args.source):
        print(f"{'ok  ' if check.passed else 'FAIL'} {check.name}: {check.detail}")
        failed += not check.passed
    if failed:
        print(f"{failed} data-quality check(s) failed on curated.{args.source}", file=sys.stderr)
        return EXIT_INPUT_REFUSED
    return 0


def cmd_sql(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.sql import query, to_csv

    columns, rows = query(settings, args.query, user=args.user)
    sys.stdout.write(to_csv(columns, rows))
    return 0


def cmd_trino(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse import trino_cli

    extra = args.cli_args[1:] if args.cli_args[:1] == ["--"] else args.cli_args
    trino_cli.run(settings, args.user, args.execute, extra)  # replaces this process
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.report import write

    print(f"report: {write(settings, args.user, args.as_of, Path(args.out) if args.out else None)}")
    return 0


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    import datetime as dt

    from lakehouse.backfill import backfill, summary_table

    start, end = dt.date.fromisoformat(args.from_date), dt.date.fromisoformat(args.to_date)
    results = backfill(settings, args.dag, start, end, timeout=args.timeout)
    print()
    print(summary_table(results))
    return 0 if all(r.state == "success" for r in results) else 1


def cmd_generate(_: Settings, args: argparse.Namespace) -> int:
    from lakehouse.generate import Options, generate

    if args.customers is None and args.transactions is None:
        raise SystemExit("lakehouse generate: give --customers N or --transactions N")
    counts = generate(
        Options(
            customers=args.customers or 0,
            transactions=args.transactions,
            prefix=args.prefix,
            out=Path(args.out),
            fmt=args.format,
            schema=args.schema,
            dirty_ratio=args.dirty_ratio,
            seed=args.seed,
        )
    )
    for key, value in counts.items():
        print(f"{key}: {value}")
    return 0


def cmd_demo(settings: Settings, _: argparse.Namespace) -> int:
    from lakehouse.sql import query, to_csv

    cmd_up(settings, argparse.Namespace())
    sample = REPO_ROOT / "data" / "sample"
    parser = build_parser()
    cmd_ingest(
        settings,
        parser.parse_args(
            [
                "ingest",
                "--transactions",
                str(sample / "transactions.json"),
                "--payments",
                str(sample / "payments.json"),
            ]
        ),
    )
    cmd_delinquency(settings, parser.parse_args(["delinquency"]))
    c = settings.catalog_name
    demos = [
        (
            "Rows per table",
            f"""
            SELECT 'curated.transactions' AS table_name, count(*) AS row_count
            FROM {c}.curated.transactions
            UNION ALL SELECT 'curated.payments', count(*) FROM {c}.curated.payments
            UNION ALL SELECT 'raw.transactions', count(*) FROM {c}.raw.transactions
            UNION ALL SELECT 'raw.payments', count(*) FROM {c}.raw.payments""",
        ),
        (
            "Ingestion log",
            f"""
            SELECT batch_id, source, received, accepted, rejected, duplicates
            FROM {c}.curated.ingestion_log ORDER BY started_at, source""",
        ),
        (
            "Days from transaction to payment",
            f"""
            SELECT date_diff('day', t.transaction_date, p.payment_date) AS days_to_pay,
                   count(*) AS payments
            FROM {c}.curated.transactions t
            JOIN {c}.curated.payments p ON p.transaction_id = t.transaction_id
            GROUP BY 1 ORDER BY 1""",
        ),
        (
            "Delinquency summary",
            f"""
            SELECT as_of, customers, delinquent, pct_delinquent, over30mob3, ever15mob6
            FROM {c}.analytics.delinquency_summary ORDER BY as_of DESC""",
        ),
    ]
    for title, statement in demos:
        print(f"\n== {title} (through Trino, HTTPS)")
        sys.stdout.write(to_csv(*query(settings, statement)))
    print(f"\nTrino: {settings.trino_url}  MinIO console: {settings.minio_console_url}")
    print(f"Passwords: {settings.secrets_file}")
    from lakehouse.report import write

    print(f"Report (open it in a browser): {write(settings)}")
    return 0


def add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for another writer's table locks (default {DEFAULT_WAIT:.0f}); "
        f"then exit {EXIT_LOCK_TIMEOUT} (retry later)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start MinIO, PostgreSQL and Trino; provision")
    topology = up.add_mutually_exclusive_group()
    topology.add_argument(
        "--cluster",
        action="store_true",
        help="also a Spark standalone master and workers, and Trino workers (docs/cluster.md)",
    )
    topology.add_argument("--single", action="store_true", help="one Spark process, one Trino node")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the stack")
    down.add_argument(
        "--purge", action="store_true", help="also delete all data (keeps downloaded artifacts)"
    )
    down.set_defaults(func=cmd_down)
    sub.add_parser("status", help="each service, its address and health").set_defaults(func=cmd_status)
    ingest = sub.add_parser("ingest", help="run the Spark ingestion job")
    ingest.add_argument("--transactions", metavar="PATH", help="file, directory or glob")
    ingest.add_argument("--payments", metavar="PATH", help="file, directory or glob")
    ingest.add_argument(
        "--force", action="store_true", help="re-read files already ingested (tables stay idempotent)"
    )
    ingest.add_argument(
        "--allow-empty", action="store_true", help="no matching file is not an error (landing folders)"
    )
    add_wait(ingest)
    ingest.add_argument("--json", action="store_true", help="print the job's result as JSON (for scripts)")
    ingest.set_defaults(func=cmd_ingest)
    dq = sub.add_parser("delinquency", help="run the delinquency analysis (over30mob3, ever15mob6)")
    dq.add_argument("--as-of", metavar="YYYY-MM-DD", help="default: latest transaction or payment date")
    dq.add_argument("--terms-days", type=int, help="days to pay when a transaction has no due_date")
    dq.add_argument("--rules", metavar="FILE", help="rules file (default jobs/rules/delinquency.toml)")
    dq.add_argument("--stale", default="", help="comma list of sources whose latest load failed (recorded)")
    dq.add_argument("--no-export", action="store_true", help="write the Iceberg tables only")
    dq.add_argument("--export-only", action="store_true", help="re-export the committed results of --as-of")
    dq.add_argument("--json", action="store_true", help="print the job's result as JSON (for scripts)")
    add_wait(dq)
    dq.set_defaults(func=cmd_delinquency)
    rd = sub.add_parser("run-dag", help="trigger a DAG run through Airflow's API and follow it")
    rd.add_argument("dag_id")
    rd.add_argument("--conf", help='JSON, e.g. \'{"payments": "/data/p.jsonl", "as_of": "2025-06-20"}\'')
    rd.add_argument("--rerun", metavar="RUN_ID", help="clear and re-run an existing run (same interval)")
    rd.add_argument("--timeout", type=float, default=3600)
    rd.set_defaults(func=cmd_run_dag)
    mnt = sub.add_parser("maintenance", help="compact files, expire snapshots, remove orphan files")
    mnt.add_argument("--retain-last", type=int, default=20, help="snapshots always kept per table")
    mnt.add_argument("--max-age-days", type=int, default=7, help="expire snapshots older than this")
    mnt.add_argument(
        "--orphan-age-days", type=int, default=3, help="remove unreferenced files older than this"
    )
    add_wait(mnt)
    mnt.set_defaults(func=cmd_maintenance)
    chk = sub.add_parser("check", help="data-quality checks on a curated table (through Trino)")
    chk.add_argument("source", choices=["transactions", "payments"])
    chk.set_defaults(func=cmd_check)
    pol = sub.add_parser("policies", help="governance as code")
    pol_sub = pol.add_subparsers(dest="action", required=True)
    pol_sub.add_parser("build", help="render Trino rules.json and groups from access_policies/").set_defaults(
        func=cmd_policies
    )
    rotate = pol_sub.add_parser("rotate-key", help="new pseudonymisation key; rewrite every pseudonym column")
    add_wait(rotate)
    rotate.set_defaults(func=cmd_rotate_key)
    forget = sub.add_parser("forget", help="erase a customer everywhere (LGPD art. 18)")
    forget.add_argument("--customer", required=True, metavar="ID")
    forget.add_argument("--reason", default="", help="recorded in governance.erasure_log")
    forget.add_argument("--requested-by", help="recorded in the log (default: this OS user)")
    add_wait(forget)
    forget.set_defaults(func=cmd_forget)
    rp = sub.add_parser("replay", help="replay source files as a stream of small files into landing")
    rp.add_argument("--transactions", metavar="PATH", help="file, directory or glob")
    rp.add_argument("--payments", metavar="PATH", help="file, directory or glob")
    rp.add_argument("--rate", type=float, default=500, help="records per second (default 500)")
    rp.add_argument("--batch-size", type=int, default=200, help="records per file at most (default 200)")
    rp.add_argument("--disorder", type=float, default=0, metavar="SECONDS", help="out-of-order window")
    rp.add_argument("--duplicates", type=float, default=0, metavar="RATIO", help="share of records re-sent")
    rp.add_argument("--seed", type=int, default=42)
    rp.set_defaults(func=cmd_replay)
    st = sub.add_parser("stream", help="the streaming ingestion: start, stop, status")
    st.add_argument("action", choices=["start", "stop", "status"])
    st.add_argument("--trigger-seconds", type=float, help="micro-batch interval (settings: stream)")
    st.add_argument("--max-files", type=int, help="files per micro-batch at most")
    st.set_defaults(func=cmd_stream)
    sub.add_parser("docs", help="render docs/tables.md from the table contracts").set_defaults(func=cmd_docs)
    sub.add_parser("bench", help="this project against DuckDB on the same files (lakehouse bench --help)")
    audit = sub.add_parser("audit", help="who read what through Trino (admins only)")
    audit.add_argument("--user", help="only this user's queries")
    audit.add_argument("--since", metavar="YYYY-MM-DD[ HH:MM:SS]", help="only queries from then on")
    audit.add_argument("--limit", type=int, default=50)
    audit.set_defaults(func=cmd_audit)
    sql = sub.add_parser("sql", help="run a query through Trino, print CSV")
    sql.add_argument("query")
    sql.add_argument("--user", default="admin")
    sql.set_defaults(func=cmd_sql)
    tr = sub.add_parser("trino", help="the Trino CLI, connected (server, truststore, catalog, password)")
    tr.add_argument("--user", default="admin", help="Trino user; its password comes from the secrets file")
    tr.add_argument("--execute", metavar="SQL", help="run these statements and exit (default: interactive)")
    tr.add_argument("cli_args", nargs=argparse.REMAINDER, help="more Trino CLI options, after --")
    tr.set_defaults(func=cmd_trino)
    rep = sub.add_parser("report", help="write the delinquency report (self-contained HTML with charts)")
    rep.add_argument("--as-of", metavar="YYYY-MM-DD", help="default: the latest analysed as_of")
    rep.add_argument("--out", metavar="DIR", help="folder of the HTML file (default $LAKEHOUSE_HOME/reports)")
    rep.add_argument("--user", default="admin", help="Trino user whose view the report shows")
    rep.set_defaults(func=cmd_report)
    bf = sub.add_parser("backfill", help="one DAG run per day, as_of = that day (Airflow REST API)")
    bf.add_argument("--from", dest="from_date", required=True, metavar="YYYY-MM-DD")
    bf.add_argument("--to", dest="to_date", required=True, metavar="YYYY-MM-DD")
    bf.add_argument("--dag", default="lakehouse_daily")
    bf.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    bf.set_defaults(func=cmd_backfill)
    gen = sub.add_parser("generate", help="write synthetic transactions and payments")
    size = gen.add_mutually_exclusive_group()
    size.add_argument("--customers", type=int, help="customers (1 to 5 transactions each)")
    size.add_argument("--transactions", type=int, help="stop after this many transactions")
    gen.add_argument("--prefix", default="", help="prepended to every id (several data sets in one stack)")
    gen.add_argument("--out", required=True)
    gen.add_argument("--format", choices=["ndjson", "array"], default="ndjson")
    gen.add_argument("--schema", choices=["v1", "v2"], default="v2")
    gen.add_argument("--dirty-ratio", type=float, default=0.03)
    gen.add_argument("--seed", type=int, default=42)
    gen.set_defaults(func=cmd_generate)
    sub.add_parser("demo", help="up + ingest data/sample + delinquency + example queries").set_defaults(
        func=cmd_demo
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["bench", "stream"]:  # lakehouse bench stream --help
        from lakehouse import bench_stream

        return bench_stream.main(argv[2:])
    if argv[:1] == ["bench"]:  # its own options (lakehouse bench --help)
        from lakehouse import bench

        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    settings = Settings.load()

    def redact(message: str) -> str:
        # read at error time: a command may have generated secrets (the first `up`) before failing
        known = [*secret_store.read(settings.secrets_file).values()]
        known += [v for k, v in os.environ.items() if "SECRET" in k or "PASSWORD" in k or k.endswith("_KEY")]
        return secret_store.redact(message, known)

    try:
        return int(args.func(settings, args) or 0)
    except JobFailed as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return exc.code if exc.code in (EXIT_INPUT_REFUSED, EXIT_NOTHING_TO_DO, EXIT_LOCK_TIMEOUT) else 1
    except InputMissing as exc:  # retrying cannot make a missing input appear
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_INPUT_REFUSED
    except (ServiceError, RuntimeError, KeyError, ValueError, OSError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # Trino and driver errors: message only, secrets redacted
        if type(exc).__module__.startswith("trino"):
            message = getattr(exc, "message", None) or str(exc)
            print(f"error: {redact(message)}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
