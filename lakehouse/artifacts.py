"""Downloaded and built artifacts, fetched by Maven coordinates or `go install` into a shared cache.

Every artifact is installed into a temporary path and renamed into place, so an interrupted
download never leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lakehouse.settings import Settings, find_java_home


def _say(message: str) -> None:
    print(f"[artifacts] {message}", file=sys.stderr, flush=True)


@contextmanager
def cache_lock(settings: Settings) -> Iterator[None]:
    """Serialise installs across processes and checkouts sharing the cache."""
    settings.cache.mkdir(parents=True, exist_ok=True)
    with (settings.cache / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{tail}")


def maven_artifact(settings: Settings, coordinate: str, target: Path) -> Path:
    """Fetch one artifact `group:artifact:version[:type[:classifier]]` to `target`."""
    if target.exists():
        return target
    if not shutil.which("mvn"):
        raise RuntimeError("Maven (mvn) is not installed: apt-get install maven")
    _say(f"fetching {coordinate} (Maven)")
    with tempfile.TemporaryDirectory(dir=settings.cache) as tmp:
        env = dict(os.environ)
        env["JAVA_HOME"] = str(find_java_home(17, "JAVA_HOME"))
        _run(
            [
                "mvn",
                "-q",
                "-B",
                f"-Dmaven.repo.local={settings.cache / 'm2'}",
                "dependency:copy",
                f"-Dartifact={coordinate}",
                f"-DoutputDirectory={tmp}",
                "-Dtransitive=false",
            ],
            f"Maven download of {coordinate}",
            env,
        )
        (fetched,) = Path(tmp).iterdir()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(fetched, target)
    return target


def spark_jars(settings: Settings) -> list[Path]:
    v = settings.versions
    coordinates = [
        f"org.apache.iceberg:{v['iceberg_spark_runtime']}:{v['iceberg']}",
        f"org.apache.iceberg:iceberg-aws-bundle:{v['iceberg']}",
        f"org.postgresql:postgresql:{v['postgresql_jdbc']}",
        f"org.apache.hadoop:hadoop-aws:{v['hadoop_aws']}",
        f"software.amazon.awssdk:s3-transfer-manager:{v['aws_sdk']}",
        f"software.amazon.awssdk:apache-client:{v['aws_sdk']}",
    ]
    fetched = [
        maven_artifact(settings, c, t) for c, t in zip(coordinates, settings.spark_jars[:-1], strict=True)
    ]
    return [*fetched, jobs_jar(settings)]


def jobs_jar(settings: Settings) -> Path:
    """The jobs' JVM classes (jobs/java) compiled against the installed Spark's jars, for Spark's
    Java 17, into settings.jobs_jar."""
    target = settings.jobs_jar
    if target.exists():
        return target
    from lakehouse.cluster_nodes import spark_home
    from lakehouse.settings import JAVA_SOURCES

    _say(f"compiling {JAVA_SOURCES.relative_to(JAVA_SOURCES.parents[1])} into {target.name}")
    sources = sorted(JAVA_SOURCES.rglob("*.java"))
    javac = find_java_home(17, "JAVA_HOME", max_major=21) / "bin" / "javac"
    if not javac.exists():
        raise RuntimeError(
            f"{javac} not found: the jobs' Java classes need a JDK (apt-get install openjdk-17-jdk-headless)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        classes = Path(tmp) / "classes"
        _run(
            [str(javac), "--release", "17", "-nowarn", "-Xlint:none", "-d", str(classes)]
            + ["-cp", str(spark_home() / "jars" / "*"), *map(str, sources)],
            "compiling the jobs' Java classes",
        )
        jar = Path(tmp) / target.name
        with zipfile.ZipFile(jar, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for path in sorted(classes.rglob("*.class")):
                out.write(path, path.relative_to(classes).as_posix())
        os.replace(jar, target)
    return target


def trino(settings: Settings) -> Path:
    """Trino server core plus the Iceberg plugin, unpacked once into the cache."""
    install = settings.trino_install
    if (install / "plugin" / "iceberg").is_dir():
        return install
    version = settings.versions["trino"]
    downloads = settings.cache / "downloads"
    core = maven_artifact(
        settings,
        f"io.trino:trino-server-core:{version}:tar.gz",
        downloads / f"trino-server-core-{version}.tar.gz",
    )
    plugin = maven_artifact(
        settings, f"io.trino:trino-iceberg:{version}:zip", downloads / f"trino-iceberg-{version}.zip"
    )
    _say(f"unpacking Trino {version}")
    with tempfile.TemporaryDirectory(dir=settings.cache) as tmp:
        with tarfile.open(core) as tar:
            tar.extractall(tmp, filter="tar")
        root = Path(tmp) / f"trino-server-core-{version}"
        with zipfile.ZipFile(plugin) as zf:
            zf.extractall(tmp)
        os.replace(Path(tmp) / f"trino-iceberg-{version}", root / "plugin" / "iceberg")
        for launcher in (root / "bin").rglob("launcher"):
            launcher.chmod(0o755)
        if install.exists():
            shutil.rmtree(install)
        os.replace(root, install)
    core.unlink()  # unpacked now; Maven's local repository keeps a copy
    plugin.unlink()
    return install


# Plugins the slim core lacks and no artifact of their own carries on the registry: taken from the
# full server distribution (one download of about 800 MB, once per machine).
EXTRA_TRINO_PLUGINS = ("http-event-listener",)


def trino_plugins(settings: Settings) -> Path:
    install = trino(settings)
    missing = [p for p in EXTRA_TRINO_PLUGINS if not (install / "plugin" / p).is_dir()]
    if not missing:
        return install
    version = settings.versions["trino"]
    coordinate = f"io.trino:trino-server:{version}:tar.gz"
    full = maven_artifact(
        settings, coordinate, settings.cache / "downloads" / f"trino-server-{version}.tar.gz"
    )
    _say(f"unpacking the {', '.join(missing)} plugin(s) from the Trino {version} distribution")
    prefixes = tuple(f"trino-server-{version}/plugin/{p}/" for p in missing)
    with tempfile.TemporaryDirectory(dir=settings.cache) as tmp:
        with tarfile.open(full) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(prefixes)]
            tar.extractall(tmp, members=members, filter="tar")
        for plugin in missing:
            os.replace(Path(tmp) / f"trino-server-{version}" / "plugin" / plugin, install / "plugin" / plugin)
    full.unlink()
    # the local Maven repository's copy is not needed either: 800 MB less in the cache
    shutil.rmtree(settings.cache / "m2" / "io" / "trino" / "trino-server" / version, ignore_errors=True)
    return install


def trino_cli(settings: Settings) -> Path:
    path = maven_artifact(
        settings,
        f"io.trino:trino-cli:{settings.versions['trino']}:jar:executable",
        settings.trino_cli_jar,
    )
    path.chmod(0o755)
    return path


def trino_jdbc_jar(settings: Settings) -> Path:
    return settings.jars_dir / f"trino-jdbc-{settings.versions['trino']}.jar"


def trino_jdbc(settings: Settings) -> Path:
    """Trino's official JDBC driver (one self-contained jar), for BI tools and the JDBC test."""
    return maven_artifact(
        settings, f"io.trino:trino-jdbc:{settings.versions['trino']}", trino_jdbc_jar(settings)
    )


def _go_install(module: str, version: str, binary: Path, what: str) -> Path:
    """Build a Go program, unmodified, from its module with `go install`."""
    if binary.exists():
        return binary
    if not shutil.which("go"):
        raise RuntimeError(f"Go is not installed: it is needed once to build {what}")
    _say(f"building {what} {version} with go install (a few minutes, once per machine)")
    with tempfile.TemporaryDirectory(dir=binary.parent.parent.parent) as tmp:
        env = dict(os.environ, GOBIN=tmp, CGO_ENABLED="0")
        _run(["go", "install", f"{module}@{version}"], f"go install {module}", env)
        binary.parent.mkdir(parents=True, exist_ok=True)
        os.replace(Path(tmp) / binary.name, binary)
    return binary


def minio(settings: Settings) -> Path:
    """The MinIO server, run as a separate process."""
    return _go_install("github.com/minio/minio", settings.versions["minio"], settings.minio_binary, "MinIO")


def mc(settings: Settings) -> Path:
    """The MinIO client, for the admin API (users and policies) during provisioning."""
    return _go_install(
        "github.com/minio/mc", settings.versions["minio_client"], settings.mc_binary, "the MinIO client"
    )


def postgres_bindir() -> Path:
    """The PostgreSQL 15 server binaries from Debian's packages."""
    for candidate in (Path("/usr/lib/postgresql/15/bin"),):
        if (candidate / "postgres").exists():
            return candidate
    raise RuntimeError("PostgreSQL 15 server not found: apt-get install postgresql-15")


def ensure_all(settings: Settings) -> None:
    with cache_lock(settings):
        spark_jars(settings)
        trino(settings)
        trino_plugins(settings)
        trino_cli(settings)
        trino_jdbc(settings)
        minio(settings)
        mc(settings)
    postgres_bindir()
