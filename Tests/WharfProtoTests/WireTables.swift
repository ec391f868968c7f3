import Foundation

/// One field as a spec wire table states it.
struct ExpectedField: Equatable, CustomStringConvertible {
    var name: String
    /// Scalar type, fully or partly qualified message/enum name, or `map<K,V>`.
    var type: String
    var repeated: Bool
    /// Name of the real oneof the field belongs to, if the table says so.
    var oneof: String?
    /// proto3 `optional` (explicit presence).
    var optional: Bool

    var description: String {
        "\(name): \(repeated ? "repeated " : "")\(optional ? "optional " : "")\(type)\(oneof.map { " oneof \($0)" } ?? "")"
    }
}

/// Messages, enums and methods parsed from the spec's wire-*.txt tables.
struct WireTables {
    var messages: [String: [Int: ExpectedField]] = [:]
    var enums: [String: [String: Int]] = [:]
    /// path → (request type, response type, client streams, server streams)
    var methods: [String: (request: String, response: String)] = [:]

    static func normalizeType(_ raw: String) -> String {
        var type = raw.trimmingCharacters(in: .whitespaces)
        for prefix in ["message ", "enum "] where type.hasPrefix(prefix) { type.removeFirst(prefix.count) }
        return type.replacingOccurrences(of: " ", with: "")
    }

    /// wire-agntcy.txt (Parts A and B; Appendix C describes a package Wharf does not serve) and
    /// wire-backrest.txt (the seed closure and Appendix A; Appendix B is the incompatible v1.13 protocol).
    static func parseTabular(_ text: String, stopAt marker: String) -> WireTables {
        var tables = WireTables()
        var message: String?
        var enumeration: String?
        let messageHeader = /^MESSAGE\s+([\w.]+)/
        let enumHeader = /^ENUM\s+([\w.]+)/
        let field = /^\s+#(\d+)\s+(\w+)\s*:\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|/
        let enumValueNumberFirst = /^\s+(\d+)\s*=\s*(\w+)\s*$/
        let enumValueNameFirst = /^\s+([A-Z][A-Z0-9_]*)\s+=\s+(\d+)\s*$/
        let method = /(\/[\w.]+\/\w+)\s+.*?request=(?:stream )?([\w.]+)\s+response=(?:stream )?([\w.]+)/
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.contains(marker) { break }
            if let match = line.firstMatch(of: method) {
                tables.methods[String(match.1)] = (String(match.2), String(match.3))
            }
            if let match = line.firstMatch(of: messageHeader) {
                message = String(match.1)
                enumeration = nil
                tables.messages[message!, default: [:]] = tables.messages[message!] ?? [:]
                continue
            }
            if let match = line.firstMatch(of: enumHeader) {
                enumeration = String(match.1)
                message = nil
                continue
            }
            if let first = line.first, !first.isWhitespace {
                message = nil
                enumeration = nil
                continue
            }
            if let message, let match = line.firstMatch(of: field) {
                let label = String(match.4)
                var oneof: String?
                if let oneofMatch = label.firstMatch(of: /^oneof (\w+)/) { oneof = String(oneofMatch.1) }
                let type = normalizeType(String(match.3))
                tables.messages[message, default: [:]][Int(match.1)!] = ExpectedField(
                    name: String(match.2), type: type,
                    repeated: label.hasPrefix("repeated") && !type.hasPrefix("map<"), oneof: oneof,
                    optional: label.hasPrefix("optional"))
            } else if let enumeration {
                if let match = line.firstMatch(of: enumValueNumberFirst) {
                    tables.enums[enumeration, default: [:]][String(match.2)] = Int(match.1)!
                } else if let match = line.firstMatch(of: enumValueNameFirst) {
                    tables.enums[enumeration, default: [:]][String(match.1)] = Int(match.2)!
                }
            }
        }
        return tables
    }

    /// wire-orly.txt sections 2-3 (column tables; package given by the section title) and section 1's
    /// method table.
    static func parseOrly(_ text: String) -> WireTables {
        var tables = WireTables()
        var package: String?
        var message: String?
        let section = /^\d+\. MESSAGES: ([\w.]+)/
        let header = /^  ([A-Z]\w*)\s*(?:\(.*\)|no fields)?\s*$/
        let field = /^   (\d+)\s+(\w+)\s+(map<[^>]+>|\S+)\s+(.*?)\s+0x[0-9a-f]{2}/
        let inline = /(\d+) (\w+) (\w+) 0x[0-9a-f]{2}/
        let method = /^  \w+\s+(\/orlysync[\w.\/]+)\s+([\w.]+)\s+(?:stream )?([\w.]+)\s*$/
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if line.hasPrefix("4. STATUS CODES") { break }
            if let match = line.firstMatch(of: method) {
                tables.methods[String(match.1)] = (String(match.2), String(match.3))
                continue
            }
            if let match = line.firstMatch(of: section) {
                package = String(match.1)
                continue
            }
            guard let package else { continue }
            if let match = line.firstMatch(of: header) {
                message = "\(package).\(match.1)"
                tables.messages[message!] = tables.messages[message!] ?? [:]
                continue
            }
            guard let message else { continue }
            if line.hasPrefix("   1 ") && line.contains(" | ") {
                // One-line tables: "1 node_id string 0x0a | 2 relay_url string 0x12 | ..."
                for part in line.split(separator: "|") {
                    if let match = String(part).firstMatch(of: inline) {
                        tables.messages[message, default: [:]][Int(match.1)!] = ExpectedField(
                            name: String(match.2), type: String(match.3), repeated: false, oneof: nil, optional: false)
                    }
                }
            } else if let match = line.firstMatch(of: field) {
                let label = String(match.4)
                let type = normalizeType(String(match.3))
                tables.messages[message, default: [:]][Int(match.1)!] = ExpectedField(
                    name: String(match.2), type: type, repeated: label.contains("repeated"), oneof: nil,
                    optional: label.contains("proto3 optional"))
            }
        }
        return tables
    }

    /// wire-tvix.txt section 3, for package `package` (tvix.castore.v1 or snix.castore.v1, identical).
    static func parseTvix(_ text: String, package: String) -> WireTables {
        var tables = WireTables()
        var inSection = false
        var message: String?
        let header = /^  ([A-Z][\w.]*)(?:\s.*)?$/
        let field = /^\s{4,}(\d+)\s+(\w+)\s+(repeated\s+)?([\w.]+)\s/
        let method = /^  \w+\s+(\/tvix[\w.\/]+)\s+[\w-]+\s+(?:stream )?(\w+) -> (?:stream )?(\w+)/
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = String(rawLine)
            if let match = line.firstMatch(of: method) {
                let path = String(match.1).replacingOccurrences(of: "/tvix.castore.v1.", with: "/\(package).")
                tables.methods[path] = ("\(package).\(match.2)", "\(package).\(match.3)")
            }
            if line.hasPrefix("3. MESSAGES") { inSection = true; continue }
            if line.hasPrefix("4. GOLDEN") { break }
            guard inSection else { continue }
            if let match = line.firstMatch(of: header) {
                message = "\(package).\(match.1)"
                tables.messages[message!] = [:]
                continue
            }
            if let message, let match = line.firstMatch(of: field) {
                tables.messages[message, default: [:]][Int(match.1)!] = ExpectedField(
                    name: String(match.2), type: String(match.4), repeated: match.3 != nil, oneof: nil, optional: false)
            }
        }
        return tables
    }
}
