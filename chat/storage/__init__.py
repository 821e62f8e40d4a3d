"""Storage: the connection pool, migrations, the embedded PostgreSQL server and
the read queries. Nothing here writes application data (chat/actions does)."""
