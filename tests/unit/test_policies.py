"""Governance as code: rendered rules in sync, every column classified, rule semantics."""

from __future__ import annotations

import json

import pytest

from jobs import delinquency, ingest
from lakehouse import policies


def test_rendered_files_are_in_sync_with_their_sources() -> None:
    for name, content in policies.rendered_files().items():
        committed = (policies.RENDERED / name).read_text()
        assert committed == content, f"run `lakehouse policies build`: {name} is out of date"


def test_every_column_the_jobs_create_is_classified(spark) -> None:
    """Creates every table from the jobs' own DDL in a file catalog and compares columns."""
    spark.sql("CREATE NAMESPACE IF NOT EXISTS lakehouse.analytics")
    ingest.ensure_tables(spark, "lakehouse")
    for statement in delinquency.table_ddl("lakehouse").values():
        spark.sql(statement)
    classification = policies.load_classification()
    in_catalog = {}
    for ns in ("raw", "curated", "analytics"):
        for t in spark.sql(f"SHOW TABLES IN lakehouse.{ns}").collect():
            columns = spark.table(f"lakehouse.{ns}.{t.tableName}").columns
            in_catalog[f"{ns}.{t.tableName}"] = set(columns)
    assert {t: set(c) for t, c in classification.items()} == in_catalog


def test_unknown_level_is_refused(tmp_path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[tables."curated.x"]\na = "Secreto"\n')
    with pytest.raises(ValueError, match="Secreto"):
        policies.load_classification(path)


def rules_for(group: str, table: str) -> list[dict]:
    rules = json.loads(policies.rendered_files()["rules.json"])["tables"]
    schema, name = table.split(".")
    return [
        r for r in rules if r.get("group") == group and r.get("schema") == schema and r.get("table") == name
    ]


def test_analysts_get_pseudonyms_and_nulls_and_no_raw() -> None:
    (rule,) = rules_for("analysts", "curated.payments")
    masks = {c["name"]: c["mask"] for c in rule["columns"]}
    assert set(masks) == {"customer_id", "reference_number", "ip_address", "user_agent"}
    assert masks["ip_address"] == masks["user_agent"] == masks["reference_number"] == "NULL"
    assert "hmac_sha256" in masks["customer_id"] and policies.KEY_PLACEHOLDER in masks["customer_id"]
    assert rule["privileges"] == ["SELECT"]
    assert rules_for("analysts", "raw.transactions") == []


def test_collections_see_real_ids_of_delinquent_customers_only() -> None:
    (rule,) = rules_for("collections", "analytics.customer_delinquency")
    assert rule["filter"] == "inadimplente"
    assert "columns" not in rule  # customer_id in clear: they need it to collect
    (violations,) = rules_for("collections", "analytics.delinquency_violations")
    assert "filter" not in violations
    assert rules_for("collections", "curated.transactions") == []


def test_bi_sees_only_the_aggregates() -> None:
    rules = json.loads(policies.rendered_files()["rules.json"])["tables"]
    bi_tables = sorted(f"{r['schema']}.{r['table']}" for r in rules if r.get("group") == "bi")
    assert bi_tables == ["analytics.delinquency_by_cohort", "analytics.delinquency_summary"]


def test_group_file_lists_every_user() -> None:
    assert policies.rendered_files()["group.txt"] == (
        "platform:admin\npipelines:pipeline\nanalysts:analyst\ncollections:collections\nbi:bi\n"
    )
