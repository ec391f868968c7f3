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
        // Move the unread bytes to the front only when the consumed part is large, not on every append.
        if buffer.readerIndex >= parameters.maximumSize * 2 { buffer.discardReadBytes() }
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
