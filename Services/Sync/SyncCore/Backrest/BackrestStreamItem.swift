import GRPCCore
import GRPCProtobuf
import WharfProto

/// One item of `/v1sync.BackrestSyncService/Sync`, decoded with the schema of the protocol it belongs to. Both
/// protocols share the path, but protocol 3 (backrest 1.13+) reused field numbers with other meanings, so no one
/// schema reads both. Protocol 3's outer items carry only `establish_shared_secret` (2) or `encrypted` (5), field
/// numbers protocol 1 never used: an item whose first field is one of them is protocol 3's, any other protocol 1's.
/// A session holds to the version of its first item (spec §16a).
public enum BackrestStreamItem: Sendable {
    case protocol1(V1sync_SyncStreamItem)
    case protocol3(Wharf_Backrest_Protocol3_SyncStreamItem)

    static let protocol3OuterFields: Set<UInt64> = [2, 5]

    /// Whether serialized bytes open with one of protocol 3's outer fields (an unparseable key is protocol 1's
    /// problem: its decoder names it).
    static func opensWithProtocol3Field(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var key: UInt64 = 0
        for (index, byte) in bytes.prefix(10).enumerated() {
            key |= UInt64(byte & 0x7F) << (7 * UInt64(index))
            if byte & 0x80 == 0 { return protocol3OuterFields.contains(key >> 3) }
        }
        return false
    }
}

struct BackrestStreamItemDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> BackrestStreamItem {
        if serializedMessageBytes.withUnsafeBytes(BackrestStreamItem.opensWithProtocol3Field) {
            return .protocol3(try ProtobufDeserializer<Wharf_Backrest_Protocol3_SyncStreamItem>().deserialize(serializedMessageBytes))
        }
        return .protocol1(try ProtobufDeserializer<V1sync_SyncStreamItem>().deserialize(serializedMessageBytes))
    }
}

struct BackrestStreamItemSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: BackrestStreamItem) throws -> Bytes {
        switch message {
        case .protocol1(let item): try ProtobufSerializer<V1sync_SyncStreamItem>().serialize(item)
        case .protocol3(let item): try ProtobufSerializer<Wharf_Backrest_Protocol3_SyncStreamItem>().serialize(item)
        }
    }
}
