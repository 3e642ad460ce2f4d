"""Governance as code: access_policies/*.toml rendered into Trino's file-based access control.

`build()` turns the column classification and the group roles into rules.json and a group
file under access_policies/rendered/ (committed; a test checks they are in sync). Everything
fails closed:

- a class or a treatment the code does not know, a column of a table contract that is not
  classified, or a classified column that no contract has, refuses to build, naming the table
  and column;
- the rules Trino runs with (`install`) are rendered against the live catalog as well: a
  column that reached the catalog unclassified (added by a later job) reads as NULL for every
  group but the admins, and a table that is not classified at all is denied to them.

No secret is in any rule: analysts see the `<column>_pseudonym` column the pipeline computed
with its own key (jobs/pseudonyms.py), never an expression with a key in it.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from jobs.pseudonyms import pseudonym_column
from jobs.tables import TABLES
from lakehouse.secrets import write_private
from lakehouse.settings import REPO_ROOT, Settings

# LAKEHOUSE_POLICIES_DIR: another copy of access_policies/ (to try a change before committing it)
POLICIES = Path(os.environ.get("LAKEHOUSE_POLICIES_DIR") or REPO_ROOT / "access_policies")
RENDERED = POLICIES / "rendered"
# Geral: anyone; Anônimo: identifies a person, seen only through its treatment; Pseudônimo: the
# keyed pseudonym of an Anônimo column; Restrito: explicit grant only.
LEVELS = ("Geral", "Anônimo", "Pseudônimo", "Restrito")
TREATMENTS = {"anonimo": ("pseudonym", "clear", "null"), "restrito": ("null", "clear")}
ACCESS = ("all", "write", "read")
ALL_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]
WRITE_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP"]


class PolicyError(ValueError):
    """The policies cannot be built as written: the message names what to fix."""


def load_classification(path: Path = POLICIES / "classification.toml") -> dict[str, dict[str, str]]:
    """'namespace.table' -> {column: level}.

    Raises:
        PolicyError: a level is not one of LEVELS (names the table and column).
    """
    with path.open("rb") as fh:
        tables: dict[str, dict[str, str]] = tomllib.load(fh)["tables"]
    problems = [
        f"{table}.{column}: unknown class {level!r} (one of {', '.join(LEVELS)})"
        for table, columns in tables.items()
        for column, level in columns.items()
        if level not in LEVELS
    ]
    if problems:
        raise PolicyError(f"{path}:\n  " + "\n  ".join(problems))
    return tables


def load_roles(path: Path = POLICIES / "roles.toml") -> dict[str, dict[str, Any]]:
    """Group -> its access.

    Raises:
        PolicyError: an unknown access kind or treatment (names the group).
    """
    with path.open("rb") as fh:
        groups: dict[str, dict[str, Any]] = tomllib.load(fh)["groups"]
    problems = []
    for group, spec in groups.items():
        if spec.get("access") not in ACCESS:
            problems.append(
                f"group {group}: unknown access {spec.get('access')!r} (one of {', '.join(ACCESS)})"
            )
        for key, allowed in TREATMENTS.items():
            if spec.get("access") == "read" and spec.get(key, allowed[0]) not in allowed:
                problems.append(
                    f"group {group}: unknown treatment {key} = {spec[key]!r} (one of {', '.join(allowed)})"
                )
    if problems:
        raise PolicyError(f"{path}:\n  " + "\n  ".join(problems))
    return groups


def users(roles: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({m for group in roles.values() for m in group["members"]})


def password_key(user: str) -> str:
    return f"TRINO_{user.upper()}_PASSWORD"


def check_classification(classification: dict[str, dict[str, str]]) -> None:
    """Every column of every table contract has a class, and only those; every Anônimo column
    has its pseudonym column, classified Pseudônimo.

    Raises:
        PolicyError: listing each table.column to fix.
    """
    problems = []
    for name, contract in sorted(TABLES.items()):
        classified = classification.get(name, {})
        for column in contract.column_names:
            if column not in classified:
                problems.append(f"{name}.{column}: not classified (add it to classification.toml)")
        for column in classified:
            if column not in contract.column_names:
                problems.append(f"{name}.{column}: classified, but the table has no such column")
        for column, level in classified.items():
            if level == "Anônimo" and column not in contract.pseudonymised:
                problems.append(f"{name}.{column}: Anônimo, but the pipeline writes no pseudonym for it")
            companion = pseudonym_column(column)
            if level == "Anônimo" and classified.get(companion, "Pseudônimo") != "Pseudônimo":
                problems.append(f"{name}.{companion}: must be classified Pseudônimo")
    for name in sorted(set(classification) - set(TABLES)):
        problems.append(f"{name}: classified, but no job writes such a table")
    if problems:
        raise PolicyError("classification does not match the tables:\n  " + "\n  ".join(problems))


def column_mask(level: str, column: str, spec: dict[str, Any]) -> str | None:
    """The mask a read-only group gets on a column of `level`; None means in clear."""
    anonimo, restrito = spec.get("anonimo", "pseudonym"), spec.get("restrito", "null")
    if level == "Geral":
        return None
    if level == "Anônimo":
        return {"clear": None, "pseudonym": pseudonym_column(column), "null": "NULL"}[anonimo]
    if level == "Pseudônimo":
        return "NULL" if anonimo == "null" else None
    if level == "Restrito":
        return {"clear": None, "null": "NULL"}[restrito]
    raise PolicyError(f"{column}: unknown class {level!r}")  # load_classification refuses it first


def _read_rule(
    group: str,
    table: str,
    columns: dict[str, str],
    spec: dict[str, Any],
    catalog: str,
    live: list[str] | None,
) -> dict[str, Any]:
    schema, name = table.split(".")
    masks = []
    for column, level in columns.items():
        mask = column_mask(level, column, spec)
        if mask is not None:
            masks.append({"name": column, "mask": mask})
    for column in live or []:
        if column not in columns:  # reached the catalog unclassified: nobody but admins sees it
            masks.append({"name": column, "mask": "NULL"})
    rule: dict[str, Any] = {"group": group, "catalog": catalog, "schema": schema, "table": name}
    rule["privileges"] = ["SELECT"]
    if masks:
        rule["columns"] = masks
    row_filter = spec.get("row_filters", {}).get(table)
    if row_filter:
        rule["filter"] = row_filter
    return rule


def build_rules(
    classification: dict[str, dict[str, str]],
    roles: dict[str, dict[str, Any]],
    catalog: str = "lakehouse",
    live: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Trino file-based access control rules. The first matching rule wins; a table no rule
    matches is denied. `live`: the catalog's tables -> columns, when known."""
    catalogs: list[dict[str, Any]] = []
    schemas: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    for group, spec in roles.items():
        if spec["access"] == "all":
            catalogs.append({"group": group, "catalog": ".*", "allow": "all"})
            schemas.append({"group": group, "owner": True})
            tables.append({"group": group, "privileges": ALL_PRIVILEGES})
        elif spec["access"] == "write":
            pattern = "|".join(spec["schemas"])
            catalogs.append({"group": group, "catalog": catalog, "allow": "all"})
            schemas.append({"group": group, "catalog": catalog, "schema": pattern, "owner": True})
            tables.append(
                {"group": group, "catalog": catalog, "schema": pattern, "privileges": WRITE_PRIVILEGES}
            )
        else:  # "read" (load_roles refuses anything else)
            catalogs.append({"group": group, "catalog": catalog, "allow": "read-only"})
            wanted = set(spec.get("tables", []))
            for table, columns in classification.items():
                if table in wanted or table.split(".")[0] in spec.get("schemas", []):
                    known = None if live is None else live.get(table)
                    tables.append(_read_rule(group, table, columns, spec, catalog, known))
    # Everyone may read the JDBC/metadata views BI tools use; nothing else in `system`.
    catalogs.append({"catalog": "system", "allow": "read-only"})
    tables.append({"catalog": "system", "schema": "jdbc|metadata", "privileges": ["SELECT"]})
    admins = "|".join(g for g, s in roles.items() if s["access"] == "all")
    return {
        "catalogs": catalogs,
        "schemas": schemas,
        "tables": tables,
        # users see and kill only their own queries; admins see all. No impersonation rules:
        # a login can never act as another user (no header-asserted users).
        "queries": [{"group": admins, "allow": ["execute", "kill", "view"]}, {"allow": ["execute"]}],
    }


def build_groups(roles: dict[str, dict[str, Any]]) -> str:
    return "".join(f"{group}:{','.join(spec['members'])}\n" for group, spec in roles.items())


def rendered_files(live: dict[str, list[str]] | None = None, catalog: str = "lakehouse") -> dict[str, str]:
    """File name -> content of what `build()` writes (checked first: fails closed)."""
    classification, roles = load_classification(), load_roles()
    check_classification(classification)
    rules = build_rules(classification, roles, catalog, live)
    return {
        "rules.json": json.dumps(rules, indent=2, ensure_ascii=False) + "\n",
        "group.txt": build_groups(roles),
    }


def build(target: Path = RENDERED) -> list[Path]:
    files = rendered_files()
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in files.items():
        path = target / name
        path.write_text(content)
        written.append(path)
    return written


def install(settings: Settings, live: dict[str, list[str]] | None = None) -> tuple[Path, Path]:
    """Trino's runtime copies, rendered for the live catalog when it is known."""
    etc = settings.conf_dir / "trino"
    files = rendered_files(live, settings.catalog_name)
    rules = etc / "rules.json"
    groups = etc / "group.txt"
    for path, content in ((rules, files["rules.json"]), (groups, files["group.txt"])):
        if not path.exists() or path.read_text() != content:
            write_private(path, content)
    return rules, groups
