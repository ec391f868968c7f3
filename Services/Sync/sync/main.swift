import SyncCore
import WharfRuntime

// The sync service: agntcy.dir.store.v1.SyncService (mirrors of remote Directories) and its progress.
// Configuration: README.md.
await WharfServiceMain.run(
    service: "sync", defaults: SyncServer.defaults, migrations: SyncServer.migrations,
    settings: { SyncSettings(reader: $0) },
    build: { host, settings in try await SyncServer.parts(host: host, settings: settings) })
