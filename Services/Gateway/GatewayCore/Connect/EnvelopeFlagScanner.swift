import NIOCore

/// Follows the 5-byte envelopes (flags, big-endian length) of a Connect streaming request across DATA frames
/// and reports a flags byte a client may not send: only 0x00 and 0x01 (compressed) are request flags; 0x02
/// marks the end-of-stream envelope, which only a server sends, and the other bits are reserved. Without the
/// check such an envelope went upstream as an ordinary message.
struct EnvelopeFlagScanner {
    /// Bytes of the current message still to come.
    private var remainingBody = 0
    /// The part of an envelope header read so far (headers can be split between frames).
    private var header: [UInt8] = []

    /// The first forbidden flags byte in `buffer`, or nil.
    mutating func scan(_ buffer: ByteBuffer) -> UInt8? {
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if remainingBody > 0 {
                let skipped = min(remainingBody, view.count)
                remainingBody -= skipped
                view = view.dropFirst(skipped)
                continue
            }
            let needed = 5 - header.count
            header += view.prefix(needed)
            view = view.dropFirst(needed)
            guard header.count == 5 else { continue }
            if header[0] & ~UInt8(0x01) != 0 { return header[0] }
            remainingBody = Int(header[1]) << 24 | Int(header[2]) << 16 | Int(header[3]) << 8 | Int(header[4])
            header.removeAll(keepingCapacity: true)
        }
        return nil
    }
}
