/// An inbound `["EVENT", {…}]` frame decoded in one pass (the relay's hot path: a client loading a relay sends
/// little else). A frame this does not decode goes the general way, which names what is wrong with it.
struct EventFrame: Decodable {
    var event: NostrEvent

    init(from decoder: any Decoder) throws {
        var container = try decoder.unkeyedContainer()
        guard try container.decode(String.self) == "EVENT" else {
            throw DecodingError.dataCorrupted(.init(codingPath: container.codingPath, debugDescription: "not an EVENT frame"))
        }
        event = try container.decode(NostrEvent.self)
    }

    /// Whether a text frame is an EVENT, from its first bytes: `[`, then the string `"EVENT"`, whitespace allowed
    /// between (a verb written with escapes takes the general path, which also understands it).
    static func isEvent(_ text: String) -> Bool {
        var bytes = text.utf8.makeIterator()
        func next() -> UInt8? {
            while let byte = bytes.next() {
                if byte != 0x20, byte != 0x09, byte != 0x0A, byte != 0x0D { return byte }
            }
            return nil
        }
        guard next() == UInt8(ascii: "[") else { return false }
        guard next() == UInt8(ascii: "\"") else { return false }
        for expected in "EVENT\"".utf8 where bytes.next() != expected { return false }
        return next() == UInt8(ascii: ",")
    }
}
