import BlobCore
import WharfRuntime

// The blob service: tvix.castore.v1 and snix.castore.v1 BlobService. Configuration: README.md.
await WharfServiceMain.run(
    service: "blob", defaults: BlobServer.defaults, migrations: BlobServer.migrations,
    settings: { BlobSettings(reader: $0) },
    build: { host, settings in try await BlobServer.parts(host: host, settings: settings) })
