import Foundation
import WharfRuntime

/// The admin token that administrative RPCs require (`wharf-admin-token`): `WHARF_ADMIN_TOKEN`, or the file
/// named by `WHARF_ADMIN_TOKEN_FILE`, or `admin-token` in the launcher's state folder (`WHARF_STATE_DIR`,
/// default `.wharf`), which `scripts/wharf up` writes (mode 0600) in the checkout it is run from.
enum AdminCredential {
    static func load(environment: [String: String]) throws -> SharedSecret {
        let localFile = (environment["WHARF_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? ".wharf") + "/admin-token"
        let reader = EnvironmentReader(environment: environment)
        if let secret = reader.secret("WHARF_ADMIN_TOKEN") { return secret }
        do {
            try reader.validate()
        } catch {
            throw CommandFailure.configuration("\(error)")
        }
        guard let contents = FileManager.default.contents(atPath: localFile) else {
            throw CommandFailure.configuration(
                "this command needs the admin token: set WHARF_ADMIN_TOKEN or WHARF_ADMIN_TOKEN_FILE, or run it where scripts/wharf up wrote \(localFile)"
            )
        }
        let text = String(decoding: contents, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let secret = SharedSecret(text) else {
            throw CommandFailure.configuration("\(localFile): the admin token must be \(SharedSecret.requirement)")
        }
        return secret
    }
}
