import NegentropyCore
import WharfRuntime

// The negentropy service: orlysync.negentropy.v1.NegentropyService and the Nostr relay endpoint
// (NIP-01, NIP-77). Configuration: README.md.
await WharfServiceMain.run(NegentropyServer.self)
