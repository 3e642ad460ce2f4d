"""Governance as code: rendered rules in sync, every column classified, rule semantics."""

from __future__ import annotations

import json

import pytest

from jobs.tables import TABLES, ensure, namespaces
from lakehouse import policies


def test_rendered_files_are_in_sync_with_their_sources() -> None:
    for name, content in policies.rendered_files().items():
        committed = (policies.RENDERED / name).read_text()
        assert committed == content, f"run `lakehouse policies build`: {name} is out of date"


def test_every_column_the_jobs_create_is_classified(spark) -> None:
    """Creates every table from the contracts in a file catalog, as the jobs do, and compares
    the columns Spark reports with the classification (a second opinion on the contracts)."""
    ensure(spark, "lakehouse", list(TABLES))
    in_catalog = {}
    for ns in namespaces():
        for t in spark.sql(f"SHOW TABLES IN lakehouse.{ns}").collect():
            columns = spark.table(f"lakehouse.{ns}.{t.tableName}").columns
            in_catalog[f"{ns}.{t.tableName}"] = set(columns)
    classification = policies.load_classification()
    assert {t: set(c) for t, c in classification.items()} == in_catalog


def write_classification(tmp_path, monkeypatch, edit) -> None:
    text = (policies.POLICIES / "classification.toml").read_text()
    path = tmp_path / "classification.toml"
    path.write_text(edit(text))
    original = policies.load_classification
    monkeypatch.setattr(policies, "load_classification", lambda p=path: original(p))


def test_an_unknown_class_refuses_to_build_naming_the_column(tmp_path, monkeypatch) -> None:
    write_classification(
        tmp_path, monkeypatch, lambda t: t.replace('ip_address = "Restrito"', 'ip_address = "Restrita"', 1)
    )
    with pytest.raises(
        policies.PolicyError, match=r"curated\.payments\.ip_address: unknown class 'Restrita'"
    ):
        policies.rendered_files()


def test_an_unclassified_column_refuses_to_build_naming_it(tmp_path, monkeypatch) -> None:
    write_classification(tmp_path, monkeypatch, lambda t: t.replace('user_agent = "Restrito"\n', "", 1))
    with pytest.raises(policies.PolicyError, match=r"curated\.payments\.user_agent: not classified"):
        policies.rendered_files()


def test_an_unknown_treatment_refuses_to_build_naming_the_group(tmp_path, monkeypatch) -> None:
    path = tmp_path / "roles.toml"
    path.write_text(
        (policies.POLICIES / "roles.toml").read_text().replace('restrito = "null"', 'restrito = "hide"', 1)
    )
    original = policies.load_roles
    monkeypatch.setattr(policies, "load_roles", lambda p=path: original(p))
    with pytest.raises(policies.PolicyError, match=r"group analysts: unknown treatment restrito = 'hide'"):
        policies.rendered_files()


def test_a_live_column_nobody_classified_is_null_for_every_reader() -> None:
    live = {t: list(c) for t, c in policies.load_classification().items()}
    live["curated.transactions"].append("secret_note")
    rules = json.loads(policies.rendered_files(live)["rules.json"])["tables"]
    for group in ("analysts", "collections", "bi"):
        for rule in rules:
            if rule.get("group") == group and (rule.get("schema"), rule.get("table")) == (
                "curated",
                "transactions",
            ):
                assert {"name": "secret_note", "mask": "NULL"} in rule["columns"]
    # an unclassified table gets no rule at all: Trino denies what no rule allows
    live["curated.mystery"] = ["a"]
    rules = json.loads(policies.rendered_files(live)["rules.json"])["tables"]
    assert not [r for r in rules if r.get("table") == "mystery"]


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
    # the pseudonym the pipeline wrote, not an expression: no key in any rule
    assert masks["customer_id"] == "customer_id_pseudonym"
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
