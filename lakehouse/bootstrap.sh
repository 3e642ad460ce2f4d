#!/usr/bin/env bash
# Installs what the project needs from the operating system and PyPI; safe to re-run.
# Called by `make demo`, `make test` and .ci/run. Everything else (JVM artifacts, the MinIO
# build, Python packages) is fetched by the project itself into caches shared by checkouts.
set -euo pipefail

UV_VERSION=0.9.30
missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v mvn >/dev/null || missing+=(maven)
command -v runuser >/dev/null || missing+=(util-linux)
# a JDK, not only a runtime: the jobs' Java class is compiled with its javac
[ -x /usr/lib/jvm/java-17-openjdk-amd64/bin/javac ] || [ -n "${JAVA_HOME:-}" ] || missing+=(openjdk-17-jdk-headless)
# Headless Chromium: the report's browser test drives it with Playwright (no browser download).
command -v chromium >/dev/null || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]} (apt)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian's package starts a cluster of its own on 5432; we just installed it and the stack
  # runs its own server, so stop it rather than let it take the port.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster 15 main stop 2>/dev/null || true
  fi
fi

if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q " online "; then
  echo "bootstrap: note: a system PostgreSQL cluster is running (pg_lsclusters);" \
       "set LAKEHOUSE_POSTGRES_PORT if it uses port 5432" >&2
fi

command -v go >/dev/null || { echo "bootstrap: Go 1.24+ is needed once to build MinIO" >&2; exit 1; }
ls -d /usr/lib/jvm/*25* >/dev/null 2>&1 || [ -n "${TRINO_JAVA_HOME:-}" ] || {
  echo "bootstrap: Trino 476 needs JDK 24+: install one under /usr/lib/jvm or set TRINO_JAVA_HOME" >&2
  exit 1
}

if ! command -v uv >/dev/null || [ "$(uv --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  echo "bootstrap: installing uv $UV_VERSION (PyPI)" >&2
  python3 -m pip install -q "uv==$UV_VERSION"
fi
