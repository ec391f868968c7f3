import ArgumentParser
import BLAKE3
import Foundation
import GRPCCore
import ServiceContracts
import WharfEncoding
import WharfProto

/// `wharfctl blob …`: BLAKE3-addressed blobs (tvix.castore.v1.BlobService), as `tvix-store import` stores files.
struct Blob: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store files as BLAKE3-addressed blobs and read them back.",
        subcommands: [Put.self, Get.self, Stat.self])

    typealias Client = Tvix_Castore_V1_BlobService.Client

    /// Bytes per BlobChunk message, as the blob benchmark sends them.
    static let messageBytes = 1 << 20

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store files (- for standard input); prints each digest in tvix's (b3:…) and snix's (blake3-…) text forms.")
        @OptionGroup var gateway: GatewayOptions
        @Flag(name: .shortAndLong, help: "no progress line") var quiet = false
        @Argument(help: "files to store; - reads standard input") var files: [String]

        func run() async throws {
            try await reportingFailures {
                guard !files.isEmpty else { throw CommandFailure.configuration("blob put: name at least one file, or - for standard input") }
                for file in files {
                    let input = try InputFile(path: file)
                    defer { input.close() }
                    let progress = ProgressLine(label: "put \(file)", total: input.size, quiet: quiet)
                    let digestBytes = try await gateway.withClient { client, options in
                        try await Client(wrapping: client).put(metadata: [:], options: options) { writer in
                            while let data = try input.read(upTo: Blob.messageBytes) {
                                try await writer.write(.with { $0.data = data })
                                progress.advance(by: Int64(data.count))
                            }
                        } onResponse: { response in
                            try response.message.digest
                        }
                    }
                    progress.finish()
                    guard let digest = BlobDigest(digestBytes) else {
                        throw CommandFailure.rpc(
                            RPCError(code: .internalError, message: "the blob service answered a digest of \(digestBytes.count) bytes"))
                    }
                    emit(
                        gateway.output, text: "\(digest.tvixText)\t\(digest.snixText)\t\(file)",
                        json: [
                            "file": file, "size": progress.done, "digest": digest.hex, "tvix": digest.tvixText, "snix": digest.snixText,
                        ])
                }
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a blob to a file, checking that what was written hashes to its digest.")
        @OptionGroup var gateway: GatewayOptions
        @Flag(name: .shortAndLong, help: "no progress line") var quiet = false
        @Argument(help: "the digest: b3:…, blake3-… or 64 hex digits") var digest: String
        @Option(name: [.customShort("o"), .customLong("file")], help: "the file to write (- for standard output)") var file: String

        func run() async throws {
            try await reportingFailures {
                let wanted = try BlobDigestText.parse(digest)
                let sink = try VerifiedOutput(path: file)
                var written = false
                defer { if !written { sink.discard() } }
                let size: Int64 = try await gateway.withClient { client, options in
                    let blobs = Client(wrapping: client)
                    // The size comes with Read's response metadata (no chunk list is asked for, however long it
                    // is); without it (another server) progress shows bytes and rate.
                    return try await blobs.read(.with { $0.digest = wanted.bytes }, options: options) { response in
                        let announced = response.metadata[stringValues: BlobReadMetadata.sizeKey].first(where: { _ in true })
                        let total = announced.flatMap { Int64($0) }.flatMap { $0 > 0 ? $0 : nil }
                        let progress = ProgressLine(label: "get \(wanted.tvixText)", total: total, quiet: quiet)
                        defer { progress.finish() }
                        for try await chunk in response.messages {
                            try sink.write(chunk.data)
                            progress.advance(by: Int64(chunk.data.count))
                        }
                        return progress.done
                    }
                }
                let got = sink.digest
                guard got == wanted else {
                    throw CommandFailure.input("the bytes read hash to \(got?.tvixText ?? "?"), not \(wanted.tvixText): nothing kept")
                }
                try sink.commit()
                written = true
                // Written to standard output, the blob is the whole output: the result line goes to standard error.
                if file == "-" {
                    FileHandle.standardError.write(Data("\(wanted.tvixText)\t\(size) bytes verified\n".utf8))
                    return
                }
                emit(
                    gateway.output, text: "\(wanted.tvixText)\t\(size) bytes\t\(file)",
                    json: ["digest": wanted.hex, "tvix": wanted.tvixText, "size": size, "file": file, "verified": true])
            }
        }
    }

    struct Stat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Whether a blob is stored, its size, and with --chunks its chunks.")
        @OptionGroup var gateway: GatewayOptions
        @Argument(help: "the digest: b3:…, blake3-… or 64 hex digits") var digest: String
        @Flag(help: "list the chunks the blob is stored as") var chunks = false

        func run() async throws {
            try await reportingFailures {
                let wanted = try BlobDigestText.parse(digest)
                let answer = try await gateway.withClient { client, options in
                    try await Client(wrapping: client).stat(
                        .with {
                            $0.digest = wanted.bytes; $0.sendChunks = true
                        }, options: options)
                }
                let size = answer.chunks.reduce(UInt64(0)) { $0 &+ $1.size }
                let listed = answer.chunks.map { chunk in
                    (digest: BlobDigest(chunk.digest)?.tvixText ?? chunk.digest.base64EncodedString(), size: chunk.size)
                }
                var json: [String: any Sendable] = [
                    "digest": wanted.hex, "tvix": wanted.tvixText, "snix": wanted.snixText,
                    "size": size, "chunk_count": answer.chunks.count,
                ]
                if chunks { json["chunks"] = listed.map { ["digest": $0.digest, "size": $0.size] as [String: any Sendable] } }
                var text = "\(wanted.tvixText)\t\(size) bytes\t\(answer.chunks.count) chunks"
                if chunks { text += listed.map { "\n  \($0.digest)\t\($0.size)" }.joined() }
                emit(gateway.output, text: text, json: json)
            }
        }
    }
}

/// A digest typed by a person: tvix's `b3:` + base64, snix's `blake3-` + base64, or 64 hex digits.
enum BlobDigestText {
    static func parse(_ text: String) throws -> BlobDigest {
        var bytes: Data?
        if text.hasPrefix("b3:") {
            bytes = Data(base64Encoded: String(text.dropFirst(3)))
        } else if text.hasPrefix("blake3-") {
            bytes = Data(base64Encoded: String(text.dropFirst(7)))
        } else if text.utf8.count == 64 {
            bytes = Data(hexString: text)
        }
        guard let bytes, let digest = BlobDigest(bytes) else {
            throw CommandFailure.configuration("\(text): not a BLAKE3 digest (b3:<base64>, blake3-<base64> or 64 hex digits)")
        }
        return digest
    }
}
