import Foundation
import WharfProto

/// Upstream's OCI manifest annotations of a record (spec/agntcy-dir.md §4.3), which Lookup turns into
/// RecordMeta. Kept in this form (prefixed keys) so the store can serve them unchanged in an OCI view.
public struct RecordAnnotations: Sendable, Equatable {
    static let prefix = "org.agntcy.dir/"
    static let customPrefix = prefix + "custom."

    public var manifest: [String: String]

    public init(manifest: [String: String]) {
        self.manifest = manifest
    }

    /// What Push writes: `type` and `cid` always; the record's fields when it decodes as OASF v0.3.1/v0.7.0.
    init(cid: String, fields: OASFRecordFields?) {
        var manifest = [Self.prefix + "type": "record"]
        if let fields {
            func put(_ key: String, _ value: String) {
                if !value.isEmpty { manifest[Self.prefix + key] = value }
            }
            manifest[Self.prefix + "oasf-version"] = fields.version.rawValue
            put("name", fields.name)
            put("version", fields.recordVersion)
            put("description", fields.description)
            put("schema-version", fields.schemaVersion)
            put("created-at", fields.createdAt)
            put("authors", fields.authors.joined(separator: ","))
            put("skills", fields.skillNames.joined(separator: ","))
            put("locator-types", fields.locatorTypes.joined(separator: ","))
            put("extension-names", fields.extensionNames.joined(separator: ","))
            manifest[Self.prefix + "signed"] = fields.signed ? "true" : "false"
            if fields.signed {
                put("signature-algorithm", fields.signatureAlgorithm)
                put("signed-at", fields.signedAt)
            }
            put("previous-cid", fields.previousCID)
            for (key, value) in fields.annotations { manifest[Self.customPrefix + key] = value }
        }
        manifest[Self.prefix + "cid"] = cid
        self.manifest = manifest
    }

    /// Lookup's annotation map (upstream `parseManifestAnnotations`): the plain keys when non-empty, list
    /// keys with their counts, signature details only for signed records, then every `custom.*` key without
    /// its prefix (so a record annotation may overwrite a plain key, as upstream).
    public var lookupAnnotations: [String: String] {
        var result: [String: String] = [:]
        func copy(_ key: String) {
            if let value = manifest[Self.prefix + key], !value.isEmpty { result[key] = value }
        }
        func copyList(_ key: String) {
            guard let value = manifest[Self.prefix + key], !value.isEmpty else { return }
            result[key] = value
            let items = value.split(separator: ",", omittingEmptySubsequences: false)
                .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            result[key + "-count"] = String(items.count)
        }
        for key in ["name", "version", "description", "oasf-version"] { copy(key) }
        for key in ["authors", "skills", "locator-types", "extension-names"] { copyList(key) }
        copy("signed")
        if manifest[Self.prefix + "signed"] == "true" {
            copy("signature-algorithm")
            copy("signed-at")
        }
        copy("previous-cid")
        for (key, value) in manifest where key.hasPrefix(Self.customPrefix) {
            result[String(key.dropFirst(Self.customPrefix.count))] = value
        }
        return result
    }
}
