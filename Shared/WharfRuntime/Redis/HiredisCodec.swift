import CHiredis
import NIOCore

/// RESP encoding and decoding done by hiredis: `redisFormatCommandArgv` encodes a command,
/// `redisReaderFeed` / `redisReaderGetReply` decode replies incrementally. One reader per connection;
/// it is not thread-safe and lives on the connection's event loop.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>

    init() {
        guard let reader = redisReaderCreate() else {
            // Only fails when malloc fails; nothing sensible can continue then.
            fatalError("redisReaderCreate returned NULL (out of memory)")
        }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Appends received bytes to the reader's buffer.
    func feed(_ buffer: ByteBuffer) throws {
        let status = buffer.withUnsafeReadableBytes { bytes -> Int32 in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return REDIS_OK }
            return redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        if status != REDIS_OK { throw RedisError.protocolError(readerError()) }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func nextReply() throws -> RedisValue? {
        var reply: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &reply) == REDIS_OK else {
            throw RedisError.protocolError(readerError())
        }
        guard let reply else { return nil }
        defer { freeReplyObject(reply) }
        return Self.convert(reply.assumingMemoryBound(to: redisReply.self))
    }

    private func readerError() -> String {
        withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            var buffer = ByteBufferAllocator().buffer(capacity: value.len)
            if let str = value.str {
                buffer.writeBytes(UnsafeRawBufferPointer(start: str, count: value.len))
            }
            return .bulkString(buffer)
        case REDIS_REPLY_STATUS:
            return .simpleString(text(value.str, value.len))
        case REDIS_REPLY_ERROR:
            return .error(text(value.str, value.len))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(value.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(value.elements)
            for index in 0..<value.elements {
                if let element = value.element?[index] {
                    elements.append(convert(element))
                } else {
                    elements.append(.null)
                }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func text(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }
}

enum HiredisEncoder {
    /// Encodes one command (`arguments[0]` is the command name) into `buffer` in RESP form.
    static func encode(_ arguments: [ByteBuffer], into buffer: inout ByteBuffer) {
        // hiredis wants C arrays of pointers and lengths; the ByteBuffers stay alive (and unmoved)
        // for the duration of the call because they are copied into one contiguous array first.
        var storage: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        storage.reserveCapacity(arguments.reduce(0) { $0 + $1.readableBytes })
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.readableBytes)
            storage.append(contentsOf: argument.readableBytesView)
        }
        storage.append(0)  // never empty, so the base address exists even when every argument is empty
        storage.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress.map(UnsafeRawPointer.init) else { return }
            var pointers: [UnsafePointer<CChar>?] = offsets.map {
                (base + $0).assumingMemoryBound(to: CChar.self)
            }
            var target: UnsafeMutablePointer<CChar>?
            let length = pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisFormatCommandArgv(&target, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
            guard let target, length > 0 else { return }
            defer { redisFreeCommand(target) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: target, count: Int(length)))
        }
    }
}
