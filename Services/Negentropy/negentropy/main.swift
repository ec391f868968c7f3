import NegentropyCore
import WharfRuntime

// The negentropy service: orlysync.negentropy.v1.NegentropyService and the Nostr relay endpoint
// (NIP-01, NIP-77). Configuration: README.md.
await WharfServiceMain.run(
    service: "negentropy", defaults: NegentropyServer.defaults, migrations: NegentropyServer.migrations,
    settings: { NegentropySettings(reader: $0) },
    build: { host, settings in try await NegentropyServer.build(host: host, settings: settings).parts })
