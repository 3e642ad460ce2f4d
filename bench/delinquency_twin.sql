-- The DuckDB twin of the platform's ingestion and delinquency rules (see bench/twin.py).
--
-- Written from the rules as the README defines them ("Ingestion contract", "Delinquency"), not
-- from the Spark code. Each block below is one statement, named by its `-- name:` line; bench/twin.py
-- runs them in order. Parameters are DuckDB named parameters ($name).

-- name: macros
-- Text helpers: how a record's fields read when every field is declared as a string.

-- Trimmed of spaces; an empty string counts as missing.
CREATE MACRO clean(x) AS nullif(trim(x, ' '), '');

-- A double the way Java prints it (Double.toString): plain between 10^-3 and 10^7, otherwise
-- d.dddE<n>. Only ids and other text fields given as fractional JSON numbers ever need this.
-- (The lambdas only name a value once; DuckDB expands macros inline.)
CREATE MACRO java_e_notation(digits, exponent) AS
    digits[1] || '.' || coalesce(nullif(digits[2:], ''), '0') || 'E' || CAST(exponent AS VARCHAR);
CREATE MACRO java_scientific(shortest) AS list_transform(  -- from DuckDB's shortest text of a positive double
    [{'i': split_part(split_part(shortest, 'e', 1), '.', 1),
      'f': split_part(split_part(shortest, 'e', 1), '.', 2),
      'e': coalesce(TRY_CAST(nullif(split_part(shortest, 'e', 2), '') AS INTEGER), 0)}],
    lambda p: java_e_notation(
        rtrim(ltrim(p.i || p.f, '0'), '0'),
        len(p.i) - 1 - (len(p.i || p.f) - len(ltrim(p.i || p.f, '0'))) + p.e))[1];
CREATE MACRO java_double_text(number_text) AS list_transform([TRY_CAST(number_text AS DOUBLE)], lambda d: CASE
    WHEN isnan(d) THEN 'NaN'
    WHEN isinf(d) THEN CASE WHEN d > 0 THEN 'Infinity' ELSE '-Infinity' END
    WHEN d = 0 OR (abs(d) >= 1e-3 AND abs(d) < 1e7) THEN CAST(d AS VARCHAR)
    ELSE CASE WHEN d < 0 THEN '-' ELSE '' END || java_scientific(CAST(abs(d) AS VARCHAR))
END)[1];

-- The text of one JSON value read into a string field: a string's own characters; an integer's
-- digits ("10"); a fractional number through a binary double (150.50 reads "150.5"); true,
-- false, objects and arrays as their compact JSON text; null as missing.
CREATE MACRO spark_text(j) AS CASE
    WHEN j IS NULL THEN NULL
    WHEN starts_with(CAST(j AS VARCHAR), '"') THEN j ->> '$'
    WHEN regexp_full_match(CAST(j AS VARCHAR), '-?[0-9]+') THEN CAST(j AS VARCHAR)
    WHEN regexp_full_match(CAST(j AS VARCHAR), '[-0-9NI].*') THEN java_double_text(CAST(j AS VARCHAR))
    ELSE CAST(j AS VARCHAR)
END;

-- A number written as text, exactly, to 18 decimal places (the digits beyond are rounded, as a
-- decimal cast does); NULL when the text is not a plain decimal number (optional sign and
-- exponent; surrounding control characters and spaces ignored).
CREATE MACRO exact_number(x) AS CASE
    WHEN regexp_full_match(regexp_replace(x, '^[\x{00}-\x{20}]+|[\x{00}-\x{20}]+$', '', 'g'),
                           '[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?')
    THEN TRY_CAST(regexp_replace(x, '^[\x{00}-\x{20}]+|[\x{00}-\x{20}]+$', '', 'g') AS DECIMAL(38, 18))
END;

-- A whole number of cents within the amounts a curated table accepts (15 significant digits).
CREATE MACRO is_cents(n) AS coalesce(n IS NOT NULL AND abs(n) <= 9999999999999.99 AND n = round(n, 2), false);

-- A date: YYYY-MM-DD, optionally followed by a time part; the calendar must have that day.
CREATE MACRO iso_date(x) AS CASE
    WHEN regexp_full_match(x, '\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?')
    THEN TRY_CAST(substr(x, 1, 10) AS DATE)
END;

-- Months on book: a calendar month addition, clamped to the month's end (Jan 31 + 3 = Apr 30).
CREATE MACRO add_months(d, n) AS CAST(d + to_months(n) AS DATE);

CREATE TABLE input_files (source VARCHAR, file_order INTEGER, path VARCHAR);
CREATE TABLE records (source VARCHAR, file_order INTEGER, record_number BIGINT, raw_json VARCHAR);

-- name: read_records
-- One row per input record of one source: a non-blank line of a JSON Lines file, or an element
-- of a JSON array file (its position is its record number). A file given twice (same content)
-- is read once, at its first place in the batch. An array file that does not parse gives one
-- record numbered 0, which refuses the batch.
INSERT INTO records
WITH listed AS (
    SELECT i AS position, $paths[i] AS path FROM range(1, len($paths) + 1) AS t(i)
),
file_texts AS (  -- without a UTF-8 byte order mark
    SELECT filename AS path,
           CASE WHEN starts_with(content, chr(65279)) THEN content[2:] ELSE content END AS body
    FROM read_text($paths)
),
distinct_files AS (  -- one row per distinct content, in batch order
    SELECT min(l.position) AS file_order, any_value(t.body) AS body,
           regexp_matches(any_value(t.body), '^\s*\[') AS is_array
    FROM listed AS l JOIN file_texts AS t USING (path)
    GROUP BY sha256(t.body)
),
json_lines AS (
    SELECT file_order, unnest(lines) AS raw_json, generate_subscripts(lines, 1) AS record_number
    FROM (SELECT file_order,
                 CASE WHEN contains(body, chr(13))  -- line ends: LF, CRLF or CR
                      THEN regexp_split_to_array(body, '\r\n|\r|\n') ELSE string_split(body, chr(10)) END AS lines
          FROM distinct_files WHERE NOT is_array)
),
array_files AS (
    SELECT file_order, body, json_valid(body) AS parses FROM distinct_files WHERE is_array
),
array_elements AS (
    SELECT file_order, unnest(elements) AS element, generate_subscripts(elements, 1) AS record_number
    FROM (SELECT file_order, json_extract(body, '$[*]') AS elements FROM array_files WHERE parses)
)
SELECT $source, file_order, record_number, raw_json FROM json_lines WHERE trim(raw_json, ' ') <> ''
UNION ALL  -- a string element is itself the record's text
SELECT $source, file_order, record_number,
       CASE WHEN json_type(element) = 'VARCHAR' THEN element ->> '$' ELSE CAST(element AS VARCHAR) END
FROM array_elements
UNION ALL
SELECT $source, file_order, 0, NULL FROM array_files WHERE NOT parses;

-- name: malformed_records
-- Records that look like JSON ('{' or '[') but are not one valid JSON value: a truncated or
-- broken file. Any of them refuses the whole batch. (Valid JSON of the wrong shape, such as a
-- metadata that is not an object, is a rejected record instead: see the valid_* steps.)
SELECT r.source, f.path, min(r.record_number) AS first_record, count(*) AS records
FROM records AS r JOIN input_files AS f USING (source, file_order)
WHERE r.record_number = 0
   OR (regexp_matches(r.raw_json, '^ *[\[{]') AND NOT coalesce(json_valid(r.raw_json), false))
GROUP BY ALL
ORDER BY ALL;

-- name: curate_transactions
-- curated.transactions of a batch loaded into an empty table: the last valid version of each id.
CREATE TABLE curated_transactions AS
WITH transaction_objects AS (  -- each declared field as the JSON value it was given
    SELECT file_order, record_number,
           json_transform(raw_json, '{"transaction_id": "JSON", "customer_id": "JSON", "amount": "JSON",
               "currency": "JSON", "date": "JSON", "transaction_date": "JSON", "due_date": "JSON",
               "payment_terms": "JSON", "status": "JSON", "metadata": "JSON"}') AS j,
           coalesce(json_type(raw_json, '$.metadata') IN ('OBJECT', 'NULL'), true) AS shape_ok
    FROM records
    WHERE source = 'transactions' AND starts_with(trim(raw_json, ' '), '{')
),
transaction_texts AS (  -- as text: trimmed, empty as missing; `date` is the v1 name of transaction_date
    SELECT file_order, record_number, shape_ok,
           clean(spark_text(j.transaction_id)) AS transaction_id,
           clean(spark_text(j.customer_id)) AS customer_id,
           clean(spark_text(j.amount)) AS amount,
           clean(spark_text(j.currency)) AS currency,
           coalesce(clean(spark_text(j.transaction_date)), clean(spark_text(j.date))) AS transaction_date,
           clean(spark_text(j.due_date)) AS due_date,
           clean(spark_text(j.payment_terms)) AS payment_terms,
           clean(spark_text(j.status)) AS status,
           json_transform(j.metadata, '{"product_category": "JSON", "sales_rep": "JSON", "channel": "JSON",
               "discount_applied": "JSON", "installments": "JSON"}') AS m
    FROM transaction_objects
),
typed_transactions AS (
    SELECT *, exact_number(amount) AS exact_amount,
           iso_date(transaction_date) AS transaction_day, iso_date(due_date) AS due_day
    FROM transaction_texts
),
valid_transactions AS (  -- every rule of the ingestion contract holds
    SELECT * FROM typed_transactions
    WHERE shape_ok                                -- a metadata that is not an object: rejected
      AND transaction_id IS NOT NULL
      AND customer_id IS NOT NULL
      AND is_cents(exact_amount) AND exact_amount > 0
      AND transaction_day IS NOT NULL             -- present and a valid date
      AND (due_date IS NULL OR due_day IS NOT NULL) -- optional, valid when given
),
latest_transactions AS (  -- later file in the batch wins, then later record
    SELECT *, count(*) OVER (PARTITION BY transaction_id) AS valid_versions
    FROM valid_transactions
    QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY file_order DESC, record_number DESC) = 1
)
SELECT transaction_id, customer_id,
       CAST(exact_amount AS DECIMAL(18, 2)) AS amount,
       currency,
       transaction_day AS transaction_date,
       due_day AS due_date,
       payment_terms, status,
       clean(spark_text(m.product_category)) AS product_category,
       clean(spark_text(m.sales_rep)) AS sales_rep,
       clean(spark_text(m.channel)) AS channel,
       clean(spark_text(m.discount_applied)) AS discount_applied,
       TRY_CAST(clean(spark_text(m.installments)) AS INTEGER) AS installments,
       valid_versions
FROM latest_transactions;

-- name: curate_payments
-- curated.payments of a batch loaded into an empty table: the last valid version of each id.
CREATE TABLE curated_payments AS
WITH payment_objects AS (  -- each declared field as the JSON value it was given
    SELECT file_order, record_number,
           json_transform(raw_json, '{"payment_id": "JSON", "transaction_id": "JSON", "customer_id": "JSON",
               "amount_paid": "JSON", "currency": "JSON", "date_paid": "JSON", "payment_date": "JSON",
               "payment_method": "JSON", "payment_type": "JSON", "status": "JSON", "metadata": "JSON"}') AS j,
           coalesce(json_type(raw_json, '$.metadata') IN ('OBJECT', 'NULL'), true) AS shape_ok
    FROM records
    WHERE source = 'payments' AND starts_with(trim(raw_json, ' '), '{')
),
payment_texts AS (  -- as text: trimmed, empty as missing; `date_paid` is the v1 name of payment_date
    SELECT file_order, record_number, shape_ok,
           clean(spark_text(j.payment_id)) AS payment_id,
           clean(spark_text(j.transaction_id)) AS transaction_id,
           clean(spark_text(j.customer_id)) AS customer_id,
           clean(spark_text(j.amount_paid)) AS amount_paid,
           clean(spark_text(j.currency)) AS currency,
           coalesce(clean(spark_text(j.payment_date)), clean(spark_text(j.date_paid))) AS payment_date,
           clean(spark_text(j.payment_method)) AS payment_method,
           clean(spark_text(j.payment_type)) AS payment_type,
           clean(spark_text(j.status)) AS status,
           json_transform(j.metadata, '{"processor": "JSON", "fee_amount": "JSON", "reference_number": "JSON",
               "ip_address": "JSON", "user_agent": "JSON"}') AS m
    FROM payment_objects
),
typed_payments AS (
    SELECT *, exact_number(amount_paid) AS exact_amount, iso_date(payment_date) AS payment_day,
           clean(spark_text(m.fee_amount)) AS fee_text, exact_number(clean(spark_text(m.fee_amount))) AS exact_fee
    FROM payment_texts
),
valid_payments AS (  -- every rule of the ingestion contract holds
    SELECT * FROM typed_payments
    WHERE shape_ok                                -- a metadata that is not an object: rejected
      AND payment_id IS NOT NULL
      AND transaction_id IS NOT NULL
      AND is_cents(exact_amount) AND exact_amount > 0
      AND payment_day IS NOT NULL             -- present and a valid date
      AND (fee_text IS NULL OR is_cents(exact_fee)) -- optional, a valid amount when given
),
latest_payments AS (  -- later file in the batch wins, then later record
    SELECT *, count(*) OVER (PARTITION BY payment_id) AS valid_versions
    FROM valid_payments
    QUALIFY row_number() OVER (PARTITION BY payment_id ORDER BY file_order DESC, record_number DESC) = 1
)
SELECT payment_id, transaction_id, customer_id,
       CAST(exact_amount AS DECIMAL(18, 2)) AS amount_paid,
       currency,
       payment_day AS payment_date,
       payment_method, payment_type, status,
       clean(spark_text(m.processor)) AS processor,
       CAST(exact_fee AS DECIMAL(18, 2)) AS fee_amount,
       clean(spark_text(m.reference_number)) AS reference_number,
       clean(spark_text(m.ip_address)) AS ip_address,
       clean(spark_text(m.user_agent)) AS user_agent,
       valid_versions
FROM latest_payments;

-- name: accounts
-- Per source: received = accepted + rejected + duplicates (a batch into empty tables).
WITH received AS (
    SELECT source, count(*) AS received FROM records GROUP BY source
),
curated AS (
    SELECT 'transactions' AS source, count(*) AS accepted, coalesce(sum(valid_versions), 0) AS valid
    FROM curated_transactions
    UNION ALL
    SELECT 'payments', count(*), coalesce(sum(valid_versions), 0) FROM curated_payments
)
SELECT c.source, coalesce(r.received, 0) AS received, c.accepted,
       coalesce(r.received, 0) - c.valid AS rejected, c.valid - c.accepted AS duplicates
FROM curated AS c LEFT JOIN received AS r USING (source);

-- name: default_as_of
-- The latest transaction or payment date among the curated rows.
SELECT greatest((SELECT max(transaction_date) FROM curated_transactions),
                (SELECT max(payment_date) FROM curated_payments));

-- name: evaluate
-- One row per obligation known on $as_of, with its settlement, its customer's windows and its
-- days past due under each criterion.
CREATE TABLE evaluated AS
WITH obligations AS (  -- transactions up to as_of that are not cancelled or refunded
    SELECT customer_id, transaction_id, amount, transaction_date,
           coalesce(due_date, transaction_date + CAST($terms_days AS INTEGER)) AS due_date
    FROM curated_transactions
    WHERE transaction_date <= $as_of
      AND NOT coalesce(list_contains($excluded_transaction_statuses, lower(status)), false)
),
settling_payments AS (  -- payments up to as_of whose status counts (absent, or completed)
    SELECT payment_id, transaction_id, amount_paid, payment_date
    FROM curated_payments
    WHERE payment_date <= $as_of
      AND (status IS NULL OR list_contains($settling_payment_statuses, lower(status)))
),
paid_so_far AS (  -- each obligation's payments in order (date, then id), with the running total
    SELECT o.transaction_id, o.amount, p.payment_id, p.payment_date,
           sum(p.amount_paid) OVER (PARTITION BY o.transaction_id ORDER BY p.payment_date, p.payment_id
                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS paid
    FROM obligations AS o JOIN settling_payments AS p USING (transaction_id)
),
settlements AS (  -- the payment at which the total first reaches the amount, exactly in cents
    SELECT transaction_id, payment_date AS settlement_date, payment_id AS settling_payment_id
    FROM paid_so_far
    WHERE paid >= amount
    QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY payment_date, payment_id) = 1
),
windows AS (  -- origination: the customer's first obligation; the MOB dates from it
    SELECT o.*, s.settlement_date, s.settling_payment_id,
           min(o.transaction_date) OVER (PARTITION BY o.customer_id) AS origination_date
    FROM obligations AS o LEFT JOIN settlements AS s USING (transaction_id)
),
mob_dates AS (
    SELECT *,
           add_months(origination_date, $over_mob) AS over_date,
           add_months(origination_date, $ever_mob) AS ever_end,
           least(add_months(origination_date, $ever_mob), $as_of) AS window_end
    FROM windows
)
SELECT *,
       over_date <= $as_of AS over_evaluable,
       -- days past due on the MOB-3 date: after the due date and not settled on or before it
       CASE WHEN over_date <= $as_of THEN
           CASE WHEN over_date > due_date AND NOT coalesce(settlement_date <= over_date, false)
                THEN over_date - due_date ELSE 0 END
       END AS over_dpd,
       -- the worst days past due inside the window: reached on settlement, or at the window's end
       greatest(least(coalesce(settlement_date, window_end), window_end) - due_date, 0) AS ever_dpd,
       greatest(least(coalesce(settlement_date, $as_of), $as_of) - due_date, 0) AS dpd_by_as_of
FROM mob_dates;

-- name: customers
-- One row per customer with at least one obligation: both criteria and the inadimplente flag.
CREATE TABLE customers AS
SELECT customer_id,
       min(origination_date) AS origination_date,
       coalesce(bool_or(over_dpd > $over_days), false) AS over30mob3,
       bool_or(ever_dpd > $ever_days) AS ever15mob6,
       bool_and(over_evaluable) AS over30mob3_evaluable,
       min(ever_end) <= $as_of AS window_complete,
       CAST(max(dpd_by_as_of) AS INTEGER) AS max_days_past_due,
       coalesce(bool_or(over_dpd > $over_days), false) OR bool_or(ever_dpd > $ever_days) AS inadimplente
FROM evaluated
GROUP BY customer_id;

-- name: violations
-- One row per obligation and criterion it violates; the payment that settled it (inside the
-- window, for ever15mob6), the due date, the date observed and the days past due.
SELECT customer_id, 'over30mob3' AS criterion, transaction_id, settling_payment_id AS payment_id,
       due_date, over_date AS observation_date, CAST(over_dpd AS INTEGER) AS days_past_due
FROM evaluated WHERE over_dpd > $over_days
UNION ALL
SELECT customer_id, 'ever15mob6', transaction_id,
       CASE WHEN settlement_date <= window_end THEN settling_payment_id END,
       due_date, window_end, CAST(ever_dpd AS INTEGER)
FROM evaluated WHERE ever_dpd > $ever_days
ORDER BY ALL;

-- name: summary
-- The headline figures; percentages rounded half up to 2 decimals, NULL with no customer.
WITH counts AS (
    SELECT count(*) AS customers,
           count_if(inadimplente) AS delinquent,
           count_if(over30mob3) AS over30mob3,
           count_if(ever15mob6) AS ever15mob6,
           count_if(window_complete) AS customers_window_complete,
           count_if(window_complete AND inadimplente) AS delinquent_window_complete
    FROM customers
)
SELECT customers, delinquent,
       CASE WHEN customers > 0 THEN ((20000 * delinquent + customers) // (2 * customers)) / 100 END
           AS pct_delinquent,
       over30mob3, ever15mob6, customers_window_complete, delinquent_window_complete,
       CASE WHEN customers_window_complete > 0
            THEN ((20000 * delinquent_window_complete + customers_window_complete)
                  // (2 * customers_window_complete)) / 100 END AS pct_delinquent_window_complete,
       (SELECT count(*) FILTER (over_dpd > $over_days) + count(*) FILTER (ever_dpd > $ever_days) FROM evaluated)
           AS violations
FROM counts;
