import Crypto
import Foundation
import NegentropyProtocol
import WharfEncoding
import WharfRuntime
import WharfTestSupport

/// `Fixtures/testdata/negentropy_v1_vectors.json`: output of the C++ reference (hoytech/negentropy 6edb041).
struct NegentropyVectors: Decodable {
    struct VarintCase: Decodable {
        var n: UInt64
        var hex: String
    }

    struct FingerprintCase: Decodable {
        var ids: [String]
        var count: Int
        var fingerprint: String
    }

    /// `items` are `[timestamp, hex id]` pairs.
    struct SingleMessage: Decodable {
        var role: String
        var items: [[JSONScalar]]
        var op: String?
        var input: String?
        var output: String
    }

    struct Round: Decodable {
        var client_to_server: String
        var server_to_client: String
        var client_new_have: [String]
        var client_new_need: [String]
        var client_next: String?
    }

    struct Conversation: Decodable {
        var name: String
        var timestamp_rule: String
        var client_items_i: [Int]
        var server_items_i: [Int]
        var frame_size_limit_client: Int
        var frame_size_limit_server: Int
        var rounds: [Round]
        var final_have_i: [Int]
        var final_need_i: [Int]

        /// Item i of the conversation: id(i) = SHA-256 of the decimal string of i, timestamp by the rule.
        func item(_ i: Int) throws -> NegentropyItem {
            let timestamp: UInt64
            switch timestamp_rule {
            case "1700000000+i": timestamp = 1_700_000_000 + UInt64(i)
            case "1700000000+floor(i/4)": timestamp = 1_700_000_000 + UInt64(i / 4)
            default: throw TestSupportError("unknown timestamp rule \(timestamp_rule)")
            }
            return NegentropyItem(timestamp: timestamp, id: NegentropyVectors.id(i))
        }
    }

    var varint: [VarintCase]
    var fingerprint: [FingerprintCase]
    var single_messages: [SingleMessage]
    var conversations: [Conversation]

    static func load() throws -> NegentropyVectors {
        let data = try Data(contentsOf: ProjectPaths.fixture("testdata/negentropy_v1_vectors.json"))
        return try JSONDecoder().decode(NegentropyVectors.self, from: data)
    }

    static func id(_ i: Int) -> EventID {
        EventID(bytes: Array(SHA256.hash(data: Array(String(i).utf8))))!
    }
}

/// A number or a string inside a JSON array of mixed values.
enum JSONScalar: Decodable {
    case number(UInt64)
    case text(String)

    init(from decoder: any Swift.Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(UInt64.self) { self = .number(number) } else { self = .text(try container.decode(String.self)) }
    }

    var number: UInt64? { if case .number(let value) = self { value } else { nil } }
    var text: String? { if case .text(let value) = self { value } else { nil } }
}

extension Array where Element == UInt8 {
    init(hex: String) throws {
        guard let data = Data(hexString: hex) else { throw TestSupportError("not hex: \(hex)") }
        self = Array(data)
    }
}
