import Foundation
import GRPCCore
import Testing

@testable import wharfctl

/// What wharfctl prints: server text made harmless for a terminal, tables, one-line failures with their exit
/// codes, progress figures at any extreme a server can report.
@Suite("wharfctl output")
struct OutputTests {
    @Test("server text: ESC, other C0 and C1 controls and DEL are shown, not obeyed; tabs stay; newlines only when allowed")
    func serverText() {
        #expect(ServerText.safe("plain ünïcode 🚢") == "plain ünïcode 🚢")
        #expect(ServerText.safe("\u{1B}[2Jcleared") == "\\u{1b}[2Jcleared")
        #expect(ServerText.safe("a\u{7F}b\u{9B}c\u{0}") == "a\\u{7f}b\\u{9b}c\\u{0}")
        #expect(ServerText.safe("col\tcol") == "col\tcol")
        #expect(ServerText.safe("two\nlines") == "two\nlines")
        #expect(ServerText.safe("two\nlines", singleLine: true) == "two\\u{a}lines")
        // A megabyte of escapes from a hostile server is escaped whole, never passed through.
        let flood = String(repeating: "\u{1B}", count: 1 << 20)
        let shown = ServerText.safe(flood)
        #expect(!shown.unicodeScalars.contains("\u{1B}"))
        #expect(shown.utf8.count == 6 * (1 << 20))
    }

    @Test("tables pad every column but the last to its widest cell, escaping cells to one line")
    func table() {
        let table = TextTable(header: ["NAME", "STATE"], rows: [["store", "up"], ["negentropy\nx", "ejected"], ["short"]])
        #expect(
            table.lines == [
                "NAME              STATE",
                "store             up",
                "negentropy\\u{a}x  ejected",
                "short",
            ])
        #expect(TimeText.rfc3339(unixSeconds: 0) == "-")
        #expect(TimeText.rfc3339(unixSeconds: 1_796_292_000) == "2026-12-03T10:00:00Z")
    }

    @Test("a failure is one line with gRPC's status name and the exit code README gives (1, 65, 78)")
    func failures() {
        let denied = CommandFailure.rpc(RPCError(code: .permissionDenied, message: "admin token\u{1B}[31m required\nnow"))
        #expect(denied.line == "wharfctl: PERMISSION_DENIED: admin token\\u{1b}[31m required\\u{a}now")
        #expect(denied.exitCode == 1)
        #expect(CommandFailure.input("x.json: not a JSON object").exitCode == 65)
        #expect(CommandFailure.configuration("--timeout: bad").exitCode == 78)
        let names: [RPCError.Code: String] = [
            .invalidArgument: "INVALID_ARGUMENT", .notFound: "NOT_FOUND", .resourceExhausted: "RESOURCE_EXHAUSTED",
            .failedPrecondition: "FAILED_PRECONDITION", .unimplemented: "UNIMPLEMENTED", .internalError: "INTERNAL",
            .unavailable: "UNAVAILABLE", .unauthenticated: "UNAUTHENTICATED", .deadlineExceeded: "DEADLINE_EXCEEDED",
        ]
        for (code, name) in names { #expect(CommandFailure.statusName(code) == name) }
        #expect(JSONText.quoted("a \"b\"/c\n") == "\"a \\\"b\\\"/c\\n\"")
    }

    @Test("progress: rate, share and time left; extremes a server can report print without trapping")
    func progress() {
        let line = ProgressLine.describe(
            done: 312 << 20, total: 1 << 30, unit: .bytes, elapsed: .milliseconds(650), label: "put big.iso")
        #expect(line == "put big.iso: 312.0 MiB of 1.0 GiB (30%), 480.0 MiB/s, 2 s left")
        #expect(ProgressLine.describe(done: 10, total: nil, unit: .items, elapsed: .seconds(2), label: "sync") == "sync: 10 items, 5 items/s")
        // Done beyond the total, a zero total, the largest counts, no time elapsed at all.
        #expect(
            ProgressLine.describe(done: 200, total: 100, unit: .items, elapsed: .seconds(1), label: "x")
                == "x: 200 items of 100 items (100%), 200 items/s")
        #expect(ProgressLine.describe(done: 5, total: 0, unit: .bytes, elapsed: .seconds(1), label: "x") == "x: 5 B, 5 B/s")
        let huge = ProgressLine.describe(done: .max, total: .max, unit: .bytes, elapsed: .zero, label: "x")
        #expect(huge.hasPrefix("x: 8388608.0 TiB of 8388608.0 TiB (100%)"))
        #expect(ProgressLine.describe(done: .min, total: .max, unit: .items, elapsed: .seconds(-5), label: "x").hasPrefix("x: -"))
        #expect(ProgressLine.duration(.infinity) == "?")
        #expect(ProgressLine.duration(.nan) == "?")
        #expect(ProgressLine.duration(58.2) == "59 s")
        #expect(ProgressLine.duration(59.2) == "1 min 0 s")
        #expect(ProgressLine.duration(3_725) == "1 h 2 min")
    }
}
