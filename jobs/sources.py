"""Source contracts: the declared shape of each JSON source (v1 and v2) and its curated table.

Every leaf is read as a string: Spark's JSON reader gives a number's text for a string field (an
integer's own digits; a fraction through a binary double, exact to 15 significant digits, so
"150.50" and 150.50 both read 150.5), so ids given as integers become strings and amounts can be
validated and cast exactly, instead of being guessed by schema inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

CORRUPT = "_corrupt_record"


@dataclass(frozen=True)
class Source:
    """What the ingestion job needs to know about one source."""

    name: str  # also the table name in raw and curated
    id_column: str  # natural key of the curated table
    fields: tuple[str, ...]  # top-level fields of the JSON records (v1 and v2 names)
    metadata_fields: tuple[str, ...]  # fields of the nested `metadata` object
    amount_column: str
    date_column: str  # curated name; the v1 name is an alias of it
    date_alias: str
    required_ids: tuple[str, ...]
    # curated column -> SQL type, in table order (lineage columns are added by the job)
    columns: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        # the ingest names a field's cleaned value by the field's name, top level or metadata alike
        shared = sorted(set(self.fields) & set(self.metadata_fields))
        if shared:
            raise ValueError(f"{self.name}: {shared} both top-level and metadata fields; rename one")

    @property
    def schema(self) -> StructType:
        """The reader's schema: every leaf a string, plus the corrupt-record column.

        Built on use, so the CLI reads the contracts without importing Spark.
        """
        from pyspark.sql.types import StringType, StructField, StructType

        def strings(names: tuple[str, ...]) -> list[StructField]:
            return [StructField(name, StringType()) for name in names]

        return StructType(
            strings(self.fields)
            + [
                StructField("metadata", StructType(strings(self.metadata_fields))),
                StructField(CORRUPT, StringType()),
            ]
        )


TRANSACTIONS = Source(
    name="transactions",
    id_column="transaction_id",
    fields=(
        "transaction_id",
        "customer_id",
        "amount",
        "currency",
        "date",
        "transaction_date",
        "due_date",
        "payment_terms",
        "status",
    ),
    metadata_fields=("product_category", "sales_rep", "channel", "discount_applied", "installments"),
    amount_column="amount",
    date_column="transaction_date",
    date_alias="date",
    required_ids=("transaction_id", "customer_id"),
    columns=(
        ("transaction_id", "STRING"),
        ("customer_id", "STRING"),
        ("amount", "DECIMAL(18,2)"),
        ("currency", "STRING"),
        ("transaction_date", "DATE"),
        ("due_date", "DATE"),
        ("payment_terms", "STRING"),
        ("status", "STRING"),
        ("product_category", "STRING"),
        ("sales_rep", "STRING"),
        ("channel", "STRING"),
        ("discount_applied", "STRING"),
        ("installments", "INT"),
    ),
)

PAYMENTS = Source(
    name="payments",
    id_column="payment_id",
    fields=(
        "payment_id",
        "transaction_id",
        "customer_id",
        "amount_paid",
        "currency",
        "date_paid",
        "payment_date",
        "payment_method",
        "payment_type",
        "status",
    ),
    metadata_fields=("processor", "fee_amount", "reference_number", "ip_address", "user_agent"),
    amount_column="amount_paid",
    date_column="payment_date",
    date_alias="date_paid",
    required_ids=("payment_id", "transaction_id"),
    columns=(
        ("payment_id", "STRING"),
        ("transaction_id", "STRING"),
        ("customer_id", "STRING"),
        ("amount_paid", "DECIMAL(18,2)"),
        ("currency", "STRING"),
        ("payment_date", "DATE"),
        ("payment_method", "STRING"),
        ("payment_type", "STRING"),
        ("status", "STRING"),
        ("processor", "STRING"),
        ("fee_amount", "DECIMAL(18,2)"),
        ("reference_number", "STRING"),
        ("ip_address", "STRING"),
        ("user_agent", "STRING"),
    ),
)

SOURCES = {s.name: s for s in (TRANSACTIONS, PAYMENTS)}
