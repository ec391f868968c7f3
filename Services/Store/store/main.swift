import StoreCore
import WharfRuntime

// The store service: agntcy.dir.store.v1.StoreService. Configuration: README.md.
await WharfServiceMain.run(
    service: "store", defaults: StoreServer.defaults, migrations: StoreServer.migrations,
    settings: { _ in () },
    build: { host, _ in StoreServer.parts(host: host) })
