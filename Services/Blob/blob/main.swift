import BlobCore
import WharfRuntime

// The blob service: tvix.castore.v1 and snix.castore.v1 BlobService. Configuration: README.md.
await WharfServiceMain.run(BlobServer.self)
