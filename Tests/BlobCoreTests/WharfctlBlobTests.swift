import BLAKE3
import BlobCore
import Foundation
import Testing
import WharfTestSupport

/// The built `wharfctl blob` against a real blob service behind the gateway (separate processes).
@Suite("wharfctl blob: a 200 MB file put and read back through the gateway, progress on a terminal only", .serialized)
struct WharfctlBlobTests {
    static let size = 200_000_000

    static func shell(_ command: String) async throws -> (status: Int32?, output: String) {
        try await runExecutable("/bin/sh", ["-c", command], environment: [:], timeout: .seconds(300))
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    /// BLAKE3 of a file, read in 1 MiB pieces.
    static func digest(ofFile path: String) throws -> BlobDigest {
        let handle = try #require(FileHandle(forReadingAtPath: path))
        defer { try? handle.close() }
        let hasher = BLAKE3Hasher()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data) }
        return try #require(BlobDigest(Data(hasher.finalize())))
    }

    @Test(
        "put prints the BLAKE3 digest in tvix and snix forms; get writes the same bytes and checks them; stat lists the chunks; a progress line only under a pseudo-terminal; errors exit non-zero on one line"
    )
    func roundTrip() async throws {
        let system = try await WharfSystem.start(only: ["blob", "gateway"])
        defer { Task { await system.stop() } }
        let folder = try TemporaryDirectories.make(prefix: "wharfctl-blob")
        let wharfctl = Self.quoted(try builtExecutable("wharfctl"))
        let address = "--address 127.0.0.1:\(system.port("gateway"))"
        let original = "\(folder)/original.bin"
        _ = try await Self.shell("head -c \(Self.size) /dev/urandom > \(Self.quoted(original))")
        let expected = try Self.digest(ofFile: original)

        // Piped: the result line on stdout, no progress line drawn in place.
        let put = try await Self.shell("\(wharfctl) blob put \(Self.quoted(original)) \(address) 2>\(folder)/put.err")
        #expect(put.status == 0, "\(put.output)")
        #expect(put.output == "\(expected.tvixText)\t\(expected.snixText)\t\(original)\n", "\(put.output)")
        let putErrors = try String(contentsOfFile: "\(folder)/put.err", encoding: .utf8)
        #expect(!putErrors.contains("\r") && !putErrors.contains("\u{1B}["), "\(putErrors)")

        let copy = "\(folder)/copy.bin"
        let get = try await Self.shell(
            "\(wharfctl) blob get \(Self.quoted(expected.snixText)) -o \(Self.quoted(copy)) \(address) --output json 2>\(folder)/get.err")
        #expect(get.status == 0, "\(get.output)")
        let answer = try #require((try? JSONSerialization.jsonObject(with: Data(get.output.utf8))) as? [String: Any], "\(get.output)")
        #expect(answer["verified"] as? Bool == true && answer["size"] as? Int == Self.size && answer["digest"] as? String == expected.hex)
        #expect(try Self.digest(ofFile: copy) == expected)
        #expect(try await Self.shell("cmp \(Self.quoted(original)) \(Self.quoted(copy))").status == 0)

        let stat = try await Self.shell("\(wharfctl) blob stat \(expected.hex) --chunks --output json \(address)")
        let statAnswer = try #require((try? JSONSerialization.jsonObject(with: Data(stat.output.utf8))) as? [String: Any], "\(stat.output)")
        let chunks = try #require(statAnswer["chunks"] as? [[String: Any]])
        #expect(statAnswer["size"] as? Int == Self.size && chunks.count == statAnswer["chunk_count"] as? Int && chunks.count > 1)
        #expect(chunks.compactMap { $0["size"] as? Int }.reduce(0, +) == Self.size)

        // Under a pseudo-terminal (script(1)): the progress line is drawn in place, then cleared for the result.
        // Reading the 200 MB blob back: bytes of the known size, a percentage and the time left.
        try? FileManager.default.removeItem(atPath: copy)
        let readScreen = "\(folder)/get-typescript"
        let terminalGet = try await Self.shell(
            "script -qefc \(Self.quoted("\(wharfctl) blob get \(expected.tvixText) -o \(Self.quoted(copy)) \(address)")) \(Self.quoted(readScreen)) >/dev/null"
        )
        #expect(terminalGet.status == 0, "\(terminalGet.output)")
        let getScreen = try String(decoding: Data(contentsOf: URL(fileURLWithPath: readScreen)), as: UTF8.self)
        #expect(
            getScreen.contains("\r\u{1B}[2Kget \(expected.tvixText): ") && getScreen.contains(" MiB (") && getScreen.contains("%), "),
            "\(getScreen.prefix(400))")
        #expect(getScreen.contains("\(expected.tvixText)\t\(Self.size) bytes\t\(copy)"), "\(getScreen.suffix(400))")
        #expect(try Self.digest(ofFile: copy) == expected)
        try? FileManager.default.removeItem(atPath: copy)

        // A directory as the destination is refused (exit 65) and left exactly as it was.
        let directory = "\(folder)/a-directory"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: "\(directory)/inside.txt"))
        let intoDirectory = try await Self.shell("\(wharfctl) blob get \(expected.tvixText) -o \(Self.quoted(directory)) \(address)")
        #expect(intoDirectory.status == 65 && intoDirectory.output.contains("is a directory"), "\(intoDirectory.output)")
        #expect((try? String(contentsOfFile: "\(directory)/inside.txt", encoding: .utf8)) == "keep me", "the directory's content was removed")

        // Interrupted while writing (SIGINT once the temporary file exists): exit 130, nothing left behind.
        let interrupted = try await Self.shell(
            """
            \(wharfctl) blob get --quiet \(expected.tvixText) -o \(Self.quoted(copy)) \(address) & pid=$!
            while ! ls \(Self.quoted(folder)) | grep -q partial- ; do kill -0 $pid 2>/dev/null || break; sleep 0.02; done
            kill -INT $pid; wait $pid; echo "status $?"
            """)
        #expect(interrupted.output.contains("status 130"), "\(interrupted.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.contains(".partial-") })
        #expect(!FileManager.default.fileExists(atPath: copy))

        // A smaller file is stored with a progress line too (it comes after a fifth of a second).
        let smaller = "\(folder)/smaller.bin"
        _ = try await Self.shell("head -c 40000000 \(Self.quoted(original)) > \(Self.quoted(smaller))")
        try? FileManager.default.removeItem(atPath: original)
        let smallerDigest = try Self.digest(ofFile: smaller)
        let typescript = "\(folder)/typescript"
        let terminal = try await Self.shell(
            "script -qefc \(Self.quoted("\(wharfctl) blob put \(Self.quoted(smaller)) \(address)")) \(Self.quoted(typescript)) >/dev/null")
        #expect(terminal.status == 0, "\(terminal.output)")
        let screen = try String(decoding: Data(contentsOf: URL(fileURLWithPath: typescript)), as: UTF8.self)
        #expect(screen.contains("\r\u{1B}[2Kput \(smaller): ") && screen.contains("/s"), "\(screen.prefix(400))")
        #expect(screen.contains("\(smallerDigest.tvixText)\t\(smallerDigest.snixText)\t\(smaller)"), "\(screen.suffix(400))")
        let quiet = try await Self.shell(
            "script -qefc \(Self.quoted("\(wharfctl) blob put --quiet \(Self.quoted(smaller)) \(address)")) \(Self.quoted("\(folder)/quiet")) >/dev/null"
        )
        #expect(quiet.status == 0)
        let quietScreen = try String(decoding: Data(contentsOf: URL(fileURLWithPath: "\(folder)/quiet")), as: UTF8.self)
        #expect(!quietScreen.contains("\u{1B}[2K"), "\(quietScreen.prefix(400))")

        // Errors: one line on stderr, documented exit codes, nothing left at the destination.
        let unknownDigest = BlobDigest(Data(repeating: 7, count: 32))!
        let missing = try await Self.shell("\(wharfctl) blob get \(unknownDigest.tvixText) -o \(folder)/missing.bin \(address)")
        #expect(
            missing.status == 1 && missing.output.hasPrefix("wharfctl: NOT_FOUND: ") && missing.output.split(separator: "\n").count == 1,
            "\(missing.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(folder)/missing.bin"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).allSatisfy { !$0.contains(".partial-") })
        let badDigest = try await Self.shell("\(wharfctl) blob stat b3:not-base64 \(address)")
        #expect(badDigest.status == 78 && badDigest.output.hasPrefix("wharfctl: b3:not-base64: not a BLAKE3 digest"), "\(badDigest.output)")
        let unreadable = try await Self.shell("\(wharfctl) blob put \(folder)/absent.bin \(address)")
        #expect(unreadable.status == 65 && unreadable.output.hasPrefix("wharfctl: \(folder)/absent.bin: cannot be opened"), "\(unreadable.output)")
        try? FileManager.default.removeItem(atPath: smaller)
    }
}
