/// Cuts a stream into FastCDC chunks as bytes arrive, holding at most `maximumSize` bytes plus the
/// latest append: a chunk is cut only when a full window is buffered (or at the end), so the cuts equal
/// those of `FastCDC.cut` over the whole data.
public struct StreamingChunker: Sendable {
    public let parameters: FastCDC
    private var buffer: [UInt8] = []
    private var start = 0

    public init(parameters: FastCDC = .tvix) {
        self.parameters = parameters
        buffer.reserveCapacity(parameters.maximumSize * 2)
    }

    /// Bytes received but not yet emitted as a chunk.
    public var pendingCount: Int { buffer.count - start }

    /// Appends `bytes` and calls `emit` for every chunk that is now complete.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        compact()
        buffer.append(contentsOf: bytes)
        try drain(final: false, emit: emit)
    }

    /// Emits what remains (the last chunk, possibly short) at the end of the stream.
    public mutating func finish(emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try drain(final: true, emit: emit)
        buffer.removeAll(keepingCapacity: true)
        start = 0
    }

    private mutating func drain(final: Bool, emit: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let parameters = self.parameters
        while pendingCount >= parameters.maximumSize || (final && pendingCount > 0) {
            let length = try buffer.withUnsafeBytes { all -> Int in
                let window = UnsafeRawBufferPointer(rebasing: all[start..<min(buffer.count, start + parameters.maximumSize)])
                let length = parameters.cut(window)
                try emit(UnsafeRawBufferPointer(rebasing: window[0..<length]))
                return length
            }
            start += length
        }
    }

    /// Drops emitted bytes from the front once they are a large share of the buffer.
    private mutating func compact() {
        if start > 0 && start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }
}
