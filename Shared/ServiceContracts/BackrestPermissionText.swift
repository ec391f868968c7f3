import WharfProto

/// backrest multihost permissions as people type them: `read-operations=*`, `read-write-config=plan:daily,repo:nas`
/// (names also as the proto spells them, `PERMISSION_READ_CONFIG`). One spelling for the hub's
/// WHARF_BACKREST_AUTHORIZED_CLIENTS and for `wharfctl backrest client add --permission`.
public enum BackrestPermissionText {
    public static let names = "read-operations, read-config, read-write-config or receive-shared-repos"
    /// PERMISSION_RECEIVE_SHARED_REPOS (backrest 1.13+), past the 1.11–1.12 enum Wharf's proto has.
    public static let receiveSharedRepos = V1_Multihost.Permission.TypeEnum.UNRECOGNIZED(4)

    public static func type(named name: String) -> V1_Multihost.Permission.TypeEnum? {
        switch name.lowercased().replacingOccurrences(of: "_", with: "-") {
        case "read-operations", "permission-read-operations": .permissionReadOperations
        case "read-config", "permission-read-config": .permissionReadConfig
        case "read-write-config", "permission-read-write-config": .permissionReadWriteConfig
        case "receive-shared-repos", "permission-receive-shared-repos": receiveSharedRepos
        default: nil
        }
    }

    public static func name(of type: V1_Multihost.Permission.TypeEnum) -> String {
        switch type {
        case .permissionReadOperations: "read-operations"
        case .permissionReadConfig: "read-config"
        case .permissionReadWriteConfig: "read-write-config"
        case receiveSharedRepos: "receive-shared-repos"
        default: "unknown-\(type.rawValue)"
        }
    }

    /// `PERMISSION=SCOPE[,SCOPE…]`, or nil when it is not one.
    public static func permission(_ text: String) -> V1_Multihost.Permission? {
        let pieces = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard pieces.count == 2, let type = type(named: pieces[0]) else { return nil }
        return .with {
            $0.type = type; $0.scopes = pieces[1].split(separator: ",").map(String.init)
        }
    }

    /// The text form of `permission`, which `permission(_:)` reads back.
    public static func text(_ permission: V1_Multihost.Permission) -> String {
        "\(name(of: permission.type))=\(permission.scopes.joined(separator: ","))"
    }
}
