import NIOCore

/// Cuts a stream into FastCDC chunks as bytes arrive, holding at most `maximumSize` bytes plus the latest
/// append: a chunk is cut only when a full window is buffered (or at the end), so the cuts equal those of
/// `FastCDC.cut` over the whole data.
public struct StreamingChunker: Sendable {
    public let parameters: FastCDC
    private var buffer: ByteBuffer

    public init(parameters: FastCDC = .tvix) {
        self.parameters = parameters
        buffer = ByteBufferAllocator().buffer(capacity: parameters.maximumSize * 2)
    }

    /// Bytes received but not yet handed out as a chunk.
    public var pendingCount: Int { buffer.readableBytes }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if buffer.readerIndex > 0 {
            // The chunks handed out are slices sharing this storage, so writing into it would make NIO copy
            // the whole buffer, consumed bytes included, on every append. Move only the unread tail
            // (< maximumSize) to a new buffer; the old one is freed once its chunks are stored.
            var fresh = ByteBufferAllocator().buffer(capacity: max(parameters.maximumSize * 2, buffer.readableBytes + bytes.count))
            fresh.writeBuffer(&buffer)
            buffer = fresh
        }
        buffer.writeBytes(bytes)
    }

    /// The next complete chunk, or nil when more input is needed. With `final`, the remaining bytes are
    /// cut too (the last chunk may be short).
    public mutating func nextChunk(final: Bool = false) -> ByteBuffer? {
        guard buffer.readableBytes >= parameters.maximumSize || (final && buffer.readableBytes > 0) else { return nil }
        let window = min(buffer.readableBytes, parameters.maximumSize)
        let length = buffer.withUnsafeReadableBytes { parameters.cut(UnsafeRawBufferPointer(rebasing: $0[0..<window])) }
        return buffer.readSlice(length: length)
    }
}
