import SyncCore
import WharfRuntime

// The sync service: agntcy.dir.store.v1.SyncService (mirrors of remote Directories) and its progress.
// Configuration: README.md.
await WharfServiceMain.run(SyncServer.self)
