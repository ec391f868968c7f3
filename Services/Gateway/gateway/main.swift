import GatewayCore

// The gateway: routes every Wharf gRPC service by name, bridges Connect clients. Configuration: README.md.
await GatewayRunner.main()
