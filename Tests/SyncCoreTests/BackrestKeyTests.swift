import Crypto
import Foundation
import SwiftProtobuf
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

/// The P-256 identities and frames of spec/wire-backrest.txt Appendix C.
struct BackrestVector {
    var scalar: [UInt8]
    var keyid: String
    var fixedWidthKeyid: String?
    var publicPEM: String
    var privatePEM: String
    var handshake: [UInt8]?
    var handshakeSignature: [UInt8]?

    static func load() throws -> [BackrestVector] {
        let text = try String(contentsOf: ProjectPaths.fixture("spec/wire-backrest.txt"), encoding: .utf8)
        let appendix = try #require(text.range(of: "APPENDIX C").map { String(text[$0.lowerBound...]) })
        return try appendix.components(separatedBy: "=== VECTOR").dropFirst().map { section in
            func value(after prefix: String) -> String? {
                section.split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(prefix) }
                    .map { String($0.trimmingCharacters(in: .whitespaces).dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
            }
            func pem(_ label: String) throws -> String {
                let begin = try #require(section.range(of: "-----BEGIN \(label)-----"))
                let end = try #require(section.range(of: "-----END \(label)-----", range: begin.upperBound..<section.endIndex))
                return String(section[begin.lowerBound..<end.upperBound]) + "\n"
            }
            let wrong = value(after: "(WRONG if you use fixed 32-byte X||Y:").map { String($0.split(separator: ")")[0]) }
            return BackrestVector(
                scalar: try hex(try #require(value(after: "private scalar d (hex, 32B):"))),
                keyid: try #require(value(after: "keyid:")),
                fixedWidthKeyid: wrong,
                publicPEM: try pem("EC PUBLIC"), privatePEM: try pem("EC PRIVATE"),
                handshake: try value(after: "serialized SyncStreamItem (hex):").map(hex),
                handshakeSignature: try value(after: "signature (DER, hex):").map(hex))
        }
    }
}

func hex(_ text: String) throws -> [UInt8] {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { throw HexError() }
    return try stride(from: 0, to: digits.count, by: 2).map { index in
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { throw HexError() }
        return byte
    }
}

struct HexError: Error {}

@Suite("backrest identities: keyids, PEM and signatures as spec/wire-backrest.txt Appendix C")
struct BackrestKeyTests {
    @Test("both vectors: keyid (leading zero bytes stripped), PEM in both directions, the scalar's key")
    func vectors() throws {
        let vectors = try BackrestVector.load()
        #expect(vectors.count == 2)
        for vector in vectors {
            let identity = try BackrestIdentity(pem: vector.privatePEM)
            #expect(identity.publicKey.keyid == vector.keyid)
            #expect(identity.privatePEM == vector.privatePEM)
            #expect(identity.publicKey.pem == vector.publicPEM)
            let fromScalar = BackrestIdentity(try P256.Signing.PrivateKey(rawRepresentation: vector.scalar))
            #expect(fromScalar.publicKey.keyid == vector.keyid)
            let parsed = try BackrestPublicKey(pem: vector.publicPEM)
            #expect(parsed.keyid == vector.keyid)
            // Any PEM label parses, as Go's pem.Decode.
            let relabelled = vector.publicPEM.replacingOccurrences(of: "EC PUBLIC", with: "PUBLIC KEY")
            #expect(try BackrestPublicKey(pem: relabelled).keyid == vector.keyid)
        }
        // The short vector's Y has 31 significant bytes: hashing the fixed-width form gives another keyid.
        let short = vectors[1]
        #expect(short.fixedWidthKeyid != nil && short.fixedWidthKeyid != short.keyid)
        let raw = Array(try BackrestPublicKey(pem: short.publicPEM).key.rawRepresentation)
        let fixedWidth = Data(SHA256.hash(data: raw)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect("ecdsa." + fixedWidth == short.fixedWidthKeyid)
    }

    @Test("the vector handshake verifies over the bare payload, not over timestamp ‖ payload; frames serialize as listed")
    func handshakeVector() throws {
        let vector = try BackrestVector.load()[0]
        let item = try V1sync_SyncStreamItem(serializedBytes: try #require(vector.handshake))
        guard case .handshake(let handshake)? = item.action else { Issue.record("not a handshake: \(item)"); return }
        #expect(handshake.protocolVersion == 1)
        #expect(handshake.publicKey.keyid == vector.keyid)
        #expect(handshake.instanceID.keyid == vector.keyid)
        #expect(String(decoding: handshake.instanceID.payload, as: UTF8.self) == "test-client")
        #expect(handshake.instanceID.timestampMillis == 1_762_048_175_000)
        #expect(Array(handshake.instanceID.signature) == vector.handshakeSignature)
        let key = try BackrestPublicKey(pem: handshake.publicKey.ed25519Pub)
        #expect(key.isValidSignature(handshake.instanceID.signature, over: handshake.instanceID.payload))
        var prefixed = withUnsafeBytes(of: handshake.instanceID.timestampMillis.bigEndian) { Data($0) }
        prefixed.append(handshake.instanceID.payload)
        #expect(!key.isValidSignature(handshake.instanceID.signature, over: prefixed))
        // A signature made here verifies there, and a re-serialized handshake is byte-identical.
        let identity = try BackrestIdentity(pem: vector.privatePEM)
        let message = try identity.signedMessage(payload: Data("test-client".utf8))
        #expect(key.isValidSignature(message.signature, over: message.payload))
        #expect(try item.serializedBytes() as [UInt8] == vector.handshake)
        #expect(try V1sync_SyncStreamItem.with { $0.heartbeat = .init() }.serializedBytes() as [UInt8] == [0x22, 0x00])
        #expect(try V1sync_SyncStreamItem.with { $0.requestOperations = .init() }.serializedBytes() as [UInt8] == [0xA2, 0x01, 0x00])
        #expect(try V1sync_SyncStreamItem.with { $0.requestResources = .init() }.serializedBytes() as [UInt8] == [0xCA, 0x01, 0x00])
    }

    @Test("malformed keys are refused with a reason, never a trap")
    func malformedKeys() {
        #expect(throws: BackrestKeyError.self) { try BackrestPublicKey(pem: "") }
        #expect(throws: BackrestKeyError.self) { try BackrestPublicKey(pem: "-----BEGIN EC PUBLIC-----\n!!!!\n-----END EC PUBLIC-----\n") }
        #expect(throws: BackrestKeyError.self) { try BackrestPublicKey(pem: "-----BEGIN EC PUBLIC-----\nAAAA\n-----END EC PUBLIC-----\n") }
        #expect(throws: BackrestKeyError.self) { try BackrestIdentity(pem: "-----BEGIN EC PRIVATE-----\nMAA=\n-----END EC PRIVATE-----\n") }
        let key = BackrestIdentity.generate().publicKey
        #expect(!key.isValidSignature(Data([0x30, 0x00]), over: Data("x".utf8)))
        #expect(!key.isValidSignature(Data(), over: Data("x".utf8)))
    }
}
