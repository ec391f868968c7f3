import RoutingCore
import WharfRuntime

// The routing service: routing.v1.RoutingService. Configuration: README.md.
await WharfServiceMain.run(
    service: "routing", defaults: RoutingServer.defaults, migrations: RoutingServer.migrations,
    settings: { RoutingSettings(reader: $0) },
    build: { host, settings in try await RoutingServer.parts(host: host, settings: settings) })
