"""`lakehouse report`: the delinquency analysis as one self-contained HTML page.

Every figure comes from a Trino query run as the chosen user (admin by default), so the page
shows exactly what that user may see: with `--user analyst` customer ids are pseudonyms, and a
table the user may not read becomes a note instead of a section. Charts are Vega-Lite specs
rendered to SVG by vl-convert and inlined: the page needs no network, no script and no font
download to be read.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.settings import Settings

UNAVAILABLE_ERRORS = {"PERMISSION_DENIED", "TABLE_NOT_FOUND", "SCHEMA_NOT_FOUND", "COLUMN_NOT_FOUND"}
TOP_CUSTOMERS = 15
REJECTED_BATCHES = 12
WIDTH = 620


class Unavailable(Exception):
    """The user may not read this (or it does not exist yet)."""


@dataclass
class Data:
    """What the report shows; None where the user may not see it."""

    user: str
    as_of: dt.date
    trino_url: str
    summary: dict[str, Any] | None
    trend: list[dict[str, Any]] | None
    vintage: list[dict[str, Any]] | None
    rejected: list[dict[str, Any]] | None
    batches: list[dict[str, Any]] | None
    dpd: list[dict[str, Any]] | None
    top: list[dict[str, Any]] | None
    notes: dict[str, str] = field(default_factory=dict)
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


# ---------------------------------------------------------------------------------------
# Queries
# ---------------------------------------------------------------------------------------
class Reader:
    def __init__(self, settings: Settings, user: str):
        from lakehouse.sql import connect

        self.conn = connect(settings, user)

    def rows(self, statement: str) -> list[dict[str, Any]]:
        from trino.exceptions import TrinoUserError

        cur = self.conn.cursor()
        try:
            cur.execute(statement)
            fetched = cur.fetchall()
        except TrinoUserError as exc:
            if exc.error_name in UNAVAILABLE_ERRORS:
                raise Unavailable(exc.message) from exc
            raise
        columns = [d[0] for d in cur.description or []]
        return [dict(zip(columns, row, strict=True)) for row in fetched]

    def close(self) -> None:
        self.conn.close()  # type: ignore[no-untyped-call]


def _date(value: str | dt.date) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def load(settings: Settings, user: str = "admin", as_of: str | dt.date | None = None) -> Data:
    reader = Reader(settings, user)
    notes: dict[str, str] = {}

    def attempt(key: str, statement: str) -> list[dict[str, Any]] | None:
        try:
            return reader.rows(statement)
        except Unavailable as exc:
            notes[key] = f"not available to user {user}: {exc}"
            return None

    try:
        if as_of is None:
            latest = attempt("as_of", "SELECT max(as_of) AS as_of FROM analytics.delinquency_summary")
            if latest is None:
                latest = attempt("as_of", "SELECT max(as_of) AS as_of FROM analytics.customer_delinquency")
            if not latest or latest[0]["as_of"] is None:
                raise RuntimeError(
                    f"no delinquency analysis visible to user {user}: run `lakehouse delinquency` first"
                )
            as_of = latest[0]["as_of"]
        day = _date(as_of)
        d = f"DATE '{day.isoformat()}'"
        summary = attempt(
            "summary",
            "SELECT as_of, customers, delinquent, pct_delinquent, over30mob3, ever15mob6, "
            "customers_window_complete, pct_delinquent_window_complete, transactions_snapshot_id, "
            "payments_snapshot_id, stale_inputs, computed_at, run_id "
            f"FROM analytics.delinquency_summary WHERE as_of = {d}",
        )
        if summary == []:
            notes["summary"] = f"no analysis for as_of {day}: run `lakehouse delinquency --as-of {day}`"
        trend = attempt(
            "trend",
            "SELECT as_of, customers, delinquent, pct_delinquent FROM analytics.delinquency_summary "
            f"WHERE as_of <= {d} ORDER BY as_of",
        )
        # The vintage view: each analysed as_of observes a cohort (origination month) at one month
        # on book; the latest as_of within a month on book stands for it.
        vintage = attempt(
            "vintage",
            "SELECT cohort_month, months_on_book, max_by(pct_delinquent, as_of) AS pct_delinquent, "
            "max_by(customers, as_of) AS customers, max(as_of) AS as_of FROM ("
            "SELECT cohort_month, as_of, pct_delinquent, customers, "
            "date_diff('month', CAST(cohort_month || '-01' AS date), as_of) AS months_on_book "
            f"FROM analytics.delinquency_by_cohort WHERE as_of <= {d}) "
            "GROUP BY cohort_month, months_on_book ORDER BY cohort_month, months_on_book",
        )
        rejected = attempt(
            "rejected",
            "WITH per_batch AS (SELECT batch_id, source, min(rejected_at) AS first_at "
            "FROM curated.rejected_records GROUP BY 1, 2 ORDER BY 3 DESC LIMIT "
            f"{REJECTED_BATCHES}) "
            "SELECT r.batch_id, r.source, p.first_at, reason, count(*) AS records "
            "FROM curated.rejected_records r JOIN per_batch p ON p.batch_id = r.batch_id "
            "AND p.source = r.source CROSS JOIN UNNEST(r.reasons) AS u(reason) "
            "GROUP BY 1, 2, 3, 4 ORDER BY 3, 2, 4",
        )
        batches = attempt(
            "batches",
            "SELECT batch_id, source, finished_at, received, accepted, rejected, duplicates "
            "FROM curated.ingestion_log ORDER BY finished_at DESC, source LIMIT 10",
        )
        dpd = attempt(
            "dpd",
            "SELECT criterion, days_past_due, count(*) AS violations FROM analytics.delinquency_violations "
            f"WHERE as_of = {d} GROUP BY 1, 2 ORDER BY 1, 2",
        )
        top = attempt(
            "top",
            "SELECT customer_id, cohort_month, origination_date, max_days_past_due, over30mob3, ever15mob6 "
            f"FROM analytics.customer_delinquency WHERE as_of = {d} AND inadimplente "
            f"ORDER BY max_days_past_due DESC, customer_id LIMIT {TOP_CUSTOMERS}",
        )
    finally:
        reader.close()
    return Data(
        user=user,
        as_of=day,
        trino_url=settings.trino_url,
        summary=summary[0] if summary else None,
        trend=trend,
        vintage=vintage,
        rejected=rejected,
        batches=batches,
        dpd=dpd,
        top=top,
        notes=notes,
    )


# ---------------------------------------------------------------------------------------
# Charts (Vega-Lite specs; pure functions of the rows)
# ---------------------------------------------------------------------------------------
def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _base(title: str, values: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "width": WIDTH,
        "height": 260,
        "data": {"values": values},
        "config": {"font": "sans-serif", "view": {"stroke": None}, "legend": {"labelLimit": 320}},
    }


def vintage_spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    values = [
        {
            "cohort": r["cohort_month"],
            "mob": int(r["months_on_book"]),
            "pct": _num(r["pct_delinquent"]),
            "customers": int(r["customers"]),
        }
        for r in rows
    ]
    return _base("% delinquent by months on book, one line per cohort (origination month)", values) | {
        "mark": {"type": "line", "point": True, "strokeWidth": 1.5},
        "encoding": {
            "x": {
                "field": "mob",
                "type": "quantitative",
                "title": "months on book",
                "axis": {"format": "d", "tickMinStep": 1},
            },
            "y": {"field": "pct", "type": "quantitative", "title": "% delinquent"},
            "color": {
                "field": "cohort",
                "type": "ordinal",
                "title": "cohort",
                "scale": {"scheme": "viridis"},
                "legend": {"columns": 2, "symbolLimit": 40},
            },
        },
    }


def trend_spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    values: list[dict[str, Any]] = [
        {"as_of": str(r["as_of"]), "pct": _num(r["pct_delinquent"]), "customers": int(r["customers"])}
        for r in rows
    ]
    dates = [_date(v["as_of"]) for v in values]
    step = max(1, (max(dates) - min(dates)).days // 8) if dates else 1
    return _base("% of customers delinquent, per as_of", values) | {
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {
                "field": "as_of",
                "type": "temporal",
                "title": "as_of",
                "axis": {"format": "%Y-%m-%d", "tickCount": {"interval": "day", "step": step}},
            },
            "y": {"field": "pct", "type": "quantitative", "title": "% delinquent"},
        },
    }


def batch_label(row: dict[str, Any]) -> str:
    at = row["first_at"]
    stamp = at.strftime("%Y-%m-%d %H:%M:%S") if isinstance(at, dt.datetime) else str(at)[:19]
    return f"{stamp} {row['source']}"


def rejected_spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    values = [{"batch": batch_label(r), "reason": r["reason"], "records": int(r["records"])} for r in rows]
    order = list(dict.fromkeys(v["batch"] for v in values))
    return _base("Rejected records by reason, per batch (a record may fail several rules)", values) | {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "batch",
                "type": "nominal",
                "sort": order,
                "title": "batch (first rejection, source)",
                "axis": {"labelAngle": -30, "labelLimit": 220},
            },
            "y": {"field": "records", "type": "quantitative", "aggregate": "sum", "title": "records"},
            "color": {"field": "reason", "type": "nominal", "title": "reason"},
        },
    }


def dpd_spec(rows: list[dict[str, Any]]) -> dict[str, Any]:
    values = [
        {"criterion": r["criterion"], "dpd": int(r["days_past_due"]), "violations": int(r["violations"])}
        for r in rows
    ]
    return _base("Days past due of the violations", values) | {
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "dpd",
                "type": "quantitative",
                "bin": {"step": 10},
                "title": "days past due (bins of 10 days)",
                "axis": {"format": "d"},
            },
            "y": {"field": "violations", "type": "quantitative", "aggregate": "sum", "title": "violations"},
            "color": {"field": "criterion", "type": "nominal", "title": "criterion"},
        },
    }


def svg(spec: dict[str, Any], name: str) -> str:
    """The chart as inline SVG, its ids (if any) prefixed so several charts share one page."""
    import vl_convert

    text = vl_convert.vegalite_to_svg(spec)
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    for ident in sorted(ids, key=len, reverse=True):
        text = text.replace(f'id="{ident}"', f'id="{name}-{ident}"')
        text = text.replace(f"url(#{ident})", f"url(#{name}-{ident})")
        text = text.replace(f'href="#{ident}"', f'href="#{name}-{ident}"')
    return text


# ---------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------
CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 60rem; color: #1d2733; line-height: 1.4; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #d7dde4; padding-bottom: 0.2rem; }
.meta { color: #5b6776; font-size: 0.9rem; }
.headline { font-size: 1.25rem; background: #f3f6f9; border-left: 4px solid #3b6ea5; padding: 0.8rem 1rem; }
.headline .pct { font-size: 2.2rem; font-weight: 700; color: #b03a2e; }
table { border-collapse: collapse; font-size: 0.88rem; margin: 0.6rem 0; }
th, td { border: 1px solid #d7dde4; padding: 0.25rem 0.55rem; text-align: right; }
th { background: #f3f6f9; }
td.text, th.text { text-align: left; }
figure.chart { margin: 0.8rem 0; }
/* the browser's font may be wider than the one vl-convert measured the labels with */
figure.chart svg { overflow: visible; }
.unavailable { color: #8a5a00; background: #fff6e0; padding: 0.4rem 0.7rem; }
footer { margin-top: 2.5rem; color: #5b6776; font-size: 0.8rem; }
"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return html.escape(str(value))


def table(rows: Sequence[dict[str, Any]], columns: list[str], table_id: str, text: Sequence[str] = ()) -> str:
    head = "".join(f'<th class="{"text" if c in text else ""}">{_e(c)}</th>' for c in columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td data-column="{_e(c)}" class="{"text" if c in text else ""}">{_e(r.get(c))}</td>'
            for c in columns
        )
        + "</tr>"
        for r in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.2f}"


def _chart_section(
    key: str,
    title: str,
    intro: str,
    rows: list[dict[str, Any]] | None,
    spec: Callable[[list[dict[str, Any]]], dict[str, Any]],
    empty: str,
    notes: dict[str, str],
) -> str:
    out = [f'<section id="{key}"><h2>{_e(title)}</h2><p>{intro}</p>']
    if rows is None:
        out.append(f'<p class="unavailable">{_e(notes.get(key, "not available"))}</p>')
    elif not rows:
        out.append(f'<p class="unavailable">{_e(empty)}</p>')
    else:
        out.append(f'<figure class="chart" data-chart="{key}">{svg(spec(rows), key)}</figure>')
    out.append("</section>")
    return "".join(out)


def render(data: Data) -> str:
    s = data.summary
    as_of = data.as_of.isoformat()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Delinquency report, as of {as_of} ({_e(data.user)})</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Delinquency (inadimplência) report, as of {as_of}</h1>",
        f'<p class="meta">Seen as Trino user <b id="report-user">{_e(data.user)}</b> at '
        f"{_e(data.trino_url)}; "
        f"generated {data.generated_at:%Y-%m-%d %H:%M:%S} UTC. Rules: over30mob3 OR ever15mob6.</p>",
    ]
    if s:
        parts.append(
            '<p class="headline" id="headline">'
            f'<span class="pct" id="headline-pct" data-value="{_pct(s["pct_delinquent"])}">'
            f"{_pct(s['pct_delinquent'])}%</span> of customers are delinquent (inadimplentes) as of "
            f'<span id="headline-as-of">{as_of}</span>: <span id="headline-delinquent">{_e(s["delinquent"])}'
            f'</span> of <span id="headline-customers">{_e(s["customers"])}</span>.<br>'
            f"over30mob3: {_e(s['over30mob3'])} &nbsp; ever15mob6: {_e(s['ever15mob6'])} &nbsp; "
            f"with a complete 6-month window: {_e(s['customers_window_complete'])} customers, "
            f"{_pct(s['pct_delinquent_window_complete'])}% delinquent</p>"
        )
        stale = f"; STALE INPUT: {_e(s['stale_inputs'])}" if s.get("stale_inputs") else ""
        parts.append(
            '<p class="meta" id="snapshots">Snapshots read: curated.transactions '
            f'<code id="snapshot-transactions">{_e(s["transactions_snapshot_id"])}</code>, curated.payments '
            f'<code id="snapshot-payments">{_e(s["payments_snapshot_id"])}</code>; computed '
            f"{_e(s['computed_at'])} (run {_e(s['run_id'])}){stale}.</p>"
        )
    else:
        parts.append(
            f'<p class="unavailable">{_e(data.notes.get("summary", "no summary for this as_of"))}</p>'
        )

    parts.append(
        _chart_section(
            "vintage",
            "Vintage: % delinquent by months on book",
            "One line per cohort (the month of the customers' first obligation): the share of the cohort "
            "flagged delinquent when observed at each month on book, from "
            "<code>analytics.delinquency_by_cohort</code> over every analysed <code>as_of</code> up to this "
            "one. Each <code>as_of</code> adds a point per cohort; daily runs and backfills draw the lines.",
            data.vintage,
            vintage_spec,
            "no cohort figures yet",
            data.notes,
        )
    )
    parts.append(
        _chart_section(
            "trend",
            "% delinquent over time",
            "The headline figure of every analysed <code>as_of</code> (<code>analytics.delinquency_summary"
            "</code>).",
            data.trend,
            trend_spec,
            "no analysis yet",
            data.notes,
        )
    )
    if data.trend:
        parts.append(
            table(
                data.trend,
                ["as_of", "customers", "delinquent", "pct_delinquent"],
                "summary-table",
                text=["as_of"],
            )
        )
    parts.append(
        _chart_section(
            "rejected",
            "Data quality: rejected records by reason",
            f"The last {REJECTED_BATCHES} batches that rejected anything "
            "(<code>curated.rejected_records</code>). Ingestion accounting of the latest batches below.",
            data.rejected,
            rejected_spec,
            "no record was ever rejected",
            data.notes,
        )
    )
    if data.batches:
        parts.append(
            table(
                data.batches,
                ["batch_id", "source", "finished_at", "received", "accepted", "rejected", "duplicates"],
                "batches-table",
                text=["batch_id", "source", "finished_at"],
            )
        )
    parts.append(
        _chart_section(
            "dpd",
            "Days past due of the violations",
            f"Every obligation that violates a rule as of {as_of} "
            "(<code>analytics.delinquency_violations</code>), by days past due at its observation date, "
            "bins of 10 days.",
            data.dpd,
            dpd_spec,
            f"no violation as of {as_of}",
            data.notes,
        )
    )
    parts.append(
        f'<section id="top"><h2>Top overdue customers</h2><p>Delinquent customers as of {as_of} by the worst '
        f"days past due of their obligations up to then. Customer ids as user {_e(data.user)} sees them "
        "(pseudonyms where the access rules mask them).</p>"
    )
    if data.top is None:
        parts.append(f'<p class="unavailable">{_e(data.notes.get("top", "not available"))}</p>')
    elif not data.top:
        parts.append('<p class="unavailable">no delinquent customer</p>')
    else:
        parts.append(
            table(
                data.top,
                [
                    "customer_id",
                    "cohort_month",
                    "origination_date",
                    "max_days_past_due",
                    "over30mob3",
                    "ever15mob6",
                ],
                "top-table",
                text=["customer_id", "cohort_month", "origination_date"],
            )
        )
    parts.append("</section>")
    parts.append(
        "<footer>Generated by <code>lakehouse report</code> from Trino queries; charts by Vega-Lite "
        "(vl-convert). Self-contained: no network needed to view it.</footer></body></html>"
    )
    return "\n".join(parts)


def write(settings: Settings, user: str = "admin", as_of: str | None = None, out: Path | None = None) -> Path:
    data = load(settings, user, as_of)
    folder = Path(out) if out else settings.home / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"delinquency-{data.as_of.isoformat()}-{user}.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render(data), encoding="utf-8")
    tmp.replace(path)
    return path.resolve()
