// An application using pgJDBC with a JDBC URL as it receives it (run with `java -cp postgresql.jar
// PgJdbcClient.java`: the JRE's source launcher, no build step).
//
// Usage: PgJdbcClient SOURCE WORKLOAD
//   SOURCE    file:PATH (a key of the mounted Secret) or env:NAME (an environment variable), used as is
//   WORKLOAD  identity: one connection, who and where it is;
//             prepared: three connections taking turns, 8 executions each of one PreparedStatement, which
//                       pgJDBC makes a named server-side statement after prepareThreshold executions (5,
//                       unless the URL says otherwise: pgbouncer-jdbc-uri says 0 for a pool that cannot).
// Prints one JSON object; on failure the error on stderr and exit status 1.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;

public class PgJdbcClient {
    static String url(String source) throws Exception {
        int at = source.indexOf(':');
        String kind = source.substring(0, at), name = source.substring(at + 1);
        return kind.equals("file") ? Files.readString(Path.of(name), StandardCharsets.UTF_8) : System.getenv(name);
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static String run(String source, String workload) throws Exception {
        String url = url(source);
        if (workload.equals("identity")) {
            try (Connection c = DriverManager.getConnection(url);
                 ResultSet r = c.createStatement().executeQuery(
                     "SELECT current_user, current_database(), "
                     + "coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)")) {
                r.next();
                return "{\"user\": " + quote(r.getString(1)) + ", \"database\": " + quote(r.getString(2))
                    + ", \"server_ssl\": " + r.getBoolean(3) + ", \"driver\": "
                    + quote(c.getMetaData().getDriverVersion()) + "}";
            }
        }
        List<Connection> conns = new ArrayList<>();
        List<PreparedStatement> statements = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) {
                Connection c = DriverManager.getConnection(url);
                conns.add(c);
                statements.add(c.prepareStatement("SELECT ?::int * 2"));
            }
            int executions = 0;
            for (int n = 0; n < 8; n++) {
                for (int i = 0; i < 3; i++) {
                    PreparedStatement ps = statements.get(i);
                    ps.setInt(1, n * 10 + i);
                    try (ResultSet r = ps.executeQuery()) {
                        r.next();
                        if (r.getInt(1) != (n * 10 + i) * 2) throw new IllegalStateException("wrong result");
                    }
                    executions++;
                }
            }
            int threshold = statements.get(0).unwrap(org.postgresql.PGStatement.class).getPrepareThreshold();
            return "{\"executions\": " + executions + ", \"prepare_threshold\": " + threshold + "}";
        } finally {
            for (Connection c : conns) c.close();
        }
    }

    public static void main(String[] args) {
        try {
            System.out.println(run(args[0], args[1]));
        } catch (Exception e) {
            System.err.println(e.getClass().getName() + ": " + e.getMessage());
            System.exit(1);
        }
    }
}
