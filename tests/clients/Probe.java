// pgjdbc (Debian's libpostgresql-jdbc-java) against a running VOIDX server:
// what DBeaver and Metabase call through DatabaseMetaData, a PreparedStatement
// with parameters, and ResultSet types. Run by tests/it/bi_tools.rs as
// `java -cp /usr/share/java/postgresql.jar Probe.java PORT`.
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class Probe {
    static void check(boolean ok, String what) {
        if (!ok) {
            System.err.println("FAIL: " + what);
            System.exit(1);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/voidx";
        try (Connection c = DriverManager.getConnection(url, "voidx", "")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE SCHEMA jdbc");
                s.execute("CREATE TABLE jdbc.items (id BIGINT NOT NULL, price DECIMAL(10,2), name VARCHAR, at TIMESTAMP)");
                s.execute("INSERT INTO jdbc.items VALUES (1, 1.50, 'apple', TIMESTAMP '2024-01-02 03:04:05'), (2, 0.75, 'pear', NULL)");
                s.execute("COMMENT ON TABLE jdbc.items IS 'fruit'");
            }
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), "product " + md.getDatabaseProductName());
            List<String> schemas = new ArrayList<>();
            try (ResultSet rs = md.getSchemas()) {
                while (rs.next()) schemas.add(rs.getString("TABLE_SCHEM"));
            }
            check(schemas.contains("jdbc") && schemas.contains("public"), "schemas " + schemas);
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "jdbc", "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME") + ":" + rs.getString("TABLE_TYPE") + ":" + rs.getString("REMARKS"));
            }
            check(tables.equals(List.of("items:TABLE:fruit")), "tables " + tables);
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "jdbc", "items", "%")) {
                while (rs.next()) {
                    cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE") + ":" + rs.getString("IS_NULLABLE"));
                    if (rs.getString("COLUMN_NAME").equals("price")) {
                        // from pg_attribute.atttypmod, as for PostgreSQL's numeric(10,2)
                        check(rs.getInt("COLUMN_SIZE") == 10 && rs.getInt("DECIMAL_DIGITS") == 2,
                                "price size " + rs.getInt("COLUMN_SIZE") + "," + rs.getInt("DECIMAL_DIGITS"));
                    }
                }
            }
            check(cols.equals(List.of("id:int8:" + Types.BIGINT + ":NO", "price:numeric:" + Types.NUMERIC + ":YES",
                    "name:text:" + Types.VARCHAR + ":YES", "at:timestamp:" + Types.TIMESTAMP + ":YES")), "columns " + cols);
            try (PreparedStatement ps = c.prepareStatement("SELECT id, price, name, at FROM jdbc.items WHERE id = ? AND name <> ?")) {
                ps.setLong(1, 1);
                ps.setString(2, "x");
                try (ResultSet rs = ps.executeQuery()) {
                    check(rs.next(), "a row");
                    check(rs.getObject(1) instanceof Long && rs.getLong(1) == 1, "id " + rs.getObject(1));
                    check(new BigDecimal("1.50").equals(rs.getBigDecimal(2)), "price " + rs.getBigDecimal(2));
                    check("apple".equals(rs.getString(3)), "name");
                    check(Timestamp.valueOf("2024-01-02 03:04:05").equals(rs.getTimestamp(4)), "at " + rs.getTimestamp(4));
                    ResultSetMetaData m = rs.getMetaData();
                    check(m.getColumnType(2) == Types.NUMERIC && m.getScale(2) == 2 && m.getPrecision(2) == 10,
                            "price metadata " + m.getColumnType(2) + " " + m.getPrecision(2) + "," + m.getScale(2));
                    check(!rs.next(), "one row");
                }
            }
            try (Statement s = c.createStatement()) {
                s.executeQuery("SELECT * FROM jdbc.nope");
                check(false, "a missing table fails");
            } catch (SQLException e) {
                check("42P01".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
        }
        System.out.println("pgjdbc ok");
    }
}
