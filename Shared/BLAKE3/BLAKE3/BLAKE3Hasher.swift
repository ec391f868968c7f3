import BLAKE3Lanes
import Foundation

/// BLAKE3 (hash, keyed hash, derive key, extended output), incremental. Written from the BLAKE3
/// specification and the structure of its reference implementation: whole subtrees of a large update are
/// hashed by a SIMD kernel (many chunks, then many parent nodes, per call), a chaining-value stack merges
/// subtrees as input arrives, and nothing is allocated per update.
///
/// Feed large updates (≥ 16 KiB) for speed: an update hashes in parallel only the whole chunks it holds.
public final class BLAKE3Hasher {
    public static let outputLength = 32
    public static let keyLength = 32

    private static let chunkLength = BLAKE3Constants.chunkLength
    private static let blockLength = BLAKE3Constants.blockLength
    private static let maxDepth = 54  // 2^54 chunks = 2^64 bytes

    private let kernel: BLAKE3Kernel
    private let flags: UInt32
    /// key (8 words) | chunk CV (8) | chunk block buffer (16) | CV stack (maxDepth × 8)
    private let words: UnsafeMutablePointer<UInt32>
    private var key: UnsafeMutablePointer<UInt32> { words }
    private var chunkCV: UnsafeMutablePointer<UInt32> { words + 8 }
    private var chunkBuffer: UnsafeMutablePointer<UInt32> { words + 16 }
    private var stack: UnsafeMutablePointer<UInt32> { words + 32 }

    private var chunkCounter: UInt64 = 0
    private var bufferLength = 0
    private var blocksCompressed = 0
    private var stackLength = 0

    /// Plain hashing.
    public convenience init() {
        self.init(
            keyWords: [
                BLAKE3Constants.iv.0, BLAKE3Constants.iv.1, BLAKE3Constants.iv.2, BLAKE3Constants.iv.3,
                BLAKE3Constants.iv.4, BLAKE3Constants.iv.5, BLAKE3Constants.iv.6, BLAKE3Constants.iv.7,
            ],
            flags: 0)
    }

    /// Plain hashing with a specific SIMD kernel (tests and benchmarks compare kernels); it must be one
    /// of `BLAKE3Kernel.supportedByCPU`.
    public convenience init(kernel: BLAKE3Kernel) {
        precondition(BLAKE3Kernel.supportedByCPU.contains(kernel), "this CPU cannot run the \(kernel) kernel")
        self.init(
            keyWords: [
                BLAKE3Constants.iv.0, BLAKE3Constants.iv.1, BLAKE3Constants.iv.2, BLAKE3Constants.iv.3,
                BLAKE3Constants.iv.4, BLAKE3Constants.iv.5, BLAKE3Constants.iv.6, BLAKE3Constants.iv.7,
            ],
            flags: 0, kernel: kernel)
    }

    /// Keyed hashing (a MAC) with a 32-byte key.
    public convenience init(key: some Collection<UInt8>) throws(BLAKE3Error) {
        guard key.count == Self.keyLength else { throw BLAKE3Error.invalidKeyLength(key.count) }
        self.init(keyWords: Self.words(fromLittleEndian: Array(key)), flags: BLAKE3Constants.keyedHash)
    }

    /// Key derivation: hashes key material in the context `context` (hard-coded, globally unique, e.g.
    /// "example.com 2019-12-25 16:18:03 session tokens v1").
    public convenience init(deriveKeyContext context: String) {
        let contextHasher = BLAKE3Hasher(
            keyWords: [
                BLAKE3Constants.iv.0, BLAKE3Constants.iv.1, BLAKE3Constants.iv.2, BLAKE3Constants.iv.3,
                BLAKE3Constants.iv.4, BLAKE3Constants.iv.5, BLAKE3Constants.iv.6, BLAKE3Constants.iv.7,
            ],
            flags: BLAKE3Constants.deriveKeyContext)
        contextHasher.update(Array(context.utf8))
        let contextKey = contextHasher.finalize()
        self.init(keyWords: Self.words(fromLittleEndian: contextKey), flags: BLAKE3Constants.deriveKeyMaterial)
    }

    private init(keyWords: [UInt32], flags: UInt32, kernel: BLAKE3Kernel = .selected) {
        self.kernel = kernel
        self.flags = flags
        words = .allocate(capacity: 32 + Self.maxDepth * 8)
        words.initialize(repeating: 0, count: 32 + Self.maxDepth * 8)
        for index in 0..<8 { words[index] = keyWords[index] }
        resetChunk(counter: 0)
    }

    deinit {
        words.deallocate()
    }

    /// Hashes `bytes` in one call.
    public static func hash(_ bytes: some ContiguousBytes) -> [UInt8] {
        let hasher = BLAKE3Hasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    // MARK: - Input

    public func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func update(_ input: UnsafeRawBufferPointer) {
        guard var base = input.baseAddress, input.count > 0 else { return }
        var remaining = input.count
        // Finish a partial chunk first.
        if chunkStateLength > 0 {
            let take = min(Self.chunkLength - chunkStateLength, remaining)
            chunkUpdate(base, take)
            base += take
            remaining -= take
            guard remaining > 0 else { return }
            // The chunk is full and more input follows, so it is not the root.
            pushChunkCV()
        }
        // Hash the largest whole subtrees the position allows, keeping the last chunk (it may be the root).
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { pair in
            guard let pair = pair.baseAddress else { return }
            while remaining > Self.chunkLength {
                var subtreeLength = 1 << (Int.bitWidth - 1 - remaining.leadingZeroBitCount)
                let countSoFar = chunkCounter &* UInt64(Self.chunkLength)
                while UInt64(subtreeLength - 1) & countSoFar != 0 { subtreeLength /= 2 }
                let subtreeChunks = UInt64(subtreeLength / Self.chunkLength)
                if subtreeLength <= Self.chunkLength {
                    chunkUpdate(base, subtreeLength)
                    pushChunkCV()
                } else {
                    compressSubtreeToParentNode(base, length: subtreeLength, counter: chunkCounter, out: pair)
                    pushCV(pair, totalChunks: chunkCounter)
                    pushCV(pair + 8, totalChunks: chunkCounter + subtreeChunks / 2)
                    chunkCounter += subtreeChunks
                }
                base += subtreeLength
                remaining -= subtreeLength
            }
        }
        if remaining > 0 {
            chunkUpdate(base, remaining)
            mergeStack(totalChunks: chunkCounter)
        }
    }

    // MARK: - Output

    /// The 32-byte hash of everything so far (the hasher can keep taking input).
    public func finalize() -> [UInt8] {
        finalize(length: Self.outputLength)
    }

    /// `length` bytes of extended output (its first 32 bytes are `finalize()`).
    public func finalize(length: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            finalize(into: UnsafeMutableRawBufferPointer(buffer))
            initialized = length
        }
    }

    public func finalize(into output: UnsafeMutableRawBufferPointer) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { scratch in
            guard let scratch = scratch.baseAddress else { return }
            // Root node: input CV (8) | block (16) | counter, length, flags kept in locals.
            let cv = scratch
            let block = scratch + 8
            let out = scratch + 24
            var blockLength: UInt32
            var counter: UInt64
            var nodeFlags: UInt32
            var remainingCVs: Int
            if stackLength == 0 || chunkStateLength > 0 {
                // The current chunk (possibly empty) is the node, rolled up with every subtree on the stack.
                cv.update(from: chunkCV, count: 8)
                block.update(from: chunkBuffer, count: 16)
                blockLength = UInt32(bufferLength)
                counter = chunkCounter
                nodeFlags = flags | startFlag | BLAKE3Constants.chunkEnd
                remainingCVs = stackLength
            } else {
                // No partial chunk: the top two stack entries form the first parent.
                remainingCVs = stackLength - 2
                cv.update(from: key, count: 8)
                block.update(from: stack + remainingCVs * 8, count: 16)
                blockLength = 64
                counter = 0
                nodeFlags = flags | BLAKE3Constants.parent
            }
            while remainingCVs > 0 {
                remainingCVs -= 1
                BLAKE3Compress.compress(
                    cv: cv, block: block, counter: counter, blockLength: blockLength,
                    flags: nodeFlags, out: out)
                block.update(from: stack + remainingCVs * 8, count: 8)
                (block + 8).update(from: out, count: 8)
                cv.update(from: key, count: 8)
                blockLength = 64
                counter = 0
                nodeFlags = flags | BLAKE3Constants.parent
            }
            // Root output blocks: counter = output block index, ROOT flag.
            var produced = 0
            var outputBlock: UInt64 = 0
            while produced < output.count {
                BLAKE3Compress.compress(
                    cv: cv, block: block, counter: outputBlock, blockLength: blockLength,
                    flags: nodeFlags | BLAKE3Constants.root, out: out)
                let take = min(64, output.count - produced)
                for index in 0..<take {
                    output[produced + index] = UInt8(truncatingIfNeeded: out[index / 4] >> (8 * UInt32(index % 4)))
                }
                produced += take
                outputBlock += 1
            }
        }
    }

    // MARK: - Chunk state

    private var chunkStateLength: Int { blocksCompressed * Self.blockLength + bufferLength }
    private var startFlag: UInt32 { blocksCompressed == 0 ? BLAKE3Constants.chunkStart : 0 }

    private func resetChunk(counter: UInt64) {
        chunkCV.update(from: key, count: 8)
        chunkBuffer.update(repeating: 0, count: 16)
        chunkCounter = counter
        bufferLength = 0
        blocksCompressed = 0
    }

    /// Adds up to the rest of the current chunk's bytes; full blocks are compressed once more bytes follow.
    private func chunkUpdate(_ input: UnsafeRawPointer, _ length: Int) {
        var input = input
        var length = length
        let bufferBytes = UnsafeMutableRawPointer(chunkBuffer)
        if bufferLength > 0 {
            let take = min(Self.blockLength - bufferLength, length)
            (bufferBytes + bufferLength).copyMemory(from: input, byteCount: take)
            bufferLength += take
            input += take
            length -= take
            if length > 0 {
                compressChunkBlock(chunkBuffer)
                bufferLength = 0
                chunkBuffer.update(repeating: 0, count: 16)
            }
        }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { block in
            guard let block = block.baseAddress else { return }
            while length > Self.blockLength {
                UnsafeMutableRawPointer(block).copyMemory(from: input, byteCount: 64)
                compressChunkBlock(block)
                input += 64
                length -= 64
            }
        }
        if length > 0 {
            (bufferBytes + bufferLength).copyMemory(from: input, byteCount: length)
            bufferLength += length
        }
    }

    private func compressChunkBlock(_ block: UnsafePointer<UInt32>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { out in
            guard let out = out.baseAddress else { return }
            BLAKE3Compress.compress(
                cv: chunkCV, block: block, counter: chunkCounter, blockLength: 64,
                flags: flags | startFlag, out: out)
            chunkCV.update(from: out, count: 8)
        }
        blocksCompressed += 1
    }

    /// Finishes the (full, non-root) current chunk, pushes its CV and starts the next chunk.
    private func pushChunkCV() {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { out in
            guard let out = out.baseAddress else { return }
            BLAKE3Compress.compress(
                cv: chunkCV, block: chunkBuffer, counter: chunkCounter,
                blockLength: UInt32(bufferLength), flags: flags | startFlag | BLAKE3Constants.chunkEnd,
                out: out)
            pushCV(out, totalChunks: chunkCounter)
        }
        resetChunk(counter: chunkCounter + 1)
    }

    // MARK: - CV stack

    /// Merges completed subtrees: after `totalChunks` chunks the stack holds one CV per set bit.
    private func mergeStack(totalChunks: UInt64) {
        let target = totalChunks.nonzeroBitCount
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { out in
            guard let out = out.baseAddress else { return }
            while stackLength > target {
                let node = stack + (stackLength - 2) * 8
                BLAKE3Compress.compress(
                    cv: key, block: node, counter: 0, blockLength: 64,
                    flags: flags | BLAKE3Constants.parent, out: out)
                node.update(from: out, count: 8)
                stackLength -= 1
            }
        }
    }

    private func pushCV(_ cv: UnsafePointer<UInt32>, totalChunks: UInt64) {
        mergeStack(totalChunks: totalChunks)
        (stack + stackLength * 8).update(from: cv, count: 8)
        stackLength += 1
    }

    // MARK: - Whole subtrees, many nodes per kernel call

    /// Hashes a complete subtree of `length` bytes (a power-of-two number of chunks > 1) down to its two
    /// child CVs, written to `out` (16 words).
    private func compressSubtreeToParentNode(
        _ input: UnsafeRawPointer, length: Int, counter: UInt64,
        out: UnsafeMutablePointer<UInt32>
    ) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * 16 * 8) { buffers in
            guard let cvs = buffers.baseAddress else { return }
            let parents = cvs + 16 * 8
            var count = compressSubtreeWide(input, length: length, counter: counter, out: cvs)
            while count > 2 {
                count = compressParentsParallel(cvs, count: count, out: parents)
                cvs.update(from: parents, count: count * 8)
            }
            out.update(from: cvs, count: 16)
        }
    }

    /// Hashes the subtree to at most `degree` CVs (more parallelism per level), returning how many.
    private func compressSubtreeWide(
        _ input: UnsafeRawPointer, length: Int, counter: UInt64,
        out: UnsafeMutablePointer<UInt32>
    ) -> Int {
        let degree = kernel.degree
        if length <= degree * Self.chunkLength {
            return compressChunksParallel(input, length: length, counter: counter, out: out)
        }
        // Left subtree: the largest power-of-two number of whole chunks that leaves the right side non-empty.
        let fullChunks = (length - 1) / Self.chunkLength
        let leftLength = (1 << (Int.bitWidth - 1 - fullChunks.leadingZeroBitCount)) * Self.chunkLength
        return withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * 16 * 8) { buffer -> Int in
            guard let cvs = buffer.baseAddress else { return 0 }
            let leftCount = compressSubtreeWide(input, length: leftLength, counter: counter, out: cvs)
            // The left side is complete, so it produced exactly `degree` CVs; the right ones follow them.
            let rightCount = compressSubtreeWide(
                input + leftLength, length: length - leftLength,
                counter: counter + UInt64(leftLength / Self.chunkLength), out: cvs + degree * 8)
            if leftCount == 1 {
                out.update(from: cvs, count: 16)
                return 2
            }
            return compressParentsParallel(cvs, count: leftCount + rightCount, out: out)
        }
    }

    private func compressChunksParallel(
        _ input: UnsafeRawPointer, length: Int, counter: UInt64,
        out: UnsafeMutablePointer<UInt32>
    ) -> Int {
        let whole = length / Self.chunkLength
        withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: 16) { pointers in
            guard let pointers = pointers.baseAddress else { return }
            for index in 0..<whole { pointers[index] = input + index * Self.chunkLength }
            kernel.hashMany(
                inputs: pointers, count: whole, blocks: Self.chunkLength / Self.blockLength, key: key,
                counter: counter, incrementCounter: true, flags: flags,
                flagsStart: BLAKE3Constants.chunkStart, flagsEnd: BLAKE3Constants.chunkEnd, out: out)
        }
        let rest = length - whole * Self.chunkLength
        guard rest > 0 else { return whole }
        // A partial last chunk: hash it on its own (it is never the root here).
        let partial = BLAKE3Hasher(keyWords: Array(UnsafeBufferPointer(start: key, count: 8)), flags: flags, kernel: kernel)
        partial.chunkCounter = counter + UInt64(whole)
        partial.chunkUpdate(input + whole * Self.chunkLength, rest)
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { node in
            guard let node = node.baseAddress else { return }
            BLAKE3Compress.compress(
                cv: partial.chunkCV, block: partial.chunkBuffer, counter: partial.chunkCounter,
                blockLength: UInt32(partial.bufferLength),
                flags: flags | partial.startFlag | BLAKE3Constants.chunkEnd, out: node)
            (out + whole * 8).update(from: node, count: 8)
        }
        return whole + 1
    }

    private func compressParentsParallel(
        _ children: UnsafePointer<UInt32>, count: Int,
        out: UnsafeMutablePointer<UInt32>
    ) -> Int {
        let pairs = count / 2
        withUnsafeTemporaryAllocation(of: UnsafeRawPointer.self, capacity: 16) { pointers in
            guard let pointers = pointers.baseAddress else { return }
            for index in 0..<pairs { pointers[index] = UnsafeRawPointer(children + index * 16) }
            kernel.hashMany(
                inputs: pointers, count: pairs, blocks: 1, key: key, counter: 0, incrementCounter: false,
                flags: flags | BLAKE3Constants.parent, flagsStart: 0, flagsEnd: 0, out: out)
        }
        if count % 2 == 1 {
            (out + pairs * 8).update(from: children + (count - 1) * 8, count: 8)
            return pairs + 1
        }
        return pairs
    }

    private static func words(fromLittleEndian bytes: [UInt8]) -> [UInt32] {
        (0..<8).map { index in
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[index * 4 + $1]) << (8 * UInt32($1)) }
        }
    }
}

public enum BLAKE3Error: Error, Equatable, CustomStringConvertible {
    case invalidKeyLength(Int)

    public var description: String {
        switch self {
        case .invalidKeyLength(let length): return "BLAKE3 keys are 32 bytes, got \(length)"
        }
    }
}
