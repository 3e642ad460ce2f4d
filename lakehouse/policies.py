"""Governance as code: access_policies/*.toml rendered into Trino's file-based access control.

`build()` turns the column classification and the group roles into rules.json and a group
file under access_policies/rendered/ (committed; a test checks they are in sync). The
pseudonymisation key is a generated secret, so the committed rules carry a placeholder that
`install()` fills in when it writes Trino's runtime copy (mode 0600). Trino re-reads both
files every few seconds: no restart is needed after `lakehouse policies build`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from lakehouse.secrets import write_private
from lakehouse.settings import REPO_ROOT, Settings

POLICIES = REPO_ROOT / "access_policies"
RENDERED = POLICIES / "rendered"
LEVELS = ("Geral", "Anônimo", "Restrito")
KEY_PLACEHOLDER = "@@PSEUDONYM_KEY@@"
ALL_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP", "GRANT_SELECT"]
WRITE_PRIVILEGES = ["SELECT", "INSERT", "DELETE", "UPDATE", "OWNERSHIP"]


def load_classification(path: Path = POLICIES / "classification.toml") -> dict[str, dict[str, str]]:
    """'namespace.table' -> {column: level}.

    Raises:
        ValueError: a level is not one of Geral, Anônimo, Restrito.
    """
    with path.open("rb") as fh:
        tables: dict[str, dict[str, str]] = tomllib.load(fh)["tables"]
    for table, columns in tables.items():
        for column, level in columns.items():
            if level not in LEVELS:
                raise ValueError(f"{path}: {table}.{column} has level {level!r}, not one of {LEVELS}")
    return tables


def load_roles(path: Path = POLICIES / "roles.toml") -> dict[str, dict[str, Any]]:
    with path.open("rb") as fh:
        return tomllib.load(fh)["groups"]


def users(roles: dict[str, dict[str, Any]]) -> list[str]:
    return sorted({m for group in roles.values() for m in group["members"]})


def password_key(user: str) -> str:
    return f"TRINO_{user.upper()}_PASSWORD"


def pseudonym(column: str) -> str:
    """A keyed hash: the same value gives the same pseudonym in every table, so joins still work."""
    digest = f"hmac_sha256(to_utf8(CAST({column} AS varchar)), from_hex('{KEY_PLACEHOLDER}'))"
    return f"concat('anon_', lower(substr(to_hex({digest}), 1, 20)))"


def _read_rule(group: str, table: str, columns: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    schema, name = table.split(".")
    masks = []
    for column, level in columns.items():
        if level == "Anônimo" and spec.get("anonimo", "pseudonym") == "pseudonym":
            masks.append({"name": column, "mask": pseudonym(column)})
        elif level == "Restrito" and spec.get("restrito", "null") == "null":
            masks.append({"name": column, "mask": "NULL"})
    rule: dict[str, Any] = {
        "group": group,
        "catalog": "lakehouse",
        "schema": schema,
        "table": name,
        "privileges": ["SELECT"],
    }
    if masks:
        rule["columns"] = masks
    row_filter = spec.get("row_filters", {}).get(table)
    if row_filter:
        rule["filter"] = row_filter
    return rule


def build_rules(classification: dict[str, dict[str, str]], roles: dict[str, dict[str, Any]]) -> dict:
    """Trino file-based access control rules. The first matching rule wins."""
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
            catalogs.append({"group": group, "catalog": "lakehouse", "allow": "all"})
            schemas.append({"group": group, "catalog": "lakehouse", "schema": pattern, "owner": True})
            tables.append(
                {"group": group, "catalog": "lakehouse", "schema": pattern, "privileges": WRITE_PRIVILEGES}
            )
        elif spec["access"] == "read":
            catalogs.append({"group": group, "catalog": "lakehouse", "allow": "read-only"})
            wanted = set(spec.get("tables", []))
            for table, columns in classification.items():
                if table in wanted or table.split(".")[0] in spec.get("schemas", []):
                    tables.append(_read_rule(group, table, columns, spec))
        else:
            raise ValueError(f"group {group}: unknown access {spec['access']!r}")
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


def rendered_files() -> dict[str, str]:
    """File name -> content of what `build()` writes."""
    classification, roles = load_classification(), load_roles()
    return {
        "rules.json": json.dumps(build_rules(classification, roles), indent=2, ensure_ascii=False) + "\n",
        "group.txt": build_groups(roles),
    }


def build(target: Path = RENDERED) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered_files().items():
        path = target / name
        path.write_text(content)
        written.append(path)
    return written


def install(settings: Settings, secrets: dict[str, str]) -> tuple[Path, Path]:
    """Trino's runtime copies: rules with the pseudonymisation key, and the group file."""
    etc = settings.conf_dir / "trino"
    files = rendered_files()
    rules = etc / "rules.json"
    groups = etc / "group.txt"
    write_private(rules, files["rules.json"].replace(KEY_PLACEHOLDER, secrets["PSEUDONYM_KEY"]))
    write_private(groups, files["group.txt"])
    return rules, groups
