"""The schema as an ordered list of migrations; `PRAGMA user_version` is the index of the last applied.

Never edit a migration that has shipped: append a new one. Each runs in one transaction together
with the bump of `user_version`, so a crash mid-upgrade leaves the previous version intact.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the foundation
    """
    CREATE TABLE experiments (
        id                INTEGER PRIMARY KEY,
        name              TEXT NOT NULL,
        catalog           TEXT NOT NULL,
        parent_id         INTEGER REFERENCES experiments(id),
        modifications     TEXT NOT NULL DEFAULT '{}',
        hypothesis        TEXT NOT NULL DEFAULT '',
        research_question TEXT NOT NULL DEFAULT '',
        params            TEXT NOT NULL DEFAULT '{}',
        plan              TEXT NOT NULL DEFAULT '[]',
        seeds             INTEGER NOT NULL DEFAULT 1,
        deliverables      TEXT NOT NULL DEFAULT '[]',
        metadata          TEXT NOT NULL DEFAULT '{}',
        source            TEXT NOT NULL DEFAULT 'cli',
        status            TEXT NOT NULL,
        priority          INTEGER NOT NULL DEFAULT 0,
        rating            REAL,
        rating_breakdown  TEXT,
        reject_reason     TEXT,
        error             TEXT,
        git_sha           TEXT,
        created_at        REAL NOT NULL,
        updated_at        REAL NOT NULL,
        approved_at       REAL,
        started_at        REAL,
        finished_at       REAL
    );
    CREATE INDEX experiments_status ON experiments(status);
    CREATE INDEX experiments_parent ON experiments(parent_id);

    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        experiment_id     INTEGER NOT NULL REFERENCES experiments(id),
        catalog           TEXT NOT NULL,
        variant           TEXT NOT NULL,
        seed              INTEGER NOT NULL,
        params            TEXT NOT NULL DEFAULT '{}',
        variant_params    TEXT NOT NULL DEFAULT '{}',
        depends_on        TEXT NOT NULL DEFAULT '[]',
        is_baseline       INTEGER NOT NULL DEFAULT 0,
        status            TEXT NOT NULL,
        priority          INTEGER NOT NULL DEFAULT 0,
        attempt           INTEGER NOT NULL DEFAULT 0,
        max_attempts      INTEGER NOT NULL DEFAULT 2,
        device_kind       TEXT NOT NULL DEFAULT 'cpu',
        device            TEXT,
        timeout_s         REAL,
        mem_limit_bytes   INTEGER,
        pid               INTEGER,
        pid_start_time    REAL,
        exit_code         INTEGER,
        error             TEXT,
        run_dir           TEXT,
        ingest_offset     INTEGER NOT NULL DEFAULT 0,
        progress_done     REAL,
        progress_total    REAL,
        peak_rss_bytes    INTEGER,
        energy_kwh        REAL,
        energy_mode       TEXT,
        result            TEXT,
        created_at        REAL NOT NULL,
        queued_at         REAL,
        started_at        REAL,
        finished_at       REAL,
        updated_at        REAL NOT NULL
    );
    CREATE INDEX runs_experiment ON runs(experiment_id);
    CREATE INDEX runs_status ON runs(status);

    CREATE TABLE metrics (
        run_id   INTEGER NOT NULL REFERENCES runs(id),
        attempt  INTEGER NOT NULL,
        step     INTEGER NOT NULL,
        key      TEXT NOT NULL,
        value    REAL,
        t        REAL NOT NULL
    );
    CREATE INDEX metrics_curve ON metrics(run_id, key, step);

    CREATE TABLE messages (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER REFERENCES experiments(id),
        agent         TEXT NOT NULL,
        kind          TEXT NOT NULL DEFAULT 'say',
        text          TEXT NOT NULL DEFAULT '',
        tokens_in     INTEGER NOT NULL DEFAULT 0,
        tokens_out    INTEGER NOT NULL DEFAULT 0,
        cost_usd      REAL NOT NULL DEFAULT 0,
        backend       TEXT NOT NULL DEFAULT 'offline',
        streaming     INTEGER NOT NULL DEFAULT 0,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL
    );
    CREATE INDEX messages_experiment ON messages(experiment_id, id);

    CREATE TABLE events (
        id            INTEGER PRIMARY KEY,
        t             REAL NOT NULL,
        kind          TEXT NOT NULL,
        experiment_id INTEGER,
        run_id        INTEGER,
        message       TEXT NOT NULL,
        data          TEXT
    );
    CREATE INDEX events_experiment ON events(experiment_id, id);

    CREATE TABLE system_samples (
        id         INTEGER PRIMARY KEY,
        t          REAL NOT NULL,
        cpu_pct    REAL NOT NULL,
        mem_used   INTEGER NOT NULL,
        mem_total  INTEGER NOT NULL,
        gpus       TEXT NOT NULL DEFAULT '[]'
    );

    CREATE TABLE requests (
        id          INTEGER PRIMARY KEY,
        t           REAL NOT NULL,
        kind        TEXT NOT NULL,
        target_kind TEXT NOT NULL,
        target_id   INTEGER,
        payload     TEXT NOT NULL DEFAULT '{}',
        origin      TEXT NOT NULL DEFAULT 'cli',
        status      TEXT NOT NULL DEFAULT 'pending',
        response    TEXT,
        handled_at  REAL
    );
    CREATE INDEX requests_pending ON requests(status, id);

    CREATE TABLE settings (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE engine (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        pid          INTEGER NOT NULL,
        host         TEXT NOT NULL,
        started_at   REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        stopped_at   REAL,
        version      TEXT NOT NULL
    );
    """,
    # 2: the research team: sprints claimed by one host at a time, and the findings
    """
    CREATE TABLE sprints (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER REFERENCES experiments(id),
        stage         TEXT NOT NULL,
        topic         TEXT NOT NULL DEFAULT '',
        autonomy      INTEGER NOT NULL,
        backend       TEXT NOT NULL DEFAULT 'offline',
        host          TEXT,
        heartbeat_at  REAL,
        note          TEXT NOT NULL DEFAULT '',
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        finished_at   REAL
    );
    CREATE INDEX sprints_stage ON sprints(stage);
    CREATE UNIQUE INDEX sprints_experiment ON sprints(experiment_id) WHERE experiment_id IS NOT NULL;
    CREATE UNIQUE INDEX sprints_one_discussion ON sprints(stage) WHERE stage = 'discussing';

    CREATE TABLE findings (
        id            INTEGER PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        catalog       TEXT NOT NULL,
        variant       TEXT,
        kind          TEXT NOT NULL,
        text          TEXT NOT NULL,
        data          TEXT NOT NULL DEFAULT '{}',
        created_at    REAL NOT NULL
    );
    CREATE INDEX findings_experiment ON findings(experiment_id, id);
    CREATE INDEX findings_catalog ON findings(catalog, id);
    """,
    # 3: the health of language-model endpoints, shared by every process of the lab
    """
    CREATE TABLE llm_endpoints (
        endpoint   TEXT PRIMARY KEY,
        label      TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('ok', 'degraded')),
        reason     TEXT NOT NULL DEFAULT '',
        since      REAL,
        retry_at   REAL,
        failures   INTEGER NOT NULL DEFAULT 0,
        updated_at REAL NOT NULL
    );
    """,
    # 4: where a run executes: the executor that started it ("local" or "ray") and, for a Ray
    # job, its submission id, so a restarted engine re-attaches to the job by id
    """
    ALTER TABLE runs ADD COLUMN executor TEXT;
    ALTER TABLE runs ADD COLUMN job_id TEXT;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
