/// The shared `jobs` schema, owned by WharfRuntime and applied by every service at start-up.
public enum JobMigrations {
    public static let set = MigrationSet(
        schema: "jobs",
        migrations: [
            Migration(
                version: 1, name: "create jobs table",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS jobs",
                    """
                    CREATE TABLE jobs.jobs (
                        id bigserial PRIMARY KEY,
                        kind text NOT NULL,
                        payload jsonb NOT NULL DEFAULT '{}'::jsonb,
                        unique_key text,
                        state text NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'running', 'succeeded', 'dead', 'cancelled')),
                        run_at timestamptz NOT NULL DEFAULT now(),
                        attempts integer NOT NULL DEFAULT 0,
                        max_attempts integer NOT NULL CHECK (max_attempts > 0),
                        lease_owner text,
                        lease_expires_at timestamptz,
                        last_error text,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        updated_at timestamptz NOT NULL DEFAULT now(),
                        finished_at timestamptz
                    )
                    """,
                    // At most one live (pending or running) job per (kind, unique_key): enqueue de-duplicates on it.
                    """
                    CREATE UNIQUE INDEX jobs_live_unique_key ON jobs.jobs (kind, unique_key)
                        WHERE unique_key IS NOT NULL AND state IN ('pending', 'running')
                    """,
                    "CREATE INDEX jobs_pending_due ON jobs.jobs (kind, run_at, id) WHERE state = 'pending'",
                    "CREATE INDEX jobs_running_lease ON jobs.jobs (kind, lease_expires_at) WHERE state = 'running'",
                ])
        ])
}
