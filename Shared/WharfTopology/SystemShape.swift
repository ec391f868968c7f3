import GRPCCore
import WharfProto

/// The executables a Wharf system is made of.
public enum WharfComponent: String, CaseIterable, Sendable {
    case store, sync, routing, blob, negentropy, gateway
}

/// A listener of a component beside gRPC and metrics (the relay's WebSocket, the store's OCI registry).
public struct HTTPListener: Sendable, Equatable {
    /// As `scripts/wharf status` names it.
    public let name: String
    /// The container port's name in k8s/.
    public let portName: String
    /// The variable that sets its address.
    public let variable: String
    public let port: Int
}

/// What one component serves and where, by default.
public struct ComponentShape: Sendable {
    public let component: WharfComponent
    public let grpcPort: Int
    public let metricsPort: Int
    public let listeners: [HTTPListener]
    /// The gRPC services it serves (health aside), named by the generated descriptors.
    public let services: [ServiceDescriptor]

    public var name: String { component.rawValue }
    public var serviceNames: [String] { services.map(\.fullyQualifiedService) }
}

/// The one description of the system's shape: which executable serves which gRPC services, on which default
/// ports. The gateway's default routes, `wharfctl topology` (which the launcher asks) and the services'
/// default ports come from here; docker-compose.yml, k8s/ and the README are checked against it by
/// `SystemShapeTests`, so a service moved or added here and nowhere else fails the tests.
public enum SystemShape {
    /// The store's read-only OCI registry.
    public static let ociRegistryPort = 5000
    /// The negentropy service's NIP-01/NIP-77 WebSocket relay.
    public static let relayPort = 7777
    /// The console's web pages (HTTP; not a gRPC component: it reads the others through the gateway).
    public static let consolePort = 8088
    /// The console's own metrics endpoint.
    public static let consoleMetricsPort = 9106

    public static let store = ComponentShape(
        component: .store, grpcPort: 50051, metricsPort: 9101,
        listeners: [HTTPListener(name: "store-oci", portName: "oci", variable: "WHARF_STORE_OCI_LISTEN", port: ociRegistryPort)],
        services: [
            Agntcy_Dir_Store_V1_StoreService.descriptor, Wharf_Store_V1_RecordReconciliation.descriptor,
            Wharf_Store_V1_RecordTransfer.descriptor, Wharf_Store_V1_RegistryCredentials.descriptor,
            Wharf_Store_V1_RecordCatalog.descriptor,
        ])
    public static let sync = ComponentShape(
        component: .sync, grpcPort: 50052, metricsPort: 9102, listeners: [],
        services: [
            Agntcy_Dir_Store_V1_SyncService.descriptor, Wharf_Sync_V1_SyncProgress.descriptor,
            V1sync_BackrestSyncService.descriptor, V1sync_BackrestSyncStateService.descriptor, Wharf_Sync_V1_BackrestHub.descriptor,
        ])
    public static let routing = ComponentShape(
        component: .routing, grpcPort: 50053, metricsPort: 9103, listeners: [],
        services: [
            Routing_V1_RoutingService.descriptor, Wharf_Routing_V1_RecordPublishing.descriptor,
            Wharf_Routing_V1_PeerAnnouncements.descriptor,
        ])
    public static let blob = ComponentShape(
        component: .blob, grpcPort: 50054, metricsPort: 9104, listeners: [],
        services: [Tvix_Castore_V1_BlobService.descriptor, Snix_Castore_V1_BlobService.descriptor])
    public static let negentropy = ComponentShape(
        component: .negentropy, grpcPort: 50055, metricsPort: 9105,
        listeners: [HTTPListener(name: "negentropy-relay", portName: "relay", variable: "WHARF_RELAY_LISTEN", port: relayPort)],
        services: [Orlysync_Negentropy_V1_NegentropyService.descriptor, Wharf_Negentropy_V1_RelayActivity.descriptor])
    /// The gateway answers its own status service and health; every other service it routes.
    public static let gateway = ComponentShape(
        component: .gateway, grpcPort: 50050, metricsPort: 9100, listeners: [],
        services: [Wharf_Gateway_V1_GatewayStatus.descriptor])

    /// Every component in start order: routing reads the store, sync writes to both, the gateway probes all.
    public static let components: [ComponentShape] = [store, routing, sync, blob, negentropy, gateway]

    /// The components behind the gateway.
    public static var routed: [ComponentShape] { components.filter { $0.component != .gateway } }

    public static func shape(of component: WharfComponent) -> ComponentShape {
        switch component {
        case .store: store
        case .sync: sync
        case .routing: routing
        case .blob: blob
        case .negentropy: negentropy
        case .gateway: gateway
        }
    }

    /// The component that serves `service`, if any does.
    public static func component(serving service: String) -> WharfComponent? {
        routed.first { $0.serviceNames.contains(service) }?.component
    }

    /// `WHARF_GATEWAY_ROUTES` for a system whose components are reached at `address(component)`
    /// (`host:port`, or `dns:host:port`): every service of every routed component.
    public static func gatewayRoutes(_ address: (ComponentShape) -> String) -> String {
        routed.flatMap { shape in shape.serviceNames.map { "\($0)=\(address(shape))" } }.joined(separator: ",")
    }

    /// The routes of a system on one host with every default port moved by `portOffset` (what `scripts/wharf up`
    /// runs, `WHARF_PORT_OFFSET` for a second system).
    public static func gatewayRoutes(host: String, portOffset: Int = 0) -> String {
        gatewayRoutes { "\(host):\($0.grpcPort + portOffset)" }
    }
}
