import Foundation
import SwiftProtobuf
import WharfTestSupport

/// `Fixtures/testdata/agntcy_dir_cid_vectors.json`, the upstream CID vectors (vendored from ../shared/testdata).
struct CIDVectors: Decodable {
    struct Digest: Decodable {
        var data_utf8: String
        var sha256_hex: String
        var cid: String
    }

    struct Record: Decodable {
        var source: String
        var record: JSONText
        var canonical_json: String
        var sha256_hex: String
        var cid: String
    }

    struct Empty: Decodable {
        var canonical_json: String
        var cid: String
    }

    struct EdgeCase: Decodable {
        var input_json: String
        var canonical: String
    }

    var digest_vectors: [Digest]
    var record_vectors: [Record]
    var empty_object: Empty
    var canonicalization_edge_cases: [EdgeCase]

    static func load() throws -> CIDVectors {
        let url = ProjectPaths.fixture("testdata/agntcy_dir_cid_vectors.json")
        return try JSONDecoder().decode(CIDVectors.self, from: Data(contentsOf: url))
    }
}

/// A JSON value kept as its text, to be parsed by SwiftProtobuf into a `Struct` as a client's SDK would.
struct JSONText: Decodable {
    var text: String

    init(from decoder: any Swift.Decoder) throws {
        let object = try decoder.singleValueContainer().decode([String: JSONValue].self)
        text = String(decoding: try JSONEncoder().encode(object), as: UTF8.self)
    }

    func asStruct() throws -> Google_Protobuf_Struct { try Google_Protobuf_Struct(jsonString: text) }
}

/// Any JSON value through Codable (the vector records hold strings, integers, booleans, arrays, objects).
indirect enum JSONValue: Codable {
    case string(String), integer(Int), number(Double), bool(Bool), null, array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Swift.Decoder) throws {
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let flag = try? single.decode(Bool.self) {
            self = .bool(flag)
        } else if let integer = try? single.decode(Int.self) {
            self = .integer(integer)
        } else if let number = try? single.decode(Double.self) {
            self = .number(number)
        } else if let text = try? single.decode(String.self) {
            self = .string(text)
        } else if let array = try? single.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try single.decode([String: JSONValue].self))
        }
    }

    func encode(to encoder: any Swift.Encoder) throws {
        var single = encoder.singleValueContainer()
        switch self {
        case .string(let text): try single.encode(text)
        case .integer(let integer): try single.encode(integer)
        case .number(let number): try single.encode(number)
        case .bool(let flag): try single.encode(flag)
        case .null: try single.encodeNil()
        case .array(let array): try single.encode(array)
        case .object(let object): try single.encode(object)
        }
    }
}
