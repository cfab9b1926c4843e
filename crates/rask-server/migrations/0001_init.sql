-- The server's metadata: the catalog as the DDL statements that built it (replayed in order at
-- start), deployments with their state, and each deployment's state history. Portable SQL: the
-- same schema on SQLite and PostgreSQL.
CREATE TABLE catalog_statements (
    seq BIGINT PRIMARY KEY,
    sql_text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    sql_text TEXT NOT NULL,
    parallelism BIGINT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,
    pid BIGINT,
    restarts BIGINT NOT NULL,
    last_savepoint TEXT,
    failure TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE job_events (
    deployment_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    state TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);
