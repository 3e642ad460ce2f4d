// One query through Trino's official JDBC driver, as a BI tool would send it.
// Run (JDK 11+ single-file source launch):
//   TRINO_PASSWORD=... java -cp trino-jdbc-476.jar tests/clients/JdbcQuery.java JDBC_URL USER "SQL"
// The password comes from the environment, never from the command line. Prints a header, then
// one tab-separated line per row.

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class JdbcQuery {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: java -cp trino-jdbc.jar JdbcQuery.java JDBC_URL USER SQL (password in TRINO_PASSWORD)");
            System.exit(2);
        }
        String password = System.getenv("TRINO_PASSWORD");
        if (password == null || password.isEmpty()) {
            System.err.println("set TRINO_PASSWORD");
            System.exit(2);
        }
        Properties properties = new Properties();
        properties.setProperty("user", args[1]);
        properties.setProperty("password", password);
        try (Connection connection = DriverManager.getConnection(args[0], properties);
             Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery(args[2])) {
            ResultSetMetaData meta = rows.getMetaData();
            List<String> header = new ArrayList<>();
            for (int i = 1; i <= meta.getColumnCount(); i++) {
                header.add(meta.getColumnLabel(i));
            }
            System.out.println(String.join("\t", header));
            while (rows.next()) {
                List<String> values = new ArrayList<>();
                for (int i = 1; i <= meta.getColumnCount(); i++) {
                    values.add(String.valueOf(rows.getString(i)));
                }
                System.out.println(String.join("\t", values));
            }
        }
    }
}
