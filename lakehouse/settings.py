"""One settings module: defaults in catalog_config/lakehouse.toml, overridden by LAKEHOUSE_* variables.

Every engine configuration (Spark, Trino, PyIceberg) and every service address is derived
from a `Settings` value, so the same jobs move to a cluster by changing configuration only.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = REPO_ROOT / "catalog_config" / "lakehouse.toml"
JAVA_SOURCES = REPO_ROOT / "jobs" / "java"


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, list):
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw


def load_config(env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The defaults file with every `LAKEHOUSE_<SECTION>_<KEY>` environment override applied."""
    env = dict(os.environ if env is None else env)
    with DEFAULTS_FILE.open("rb") as fh:
        config: dict[str, dict[str, Any]] = tomllib.load(fh)
    for section, values in config.items():
        for key, default in values.items():
            name = f"LAKEHOUSE_{section}_{key}".upper()
            if name in env:
                values[key] = _coerce(default, env[name])
    # LAKEHOUSE_TOPOLOGY=cluster is the short name of LAKEHOUSE_CLUSTER_TOPOLOGY
    if "LAKEHOUSE_TOPOLOGY" in env and "LAKEHOUSE_CLUSTER_TOPOLOGY" not in env:
        config["cluster"]["topology"] = env["LAKEHOUSE_TOPOLOGY"]
    return config


@dataclass(frozen=True)
class Settings:
    """Resolved configuration plus the two directories everything lives in."""

    config: dict[str, dict[str, Any]]
    home: Path  # runtime state: service data, logs, rendered configs, secrets
    cache: Path  # downloaded and built artifacts, shared by every checkout

    @classmethod
    def load(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("LAKEHOUSE_HOME") or REPO_ROOT / ".lakehouse").resolve()
        default_cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lakehouse"
        cache = Path(env.get("LAKEHOUSE_CACHE") or default_cache).resolve()
        return cls(config=load_config(env), home=home, cache=cache)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.config[section]

    # ---- names -------------------------------------------------------------------------
    @property
    def catalog_name(self) -> str:
        return str(self["catalog"]["name"])

    @property
    def namespaces(self) -> list[str]:
        return list(self["catalog"]["namespaces"])

    # ---- addresses ---------------------------------------------------------------------
    @property
    def minio_endpoint(self) -> str:
        return f"http://{self['minio']['host']}:{self['minio']['port']}"

    @property
    def minio_console_url(self) -> str:
        return f"http://{self['minio']['host']}:{self['minio']['console_port']}"

    @property
    def s3_endpoint(self) -> str:
        return str(self["s3"]["endpoint"] or self.minio_endpoint)

    @property
    def warehouse_uri(self) -> str:
        return f"s3://{self['s3']['warehouse_bucket']}/warehouse"

    @property
    def export_uri(self) -> str:
        return f"s3://{self['s3']['export_bucket']}"

    @property
    def buckets(self) -> list[str]:
        s3 = self["s3"]
        return [s3["warehouse_bucket"], s3["export_bucket"], s3["landing_bucket"]]

    @property
    def catalog_jdbc_url(self) -> str:
        pg = self["postgres"]
        return f"jdbc:postgresql://{pg['host']}:{pg['port']}/{pg['catalog_database']}"

    @property
    def trino_url(self) -> str:
        return f"https://{self['trino']['host']}:{self['trino']['https_port']}"

    @property
    def airflow_url(self) -> str:
        return f"http://{self['airflow']['host']}:{self['airflow']['port']}"

    # ---- runtime layout ----------------------------------------------------------------
    @property
    def secrets_file(self) -> Path:
        return self.home / "secrets.env"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    # ---- artifacts ---------------------------------------------------------------------
    @cached_property
    def versions(self) -> dict[str, str]:
        return {k: str(v) for k, v in self["versions"].items()}

    @property
    def jars_dir(self) -> Path:
        return self.cache / "jars"

    @property
    def spark_jars(self) -> list[Path]:
        v = self.versions
        return [
            self.jars_dir / f"{v['iceberg_spark_runtime']}-{v['iceberg']}.jar",
            self.jars_dir / f"iceberg-aws-bundle-{v['iceberg']}.jar",
            self.jars_dir / f"postgresql-{v['postgresql_jdbc']}.jar",
            self.jars_dir / f"hadoop-aws-{v['hadoop_aws']}.jar",
            self.jars_dir / f"s3-transfer-manager-{v['aws_sdk']}.jar",
            self.jars_dir / f"apache-client-{v['aws_sdk']}.jar",
            self.jobs_jar,
        ]

    @property
    def jobs_jar(self) -> Path:
        """The jobs' own JVM classes (jobs/java), built from their sources: named by a hash of them
        and of the Spark release they are compiled against, so a change to either builds anew."""
        from importlib.metadata import version

        digest = hashlib.sha256(version("pyspark").encode())
        for source in sorted(JAVA_SOURCES.rglob("*.java")):
            digest.update(source.relative_to(JAVA_SOURCES).as_posix().encode() + b"\0" + source.read_bytes())
        return self.jars_dir / f"lakehouse-jobs-{digest.hexdigest()[:12]}.jar"

    @property
    def trino_install(self) -> Path:
        return self.cache / f"trino-server-{self.versions['trino']}"

    @property
    def trino_cli_jar(self) -> Path:
        return self.jars_dir / f"trino-cli-{self.versions['trino']}-executable.jar"

    @property
    def minio_binary(self) -> Path:
        return self.cache / "minio" / self.versions["minio"] / "minio"

    @property
    def mc_binary(self) -> Path:
        return self.cache / "mc" / self.versions["minio_client"] / "mc"


def find_java_home(min_major: int, env_var: str, max_major: int = 99) -> Path:
    """A JDK between `min_major` and `max_major`: `$env_var` if set, else the newest installed.

    Raises:
        RuntimeError: no suitable JDK is installed.
    """
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit)
    candidates = []
    for java in Path("/usr/lib/jvm").glob("*/bin/java"):
        home = java.parent.parent
        release = home / "release"
        if not release.exists() or home.is_symlink():
            continue
        for line in release.read_text().splitlines():
            if line.startswith("JAVA_VERSION="):
                major = int(line.split("=", 1)[1].strip('"').split(".")[0])
                if min_major <= major <= max_major:
                    candidates.append((major, home))
    if not candidates:
        raise RuntimeError(
            f"No JDK {min_major}..{max_major} found under /usr/lib/jvm; install one or set {env_var}."
        )
    return max(candidates)[1]
