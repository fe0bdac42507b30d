"""The PostgreSQL store (issue 19): its migrations against a real
PostgreSQL 15 cluster (conftest's postgres / pg_url fixtures, ghtest.Postgres).

- schema/sqlite/ and schema/postgresql/ reach the same tables, columns
  (names, order, nullability, types mapped) and named indexes;
- several processes migrating one empty database at once migrate it once
  (pg_advisory_xact_lock), and a second run changes nothing;
- a connection (common/store_pg_conn.c, through the test tool gh-pgconn)
  fails while PostgreSQL is down and recovers by itself when it returns,
  its prepared statement prepared again on the new connection.

The PostgreSQL migrations are applied by the test tool gh-pgmigrate, which
calls store_pg_migrate() (common/store_pg_schema.c); the SQLite store is made
by quarctl opening it (store_open's own migrations).
"""

import os
import subprocess

import ghtest
import qctest

PGMIGRATE = os.path.join(ghtest.BUILD, "tests", "tools", "gh-pgmigrate")
PGCONN = os.path.join(ghtest.BUILD, "tests", "tools", "gh-pgconn")

# SQLite's declared type -> PostgreSQL's information_schema data_type
TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}


def migrate(url, host=""):
    return subprocess.run([PGMIGRATE, url, host], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


def sqlite_schema(db):
    """{table: [(column, type, notnull)]} and the set of named indexes.
    A PRIMARY KEY column counts as NOT NULL (SQL says so; SQLite's
    table_info reports 0 for it)."""
    tables = {}
    for (name,) in ghtest.db_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                      "AND name NOT LIKE 'sqlite_%' ORDER BY name"):
        cols = ghtest.db_rows(db, "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
                              name)
        tables[name] = [(c, TYPES[t], bool(nn or pk)) for c, t, nn, pk in cols]
    indexes = {n for (n,) in ghtest.db_rows(db, "SELECT name FROM sqlite_master WHERE type = 'index' "
                                                "AND sql IS NOT NULL")}
    return tables, indexes


def pg_schema(pg, db):
    tables = {}
    for table, col, typ, nullable in pg.psql(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name <> 'gatehouse_schema' "
            "ORDER BY table_name, ordinal_position", db):
        tables.setdefault(table, []).append((col, typ, nullable == "NO"))
    # the indexes made by CREATE INDEX, not those behind a PRIMARY KEY or UNIQUE
    indexes = {n for (n,) in pg.psql(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "JOIN pg_namespace s ON s.oid = i.relnamespace WHERE s.nspname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", db)}
    return tables, indexes


def test_same_migration_numbers():
    def numbers(d):
        return sorted(f[:3] for f in os.listdir(os.path.join(ghtest.ROOT, "schema", d)) if f.endswith(".sql"))
    sq = numbers("sqlite")
    assert sq == numbers("postgresql")
    assert sq == ["%03d" % (i + 1) for i in range(len(sq))] and len(sq) >= 9


def test_both_backends_reach_the_same_tables_and_columns(postgres, pg_url, workdir):
    r = migrate(pg_url, "mx1")
    assert r.returncode == 0, r.stderr
    n = len(os.listdir(os.path.join(ghtest.ROOT, "schema", "postgresql")))
    assert r.stdout.strip() == "version %d" % n

    qs = qctest.QStore(os.path.join(workdir, "sq"))
    qs.run("list", check=True)  # quarctl opens (and so migrates) the SQLite store
    assert ghtest.db_rows(qs.db, "PRAGMA user_version")[0][0] == n

    db = pg_url.rsplit("/", 1)[1]
    sq_tables, sq_indexes = sqlite_schema(qs.db)
    pg_tables, pg_indexes = pg_schema(postgres, db)
    assert set(sq_tables) == set(pg_tables)
    for t in sq_tables:
        assert pg_tables[t] == sq_tables[t], t
    assert {"msgs", "msgrcpt", "events", "outbox", "report_rrd", "lists", "digest_pref", "digest_sent",
            "quar_blobs"} <= set(pg_tables)
    assert ("host", "text", True) in pg_tables["msgs"]
    assert sq_indexes == pg_indexes and "outbox_held" in pg_indexes

    # the CHECKs came along: a category or outbox state SQLite refuses, PostgreSQL refuses too
    for bad in ("INSERT INTO msgs (mail_id, time, sender, size, category) VALUES ('abcdefghijkl', 1, '', 1, 'nope')",
                "INSERT INTO outbox (created, kind, env_from, rcpt, body, next_try, state) "
                "VALUES (1, 'k', '', 'r', '', 1, 'x')"):
        try:
            postgres.psql(bad, db)
            raise AssertionError("accepted: " + bad)
        except RuntimeError as e:
            assert "violates check constraint" in str(e)
    postgres.psql("INSERT INTO outbox (created, kind, env_from, rcpt, body, next_try, state) "
                  "VALUES (1, 'k', '', 'r', '\\x00ff'::bytea, 1, 'held')", db)


def test_hosts_starting_at_once_migrate_once(postgres, pg_url):
    procs = [subprocess.Popen([PGMIGRATE, pg_url, "host%d" % i], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(6)]
    outs = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    n = len(os.listdir(os.path.join(ghtest.ROOT, "schema", "postgresql")))
    for out, err, rc in outs:
        assert rc == 0, err
        assert out.strip() == "version %d" % n
    db = pg_url.rsplit("/", 1)[1]
    rows = postgres.psql("SELECT version, host FROM gatehouse_schema ORDER BY version", db)
    assert [int(v) for v, _ in rows] == list(range(1, n + 1))
    # one process applied them all, in one transaction
    assert len({h for _, h in rows}) == 1

    # a later start changes nothing, and keeps the rows it finds
    postgres.psql("INSERT INTO lists (scope, kind, pattern, pkey, created_at) "
                  "VALUES ('global', 'allow', 'a@b.example', 'a@b.example', 1)", db)
    r = migrate(pg_url, "late")
    assert r.returncode == 0 and r.stdout.strip() == "version %d" % n, r.stderr
    assert postgres.psql("SELECT count(*) FROM gatehouse_schema", db) == [[str(n)]]
    assert postgres.psql("SELECT pattern FROM lists", db) == [["a@b.example"]]


def test_unreachable_database_fails(workdir):
    r = migrate("postgresql://gatehouse@127.0.0.1:%d/none?connect_timeout=2" % ghtest.free_port())
    assert r.returncode == 5 and "gh-pgmigrate:" in r.stderr


def test_connection_fails_while_down_and_recovers(workdir):
    pg = ghtest.Postgres(os.path.join(workdir, "pg")).start()
    try:
        url = pg.createdb("conn") + "?connect_timeout=2"
        p = subprocess.Popen([PGCONN, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

        def call(text):
            p.stdin.write("event %s\n" % text)
            p.stdin.flush()
            return p.stdout.readline().strip()

        try:
            assert call("before") == "ok"  # connects, migrates, prepares
            assert call("before2") == "ok"  # the same connection and statement
            pg.stop()
            down = call("while-down")
            assert down.startswith("fail: ") and len(down) > 10, down
            assert call("while-down2").startswith("fail: ")  # in the backoff, or refused again
            pg.start()
            ghtest.wait_for(lambda: call("after") == "ok", timeout=30, step=0.2, what="the connection to recover")
            assert call("after2") == "ok"
            p.stdin.write("quit\n")
            p.stdin.flush()
            assert p.wait(timeout=30) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        details = [d for (d,) in pg.psql("SELECT detail FROM events ORDER BY id", "conn")]
        assert details[:2] == ["before", "before2"] and details[-1] == "after2"
        assert "while-down" not in details and "while-down2" not in details
        assert set(details[2:-1]) == {"after"}
        assert pg.psql("SELECT count(*) FROM gatehouse_schema", "conn") == [[str(len(os.listdir(
            os.path.join(ghtest.ROOT, "schema", "postgresql"))))]]
    finally:
        pg.stop()
