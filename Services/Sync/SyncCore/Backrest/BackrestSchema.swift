import WharfRuntime

/// The backrest hub's tables (schema `backrest`): authorized clients, the operations they pushed, their
/// peer states, config pushes waiting for a client's next connection, and pairing tokens (protocol 3).
enum BackrestSchema {
    static let migrations = MigrationSet(
        schema: "backrest",
        migrations: [
            Migration(
                version: 1, name: "clients, operations, peer states, config pushes",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS backrest",
                    """
                    CREATE TABLE backrest.clients (
                        keyid text PRIMARY KEY,
                        instance_id text NOT NULL,
                        -- repeated v1.Multihost.Permission, as a serialized v1.Multihost.Peer
                        peer bytea NOT NULL,
                        added_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    // Hub-local ids and modnos come from sequences, as backrest's oplog numbers its rows; the peer's own
                    // numbers are kept next to them so that catch-up asks in the peer's numbering (spec §14).
                    "CREATE SEQUENCE backrest.operation_ids",
                    "CREATE SEQUENCE backrest.modnos",
                    """
                    CREATE TABLE backrest.operations (
                        id bigint PRIMARY KEY,
                        peer_keyid text NOT NULL,
                        original_id bigint NOT NULL,
                        original_flow_id bigint NOT NULL,
                        peer_modno bigint NOT NULL,
                        flow_id bigint NOT NULL,
                        modno bigint NOT NULL,
                        instance_id text NOT NULL,
                        repo_id text NOT NULL,
                        repo_guid text NOT NULL,
                        plan_id text NOT NULL,
                        snapshot_id text NOT NULL,
                        status integer NOT NULL,
                        start_time_ms bigint NOT NULL,
                        operation bytea NOT NULL,
                        UNIQUE (peer_keyid, original_id)
                    )
                    """,
                    "CREATE INDEX operations_flow ON backrest.operations (peer_keyid, original_flow_id, id)",
                    "CREATE INDEX operations_peer_modno ON backrest.operations (peer_keyid, peer_modno)",
                    """
                    CREATE TABLE backrest.peer_states (
                        keyid text PRIMARY KEY,
                        instance_id text NOT NULL,
                        state integer NOT NULL,
                        -- the whole v1sync.PeerState (known plans and repos, remote config, heartbeat)
                        peer_state bytea NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    """
                    CREATE TABLE backrest.config_pushes (
                        keyid text PRIMARY KEY,
                        set_config bytea NOT NULL,
                        requested_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                ]),
            Migration(
                version: 2, name: "pairing tokens (protocol 3)",
                sql: [
                    "ALTER TABLE backrest.clients ADD COLUMN paired_with_token text",
                    // The session that wrote a peer's state: an older session ending does not overwrite a newer one's.
                    "ALTER TABLE backrest.peer_states ADD COLUMN session_id text",
                    """
                    CREATE TABLE backrest.pairing_tokens (
                        id text PRIMARY KEY,
                        -- SHA-256 of the 64-hex secret: the secret itself is shown once and never stored
                        secret_sha256 bytea NOT NULL UNIQUE,
                        label text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        expires_at timestamptz NOT NULL,
                        max_uses integer NOT NULL,
                        uses integer NOT NULL DEFAULT 0,
                        -- repeated v1.Multihost.Permission, as a serialized v1.Multihost.Peer
                        permissions bytea NOT NULL,
                        revoked_at timestamptz
                    )
                    """,
                ]),
            Migration(
                version: 3, name: "shared repos (protocol 3)",
                sql: [
                    """
                    CREATE TABLE backrest.shared_repos (
                        id text PRIMARY KEY,
                        -- a serialized v1.Repo
                        repo bytea NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now()
                    )
                    """
                ]),
            Migration(
                version: 4, name: "operation kinds, operations by start time (the console's history)",
                sql: [
                    // NULL until OperationKindBackfill has read the row's operation (rows stored before version 4).
                    "ALTER TABLE backrest.operations ADD COLUMN kind text",
                    "CREATE INDEX operations_latest_kind ON backrest.operations (peer_keyid, plan_id, kind, start_time_ms DESC)",
                    "CREATE INDEX operations_peer_start ON backrest.operations (peer_keyid, start_time_ms DESC, id DESC)",
                    "CREATE INDEX operations_start ON backrest.operations (start_time_ms DESC, id DESC)",
                ]),
        ])
}
