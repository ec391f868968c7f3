import ServiceContracts
import WharfProto
import WharfRuntime

/// `WHARF_BACKREST_AUTHORIZED_CLIENTS`: clients added at start-up, separated by whitespace, each
/// `INSTANCE_ID=KEYID` followed by `;PERMISSION=SCOPE,SCOPE…` parts, e.g.
/// `laptop=ecdsa.05Bl…;read-operations=*;read-write-config=plan:daily`. Permission names as
/// `wharfctl backrest client add --permission`: read-operations, read-config, read-write-config.
enum BackrestClientSeed {
    struct Entry: Equatable {
        var instanceID: String
        var keyid: String
        var permissions: [V1_Multihost.Permission]
    }

    static func parse(_ text: String) throws(ConfigurationProblem) -> [Entry] {
        try text.split(whereSeparator: \.isWhitespace).map { entry throws(ConfigurationProblem) in
            let parts = entry.split(separator: ";").map(String.init)
            let identity = parts[0].split(separator: "=", maxSplits: 1).map(String.init)
            guard identity.count == 2 else {
                throw ConfigurationProblem("WHARF_BACKREST_AUTHORIZED_CLIENTS: \"\(parts[0])\" is not INSTANCE_ID=KEYID")
            }
            var permissions: [V1_Multihost.Permission] = []
            for part in parts.dropFirst() {
                guard let permission = BackrestPermissionText.permission(part) else {
                    throw ConfigurationProblem(
                        "WHARF_BACKREST_AUTHORIZED_CLIENTS: \"\(part)\" is not PERMISSION=SCOPE[,SCOPE…] "
                            + "(\(BackrestPermissionText.names))")
                }
                permissions.append(permission)
            }
            if let problem = BackrestClients.problem(instanceID: identity[0], keyid: identity[1], permissions: permissions) {
                throw ConfigurationProblem("WHARF_BACKREST_AUTHORIZED_CLIENTS: \(identity[0]): \(problem)")
            }
            return Entry(instanceID: identity[0], keyid: identity[1], permissions: permissions)
        }
    }
}
