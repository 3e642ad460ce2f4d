"""The table contracts (jobs/tables.py) and what is derived from them stay in step."""

from __future__ import annotations

from jobs.tables import TABLES
from lakehouse import contracts_doc


def test_docs_tables_md_is_rendered_from_the_contracts() -> None:
    current = contracts_doc.DOC.read_text()
    assert contracts_doc.render(current) == current, "run `lakehouse docs`: docs/tables.md is out of date"


def test_every_key_and_partition_source_is_a_column_of_its_table() -> None:
    for name, table in TABLES.items():
        columns = set(table.column_names)
        assert set(table.key) <= columns, name
        for transform in table.partitioning:
            source = transform.split("(")[-1].rstrip(")")
            assert source in columns, f"{name}: {transform}"
        for column in table.pseudonymised:
            assert f"{column}_pseudonym" in columns, name
