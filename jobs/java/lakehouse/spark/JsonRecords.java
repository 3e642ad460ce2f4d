package lakehouse.spark;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.json.CreateJacksonParser;
import org.apache.spark.sql.catalyst.json.JSONOptions;
import org.apache.spark.sql.catalyst.json.JacksonParser;
import org.apache.spark.sql.catalyst.util.FailureSafeParser;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.types.UTF8String;
import scala.jdk.javaapi.CollectionConverters;

/**
 * JSON records parsed as Spark's {@code from_json} parses them (its own JacksonParser and
 * FailureSafeParser: the same fields, the same corrupt records, the same text for a number or an
 * object in a string field), with Jackson reading a record's bytes instead of characters.
 *
 * <p>Spark 4.1's {@code from_json} hands Jackson each record through a new InputStreamReader,
 * which allocates an 8 KB buffer per record and decodes the bytes to characters first: for the
 * bench's 2,000,000-transaction ingest, a third of everything the job allocated. Here a record of
 * printable ASCII (tabs allowed) goes to Jackson's byte parser as a stream over the row's own
 * bytes; any other record (non-ASCII text, control characters, invalid UTF-8) goes through
 * exactly the reader {@code from_json} uses, so its decoding is unchanged. The stream, not the
 * byte array itself, keeps Spark's JSON parser on the path {@code from_json} takes for a number
 * read as a string (the array would make it copy the number's exact digits instead).
 */
public final class JsonRecords {
  private JsonRecords() {}

  /**
   * {@code df} with a column {@code output}: the string column {@code input} parsed against
   * {@code schemaJson} (a struct, as {@code StructType.json()} writes it) with {@code options}
   * ({@code from_json}'s: mode PERMISSIVE or FAILFAST, columnNameOfCorruptRecord, ...). Null
   * for a null input.
   */
  public static Dataset<Row> parse(
      Dataset<Row> df, String input, String output, String schemaJson, Map<String, String> options) {
    org.apache.spark.sql.classic.Dataset<Row> classic = (org.apache.spark.sql.classic.Dataset<Row>) df;
    StructType schema = (StructType) DataType.fromJson(schemaJson);
    String timeZone = classic.sparkSession().sessionState().conf().sessionLocalTimeZone();
    Records records = new Records(classic.schema().fieldIndex(input), schema, Map.copyOf(options), timeZone);
    RDD<InternalRow> rows = classic.queryExecution().toRdd().toJavaRDD().mapPartitions(records).rdd();
    return classic.sparkSession().internalCreateDataFrame(rows, classic.schema().add(output, schema, true), false);
  }

  /** Each row of a partition, with its input column parsed appended. */
  static final class Records implements FlatMapFunction<Iterator<InternalRow>, InternalRow> {
    private final int input;
    private final StructType schema;
    private final Map<String, String> options;
    private final String timeZone;

    Records(int input, StructType schema, Map<String, String> options, String timeZone) {
      this.input = input;
      this.schema = schema;
      this.options = options;
      this.timeZone = timeZone;
    }

    @Override
    public Iterator<InternalRow> call(Iterator<InternalRow> rows) {
      FailureSafeParser<UTF8String> parser = parser();
      GenericInternalRow parsed = new GenericInternalRow(1);
      JoinedRow joined = new JoinedRow();
      // The rows returned are reused: the scan over this partition copies each one as it reads it.
      return new Iterator<>() {
        @Override
        public boolean hasNext() {
          return rows.hasNext();
        }

        @Override
        public InternalRow next() {
          InternalRow row = rows.next();
          Object value = null;
          if (!row.isNullAt(input)) {
            scala.collection.Iterator<InternalRow> out = parser.parse(row.getUTF8String(input));
            value = out.hasNext() ? out.next() : null;
          }
          parsed.update(0, value);
          return joined.apply(row, parsed);
        }
      };
    }

    /** What from_json builds for a struct schema, with the byte-reading parser. */
    private FailureSafeParser<UTF8String> parser() {
      scala.collection.immutable.Map<String, String> scalaOptions =
          scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(options));
      String corrupt = options.getOrDefault("columnNameOfCorruptRecord", "_corrupt_record");
      JSONOptions parsed = new JSONOptions(scalaOptions, timeZone, corrupt);
      StructType fields = new StructType(
          Arrays.stream(schema.fields())
              .filter(f -> !f.name().equals(parsed.columnNameOfCorruptRecord()))
              .toArray(StructField[]::new));
      JacksonParser jackson =
          new JacksonParser(fields, parsed, false, JacksonParser.$lessinit$greater$default$4());
      scala.Function2<JsonFactory, UTF8String, JsonParser> open = JsonRecords::open;
      // the corrupt record's text outlives the row it was read from: a copy
      scala.Function1<UTF8String, UTF8String> literal = UTF8String::clone;
      return new FailureSafeParser<>(
          record -> jackson.parse(record, open, literal),
          parsed.parseMode(),
          schema,
          parsed.columnNameOfCorruptRecord());
    }
  }

  /** A Jackson parser over one record: its bytes when they are printable ASCII, else from_json's. */
  static JsonParser open(JsonFactory factory, UTF8String record) {
    if (!(record.getBaseObject() instanceof byte[] bytes)) {
      return CreateJacksonParser.utf8String(factory, record);
    }
    int start = (int) (record.getBaseOffset() - Platform.BYTE_ARRAY_OFFSET);
    int end = start + record.numBytes();
    for (int i = start; i < end; i++) {
      byte b = bytes[i];
      if ((b < 0x20 && b != '\t') || b > 0x7e) {
        return CreateJacksonParser.utf8String(factory, record);
      }
    }
    try {
      return factory.createParser(new ByteArrayInputStream(bytes, start, end - start));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
