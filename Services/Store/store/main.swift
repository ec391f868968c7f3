import StoreCore
import WharfRuntime

// The store service: agntcy.dir.store.v1.StoreService, its read-only OCI registry, and Wharf's record
// reconciliation and registry credentials. Configuration: README.md.
await WharfServiceMain.run(
    service: "store", defaults: StoreServer.defaults, migrations: StoreServer.migrations,
    settings: { StoreSettings(reader: $0) },
    build: { host, settings in try await StoreServer.parts(host: host, settings: settings) })
