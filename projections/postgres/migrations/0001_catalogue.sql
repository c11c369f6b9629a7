-- The catalogue of projection instances: which exist, with which tables,
-- at which checkpoint, and which version readers see.

-- One row per projection instance (projection, version). checkpoint is the
-- global event position of the last event reflected in the instance's
-- rows; it is updated in the same transaction as those rows.
CREATE TABLE projection_instances (
    projection  text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    fingerprint text        NOT NULL,
    schema      jsonb       NOT NULL,
    checkpoint  bigint      NOT NULL DEFAULT 0 CHECK (checkpoint >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, version)
);
COMMENT ON TABLE projection_instances IS 'Projection instances (projection, version) and their checkpoints: the global event position their rows reflect.';

-- The storage tables of each instance: <table>_v<version>.
CREATE TABLE projection_tables (
    storage_name text    PRIMARY KEY,
    projection   text    NOT NULL,
    version      integer NOT NULL,
    table_name   text    NOT NULL,
    internal     boolean NOT NULL,
    FOREIGN KEY (projection, version) REFERENCES projection_instances (projection, version) ON DELETE CASCADE,
    UNIQUE (projection, version, table_name)
);
COMMENT ON TABLE projection_tables IS 'The storage table of every projection table and version; the view named table_name selects from the active version''s.';

-- The version of each projection that readers see through the views.
CREATE TABLE projection_active (
    projection   text        PRIMARY KEY,
    version      integer     NOT NULL,
    activated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (projection, version) REFERENCES projection_instances (projection, version)
);
COMMENT ON TABLE projection_active IS 'The version of each projection that the views show (blue/green takeover).';
