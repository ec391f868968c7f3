import StoreCore
import WharfRuntime

// The store service: agntcy.dir.store.v1.StoreService, its read-only OCI registry, and Wharf's record
// reconciliation and registry credentials. Configuration: README.md.
await WharfServiceMain.run(StoreServer.self)
