"""Shared fixtures. Unit tests get a local Spark with a file-based Iceberg catalog (no services)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from lakehouse import artifacts
from lakehouse.settings import REPO_ROOT, Settings, find_java_home

SAMPLE = REPO_ROOT / "data" / "sample"
UNIT_PSEUDONYM_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


INTEGRATION = Path(__file__).parent / "integration"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's, which reads `xdist_group`
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts local Spark (the `spark` fixture, itself or through another fixture) is
    `slow`: `make check` leaves those to `make unit` and `make test`.

    The integration tests share one stack whose state each module builds on: they form one
    group (`xdist_group`), which pytest-xdist's `--dist loadgroup` runs on one worker, in order,
    while the unit tests run on the other (`make test`)."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.xdist_group("stack"))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from pyspark.sql import SparkSession

    # py4j logs at interpreter exit, after other libraries may have closed their log streams
    logging.getLogger("py4j").setLevel(logging.WARNING)

    settings = Settings.load()
    # under the cache's lock: `make test`'s other worker may be fetching the same jars (`lakehouse up`);
    # the jobs' jar, built with them, is their last
    with artifacts.cache_lock(settings):
        jars = artifacts.spark_jars(settings)
    # the jobs compute pseudonyms with the key the CLI gives them; unit tests give a known one
    os.environ.setdefault("LAKEHOUSE_PSEUDONYM_KEY", UNIT_PSEUDONYM_KEY)
    os.environ.setdefault("JAVA_HOME", str(find_java_home(17, "JAVA_HOME", max_major=21)))
    warehouse: Path = tmp_path_factory.mktemp("warehouse")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("lakehouse-unit-tests")
        # Iceberg's runtime and the jobs' own classes (the ingest parses JSON with them)
        .config("spark.jars", f"{jars[0]},{jars[-1]}")
        .config("spark.sql.extensions", "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions")
        .config("spark.sql.catalog.lakehouse", "org.apache.iceberg.spark.SparkCatalog")
        .config("spark.sql.catalog.lakehouse.type", "hadoop")
        .config("spark.sql.catalog.lakehouse.warehouse", str(warehouse))
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
