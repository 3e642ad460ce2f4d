"""`lakehouse trino`: the real Trino CLI (the cached executable jar), connected to the stack.

Server, truststore, catalog and user come from the settings; the user's password goes to the
CLI through its TRINO_PASSWORD environment variable (read by `--password`), never on the command
line, so `ps` does not show it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lakehouse import policies
from lakehouse import secrets as secret_store
from lakehouse.settings import Settings, find_java_home


class UnknownUser(ValueError):
    """No such Trino user in access_policies/roles.toml, or no password for it in the secrets file."""


def known_users() -> list[str]:
    return policies.users(policies.load_roles())


def password(settings: Settings, user: str) -> str:
    users = known_users()
    if user not in users:
        raise UnknownUser(
            f"no Trino user {user!r}; the users are: {', '.join(users)} (access_policies/roles.toml)"
        )
    if not settings.secrets_file.exists():
        raise UnknownUser(f"no secrets file at {settings.secrets_file}: run `lakehouse up` first")
    secrets = secret_store.read(settings.secrets_file)
    key = policies.password_key(user)
    if key not in secrets:
        raise UnknownUser(f"no password for Trino user {user!r} in {settings.secrets_file} ({key})")
    return secrets[key]


def java() -> Path:
    # JDK 17..21: newer ones warn about the CLI's terminal library loading native code
    return find_java_home(17, "JAVA_HOME", max_major=21) / "bin" / "java"


def command(
    settings: Settings, user: str, execute: str | None = None, extra: list[str] | None = None
) -> list[str]:
    """The CLI's command line: everything but the password."""
    argv = [str(java())]
    if execute is not None or not sys.stdin.isatty():  # no terminal to drive: say so, no warning
        argv.append("-Dorg.jline.terminal.dumb=true")
    argv += [
        "-jar",
        str(settings.trino_cli_jar),
        f"--server={settings.trino_url}",
        f"--user={user}",
        "--password",
        f"--truststore-path={settings.tls_dir / 'trino.crt'}",
        f"--catalog={settings.catalog_name}",
    ]
    if execute is not None:
        argv.append(f"--execute={execute}")
    return argv + list(extra or [])


def environment(settings: Settings, user: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TRINO_PASSWORD"}
    env["TRINO_PASSWORD"] = password(settings, user)
    return env


def run(settings: Settings, user: str, execute: str | None = None, extra: list[str] | None = None) -> None:
    """Replace this process with the Trino CLI (an interactive shell, or one --execute)."""
    env = environment(settings, user)
    if not settings.trino_cli_jar.exists():
        raise RuntimeError(
            f"the Trino CLI is not in the cache ({settings.trino_cli_jar}): run `lakehouse up`"
        )
    argv = command(settings, user, execute, extra)
    os.execve(argv[0], argv, env)
