// What Tableau's PostgreSQL connector sees: kant's bi_ views read through
// pgjdbc.  Prints, for every bi_ view, each column's JDBC type from
// DatabaseMetaData.getColumns and ResultSetMetaData, then every value as the
// driver hands it to a client.  A column outside the plain types prints a
// line starting with "BAD".  Run it under two JVM time zones and compare.
//
//   java -cp /usr/share/java/postgresql.jar -Duser.timezone=UTC test/jdbc/BiProbe.java
import java.sql.*;
import java.util.*;

public class BiProbe {
	static final Map<Integer, String> ALLOWED = Map.of(
		Types.BIGINT, "BIGINT", Types.INTEGER, "INTEGER", Types.DOUBLE, "DOUBLE",
		Types.NUMERIC, "NUMERIC", Types.VARCHAR, "VARCHAR", Types.DATE, "DATE",
		Types.TIMESTAMP, "TIMESTAMP");

	static String check(String where, int type, String typeName, int precision) {
		if (!ALLOWED.containsKey(type))
			return "BAD " + where + " JDBC type " + type + " (" + typeName + ")";
		if (type == Types.NUMERIC && (precision <= 0 || precision >= 1000))
			return "BAD " + where + " NUMERIC without a precision (" + typeName + ")";
		if (type == Types.TIMESTAMP && !typeName.equals("timestamp"))
			return "BAD " + where + " " + typeName + " is not a naive timestamp";
		return null;
	}

	public static void main(String[] args) throws Exception {
		String url = "jdbc:postgresql://" + System.getenv().getOrDefault("PGHOST", "localhost") + ":"
			+ System.getenv().getOrDefault("PGPORT", "5432") + "/" + args[0];
		Properties p = new Properties();
		p.setProperty("user", System.getenv().getOrDefault("PGUSER", "postgres"));
		if (System.getenv("PGPASSWORD") != null)
			p.setProperty("password", System.getenv("PGPASSWORD"));
		try (Connection c = DriverManager.getConnection(url, p)) {
			DatabaseMetaData md = c.getMetaData();
			List<String> views = new ArrayList<>();
			try (ResultSet rs = md.getTables(null, "kant", "bi\\_%", new String[] {"VIEW"})) {
				while (rs.next())
					views.add(rs.getString("TABLE_NAME"));
			}
			Collections.sort(views);
			System.out.println("views " + views);
			for (String v : views) {
				int n = 0;
				try (ResultSet rs = md.getColumns(null, "kant", v, "%")) {
					while (rs.next()) {
						n++;
						String where = v + "." + rs.getString("COLUMN_NAME");
						String bad = check(where + " (getColumns)", rs.getInt("DATA_TYPE"),
							rs.getString("TYPE_NAME"), rs.getInt("COLUMN_SIZE"));
						System.out.println("column " + where + " " + ALLOWED.getOrDefault(rs.getInt("DATA_TYPE"), "?")
							+ " " + rs.getString("TYPE_NAME") + " " + rs.getInt("COLUMN_SIZE")
							+ (bad != null ? "\n" + bad : ""));
					}
				}
				StringBuilder order = new StringBuilder();
				for (int i = 1; i <= n; i++)
					order.append(i == 1 ? "" : ", ").append(i);
				int rows = 0;
				try (Statement st = c.createStatement();
					 ResultSet rs = st.executeQuery("SELECT * FROM kant." + v + " ORDER BY " + order)) {
					ResultSetMetaData m = rs.getMetaData();
					for (int i = 1; i <= m.getColumnCount(); i++) {
						String bad = check(v + "." + m.getColumnName(i) + " (ResultSetMetaData)",
							m.getColumnType(i), m.getColumnTypeName(i), m.getPrecision(i));
						if (bad != null)
							System.out.println(bad);
					}
					while (rs.next()) {
						StringBuilder line = new StringBuilder("row " + v);
						for (int i = 1; i <= m.getColumnCount(); i++) {
							Object o;
							switch (m.getColumnType(i)) {
								case Types.TIMESTAMP: o = rs.getTimestamp(i); break;
								case Types.DATE: o = rs.getDate(i); break;
								case Types.DOUBLE: o = rs.getObject(i) == null ? null : rs.getDouble(i); break;
								case Types.NUMERIC: o = rs.getBigDecimal(i); break;
								default: o = rs.getObject(i);
							}
							line.append(" | ").append(o);
						}
						if (!v.equals("bi_data_dictionary"))
							System.out.println(line);
						rows++;
					}
				}
				System.out.println("rows " + v + " " + rows);
			}
		}
	}
}
