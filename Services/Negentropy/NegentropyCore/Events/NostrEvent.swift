import Crypto
import Foundation
import NegentropyProtocol
import WharfEncoding
import WharfRuntime

/// A Nostr event (NIP-01) as clients send it: hex id, pubkey and sig, Unix-seconds `created_at`.
public struct NostrEvent: Sendable, Equatable, Codable {
    public var id: String
    public var pubkey: String
    public var created_at: Int64
    public var kind: Int
    public var tags: [[String]]
    public var content: String
    public var sig: String

    public init(id: String, pubkey: String, created_at: Int64, kind: Int, tags: [[String]], content: String, sig: String) {
        self.id = id
        self.pubkey = pubkey
        self.created_at = created_at
        self.kind = kind
        self.tags = tags
        self.content = content
        self.sig = sig
    }

    /// The bytes whose SHA-256 is the id: `[0,<pubkey>,<created_at>,<kind>,<tags>,<content>]`.
    public var idSerialization: [UInt8] {
        var output: [UInt8] = Array("[0,".utf8)
        NostrJSON.appendString(pubkey, to: &output)
        output.append(UInt8(ascii: ","))
        NostrJSON.appendNumber(created_at, to: &output)
        output.append(UInt8(ascii: ","))
        NostrJSON.appendNumber(kind, to: &output)
        output.append(UInt8(ascii: ","))
        NostrJSON.appendTags(tags, to: &output)
        output.append(UInt8(ascii: ","))
        NostrJSON.appendString(content, to: &output)
        output.append(UInt8(ascii: "]"))
        return output
    }

    /// The id this event's fields hash to (lower-case hex).
    public var computedID: String { Array(SHA256.hash(data: idSerialization)).hexString }

    /// The event as a JSON object, keys in NIP-01's order, strings escaped as for the id.
    public var json: [UInt8] {
        var output: [UInt8] = Array("{\"id\":".utf8)
        NostrJSON.appendString(id, to: &output)
        output += Array(",\"pubkey\":".utf8)
        NostrJSON.appendString(pubkey, to: &output)
        output += Array(",\"created_at\":".utf8)
        NostrJSON.appendNumber(created_at, to: &output)
        output += Array(",\"kind\":".utf8)
        NostrJSON.appendNumber(kind, to: &output)
        output += Array(",\"tags\":".utf8)
        NostrJSON.appendTags(tags, to: &output)
        output += Array(",\"content\":".utf8)
        NostrJSON.appendString(content, to: &output)
        output += Array(",\"sig\":".utf8)
        NostrJSON.appendString(sig, to: &output)
        output.append(UInt8(ascii: "}"))
        return output
    }

    public var eventID: EventID? { EventID(hex: id) }

    /// The reconciliation item of this event (valid events have a non-negative `created_at`).
    public var negentropyItem: NegentropyItem? {
        guard let id = eventID, created_at >= 0 else { return nil }
        return NegentropyItem(timestamp: UInt64(created_at), id: id)
    }

    /// The value of the first single-letter tag named `name`, and every such tag's first value: what `#x`
    /// filters match (NIP-01 indexes only single-letter tags, by their first value).
    public var indexedTags: [(name: String, value: String)] {
        tags.compactMap { tag in
            guard tag.count >= 2, tag[0].count == 1 else { return nil }
            return (tag[0], tag[1])
        }
    }
}
