import RoutingCore
import WharfRuntime

// The routing service: routing.v1.RoutingService. Configuration: README.md.
await WharfServiceMain.run(RoutingServer.self)
