package lakehouse.spark;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import org.apache.spark.sql.api.java.UDF3;

/**
 * HMAC-SHA256 of a string's UTF-8 bytes, as 64 lowercase hex digits, from the key's two padded
 * forms (RFC 2104: K ^ ipad and K ^ opad, 64 bytes each): H((K ^ opad) || H((K ^ ipad) || m)).
 * NULL for a NULL value.
 *
 * <p>The same value as the expression the jobs built from Spark's {@code sha2} before, in a
 * quarter of the hash work: each padded key is exactly one SHA-256 block, so its state is
 * computed once per task thread and cloned for each value (two blocks per value instead of
 * eight), with no message digest looked up and no hex text decoded again between the two
 * hashes. The keys arrive as columns (a one-row broadcast table), never as literals of a plan.
 */
public final class HmacSha256 implements UDF3<String, byte[], byte[], String> {
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  /** The digests that have absorbed one key's padded forms, for the thread's last key. */
  private static final class Keyed {
    final byte[] ipad;
    final byte[] opad;
    final MessageDigest inner;
    final MessageDigest outer;

    Keyed(byte[] ipad, byte[] opad) {
      this.ipad = ipad.clone();
      this.opad = opad.clone();
      inner = sha256();
      inner.update(ipad);
      outer = sha256();
      outer.update(opad);
    }

    boolean holds(byte[] ipad, byte[] opad) {
      return Arrays.equals(this.ipad, ipad) && Arrays.equals(this.opad, opad);
    }
  }

  private static final ThreadLocal<Keyed> LAST = new ThreadLocal<>();

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("this JVM has no SHA-256", e);
    }
  }

  private static MessageDigest copy(MessageDigest digest) {
    try {
      return (MessageDigest) digest.clone();
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException("this JVM's SHA-256 cannot be cloned", e);
    }
  }

  @Override
  public String call(String value, byte[] ipad, byte[] opad) {
    if (value == null) {
      return null;
    }
    if (ipad == null || opad == null || ipad.length != 64 || opad.length != 64) {
      throw new IllegalArgumentException("HMAC-SHA256 needs both padded keys, 64 bytes each");
    }
    Keyed keyed = LAST.get();
    if (keyed == null || !keyed.holds(ipad, opad)) {
      keyed = new Keyed(ipad, opad);
      LAST.set(keyed);
    }
    MessageDigest inner = copy(keyed.inner);
    inner.update(value.getBytes(StandardCharsets.UTF_8));
    MessageDigest outer = copy(keyed.outer);
    byte[] mac = outer.digest(inner.digest());
    char[] hex = new char[mac.length * 2];
    for (int i = 0; i < mac.length; i++) {
      hex[2 * i] = HEX[(mac[i] >> 4) & 0xf];
      hex[2 * i + 1] = HEX[mac[i] & 0xf];
    }
    return new String(hex);
  }
}
