import GRPCCore
import WharfRuntime

/// Credentials the test systems are started with.
public enum TestCredentials {
    /// `WHARF_ADMIN_TOKEN` of every service a test starts.
    public static let adminTokenText = "wharf-test-admin-token-2f6c1e0b"
    public static var adminToken: SharedSecret {
        guard let token = SharedSecret(adminTokenText) else { preconditionFailure("the test admin token is a valid secret") }
        return token
    }

    /// The admin token as a call's metadata (as the agntcy SDK sends it: through each call's metadata).
    public static var adminMetadata: Metadata { [AdminBoundaryInterceptor.metadataKey: .string(adminTokenText)] }

    /// Sends the admin token with every call.
    public static var adminInterceptors: [any ClientInterceptor] { [AdminTokenClientInterceptor(token: adminToken)] }

    /// What `scripts/wharf up` allows services to dial: loopback and any public host.
    public static let loopbackAndPublic = "127.0.0.1,localhost,[::1],*"
}
