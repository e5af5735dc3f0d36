-- Which node writes (PostgreSQL only: several nodes share one database).
-- The node holding the advisory lock (7251, 1) is the writer; its row here
-- says where the others send their writes. A row counts only while its pid
-- holds that lock (read joined with pg_locks), so a dead writer's row is
-- ignored without anyone cleaning it up.
CREATE TABLE writer_lease (
    pid   integer     PRIMARY KEY,
    url   text        NOT NULL,
    since timestamptz NOT NULL
);
