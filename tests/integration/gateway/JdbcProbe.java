// A tiny program on Trino's JDBC driver for test_gateway_trino_clients.py: it runs what a JDBC tool does and
// prints one `key=value` line per finding, which the test asserts on. Arguments: the JDBC URL, then a query
// that runs for a long time without CPU (the one the probe cancels).
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

public class JdbcProbe {
    public static void main(String[] args) throws Exception {
        String url = args[0];
        String slowQuery = args[1];
        try (Connection connection = DriverManager.getConnection(url, "jdbc-probe", null)) {
            pages(connection);
            metadata(connection.getMetaData());
            useAndSession(connection);
            prepared(connection);
            cancel(connection, slowQuery);
        }
    }

    private static void pages(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement();
             ResultSet rows = statement.executeQuery("SELECT orderkey, linenumber FROM tpch.tiny.lineitem")) {
            long count = 0;
            long keys = 0;
            while (rows.next()) {
                count++;
                keys += rows.getLong(1);
            }
            System.out.println("rows=" + count);
            System.out.println("orderkey_sum=" + keys);
            System.out.println("column_type=" + rows.getMetaData().getColumnTypeName(2));
        }
    }

    private static void metadata(DatabaseMetaData meta) throws SQLException {
        List<String> tables = new ArrayList<>();
        try (ResultSet rows = meta.getTables("tpch", "tiny", null, null)) {
            while (rows.next()) {
                tables.add(rows.getString("TABLE_NAME") + ":" + rows.getString("TABLE_TYPE"));
            }
        }
        tables.sort(null);
        System.out.println("tables=" + String.join(",", tables));
        List<String> columns = new ArrayList<>();
        try (ResultSet rows = meta.getColumns("tpch", "tiny", "orders", null)) {
            while (rows.next()) {
                columns.add(rows.getString("COLUMN_NAME") + ":" + rows.getString("TYPE_NAME") + ":"
                        + rows.getInt("DATA_TYPE"));
            }
        }
        System.out.println("orders_columns=" + String.join(",", columns));
        int schemas = 0;
        try (ResultSet rows = meta.getSchemas("tpch", null)) {
            while (rows.next()) {
                schemas++;
            }
        }
        System.out.println("tpch_schemas=" + schemas);
        List<String> catalogs = new ArrayList<>();
        try (ResultSet rows = meta.getCatalogs()) {
            while (rows.next()) {
                catalogs.add(rows.getString("TABLE_CAT"));
            }
        }
        System.out.println("catalogs=" + String.join(",", catalogs));
    }

    private static void useAndSession(Connection connection) throws SQLException {
        try (Statement statement = connection.createStatement()) {
            statement.execute("USE tpch.tiny");
            System.out.println("catalog_after_use=" + connection.getCatalog() + "." + connection.getSchema());
            try (ResultSet rows = statement.executeQuery("SELECT name FROM nation WHERE nationkey = 7")) {
                rows.next();
                System.out.println("unqualified=" + rows.getString(1));
            }
            statement.execute("SET SESSION query_max_run_time = '10m'");
            try (ResultSet rows = statement.executeQuery("SHOW SESSION LIKE 'query_max_run_time'")) {
                rows.next();
                System.out.println("session_value=" + rows.getString("Value"));
            }
        }
    }

    private static void prepared(Connection connection) throws SQLException {
        try (java.sql.PreparedStatement statement = connection.prepareStatement(
                "SELECT name, regionkey FROM tpch.tiny.nation WHERE nationkey = ?")) {
            statement.setLong(1, 7);
            try (ResultSet rows = statement.executeQuery()) {
                rows.next();
                System.out.println("prepared=" + rows.getString(1) + ":" + rows.getLong(2));
            }
            java.sql.ResultSetMetaData meta = statement.getMetaData();
            System.out.println("prepared_columns=" + meta.getColumnName(1) + ":" + meta.getColumnTypeName(1) + ","
                    + meta.getColumnName(2) + ":" + meta.getColumnTypeName(2));
        }
    }

    private static void cancel(Connection connection, String slowQuery) throws Exception {
        Statement statement = connection.createStatement();
        AtomicReference<String> outcome = new AtomicReference<>("finished");
        long started = System.nanoTime();
        Thread runner = new Thread(() -> {
            try (ResultSet rows = statement.executeQuery(slowQuery)) {
                while (rows.next()) {
                    rows.getObject(1);
                }
            } catch (SQLException e) {
                outcome.set("failed:" + e.getMessage());
            }
        });
        runner.start();
        Thread.sleep(1500);
        statement.cancel();
        runner.join(30_000);
        System.out.println("cancel=" + outcome.get().replace('\n', ' '));
        System.out.println("cancel_seconds=" + (System.nanoTime() - started) / 1_000_000_000L);
        statement.close();
    }
}
