import SwiftProtobuf

/// The routing labels of a record, extracted as upstream v0.3.0 does (spec/agntcy-dir.md §7.2,
/// `GetAllLabels`): skills, domains, features (modules / extensions), locators, in that order, one label per
/// list element, duplicates kept. Only `schema_version` "v0.7.0" and "v0.3.1" records have labels.
public enum RecordLabels {
    public static let skillPrefix = "/skills/"
    public static let domainPrefix = "/domains/"
    public static let featurePrefix = "/features/"
    public static let locatorPrefix = "/locators/"
    static let featureExtensionPrefix = "schema.oasf.agntcy.org/features/"

    public static func of(_ data: Google_Protobuf_Struct) -> [String] {
        let fields = data.fields
        guard case .stringValue(let version)? = fields["schema_version"]?.kind else { return [] }
        var labels: [String] = []
        switch version {
        case "v0.7.0":
            labels += objects(fields["skills"]).map { skillPrefix + string($0["name"]) }
            labels += objects(fields["domains"]).map { domainPrefix + string($0["name"]) }
            labels += objects(fields["modules"]).map { featurePrefix + string($0["name"]) }
        case "v0.3.1":
            labels += objects(fields["skills"]).map { skill in
                let category = string(skill["category_name"])
                let kind = string(skill["class_name"])
                return skillPrefix + (kind.isEmpty ? category : category + "/" + kind)
            }
            labels += objects(fields["extensions"]).map { extensionObject in
                var name = Substring(string(extensionObject["name"]))
                if name.hasPrefix(featureExtensionPrefix) { name = name.dropFirst(featureExtensionPrefix.count) }
                return featurePrefix + name
            }
        default:
            return []
        }
        labels += objects(fields["locators"]).map { locatorPrefix + string($0["type"]) }
        return labels
    }

    /// The keys that make label matching exact set membership (and so a GIN index lookup):
    /// - `P/` for the label itself and each of its `/`-boundary prefixes P, so that "equals P or starts with
    ///   P/" (SKILL queries, legacy list labels) is "has key P/";
    /// - the locator label itself, for LOCATOR's exact match.
    public static func matchKeys(_ labels: [String]) -> Set<String> {
        var keys = Set<String>()
        for label in labels {
            keys.insert(label + "/")
            var prefix = ""
            for character in label.dropFirst() {
                if character == "/" { keys.insert("/" + prefix + "/") }
                prefix.append(character)
            }
            if label.hasPrefix(locatorPrefix) { keys.insert(label) }
        }
        return keys
    }

    private static func objects(_ value: Google_Protobuf_Value?) -> [[String: Google_Protobuf_Value]] {
        guard case .listValue(let list)? = value?.kind else { return [] }
        return list.values.map { element in
            if case .structValue(let object) = element.kind { return object.fields }
            return [:]
        }
    }

    private static func string(_ value: Google_Protobuf_Value?) -> String {
        if case .stringValue(let text)? = value?.kind { return text }
        return ""
    }
}
