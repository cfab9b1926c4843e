-- Secrets (connector passwords and the like), referenced from DDL as ${secret_values.NAME}:
-- kept apart from the catalog's statements, which store the reference, never the value.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    secret_value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
