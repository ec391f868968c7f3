import Foundation
import Testing
import WharfTestSupport

/// A JSON value written exactly as given (numbers as text, so a test can send 2^64, -2^63 or 1e308 verbatim).
indirect enum RawJSON {
    case number(String)
    case string(String)
    case array([RawJSON])
    case object([(String, RawJSON)])

    var text: String {
        switch self {
        case .number(let text): text
        case .string(let value): Self.quoted(value)
        case .array(let values): "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let members): "{" + members.map { Self.quoted($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }

    static func quoted(_ value: String) -> String {
        // A lone surrogate escape stands for what no UTF-8 text frame can carry: invalid UTF-8 after decoding.
        if value == "\u{FFFD}surrogate" { return "\"\\ud800x\"" }
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Every leaf (number or string) with each extreme in its place: (path, JSON text).
    func leafVariants(path: String = "") -> [(String, RawJSON)] {
        switch self {
        case .number:
            return Self.numberExtremes.map { ("\(path) = \($0)", .number($0)) }
        case .string:
            return Self.stringExtremes.map { ("\(path) = \($0.0)", .string($0.1)) }
        case .array(let values):
            return values.indices.flatMap { index in
                values[index].leafVariants(path: "\(path)[\(index)]").map { label, value in
                    var copy = values
                    copy[index] = value
                    return (label, RawJSON.array(copy))
                }
            }
        case .object(let members):
            return members.indices.flatMap { index in
                members[index].1.leafVariants(path: "\(path).\(members[index].0)").map { label, value in
                    var copy = members
                    copy[index].1 = value
                    return (label, RawJSON.object(copy))
                }
            }
        }
    }

    static let numberExtremes = [
        "0", "-1", "-9223372036854775808", "9223372036854775807", "18446744073709551616", "1e308", "-1e308", "1.5", "1e-400",
    ]
    static let stringExtremes: [(String, String)] = [
        ("empty", ""), ("64 KiB", String(repeating: "a", count: 64 * 1024)), ("a lone surrogate", "\u{FFFD}surrogate"),
        ("NUL and controls", "a\u{0}b\u{1B}"),
    ]
}

extension RobustnessSuites {
    /// The relay's verbs as the gRPC messages are walked: every number and string of every verb's frame at its
    /// extremes (integers at 0, −1, the int64 bounds and beyond, floats; strings empty, 64 KiB, an invalid
    /// surrogate, control characters). Each frame gets an answer naming what was wrong (or its normal answer),
    /// the connection stays usable, and the relay process stays the one started.
    @Suite("Robustness: every field of every relay verb at its extremes", .serialized)
    struct RelayFieldExtremesTests {
        static let hex64 = String(repeating: "ab", count: 32)
        static var filter: RawJSON {
            .object([
                ("ids", .array([.string(hex64)])), ("authors", .array([.string(hex64)])), ("kinds", .array([.number("1")])),
                ("since", .number("1")), ("until", .number("2000000000")), ("limit", .number("10")), ("#e", .array([.string(hex64)])),
            ])
        }

        static var templates: [RawJSON] {
            let event = RawJSON.object([
                ("id", .string(hex64)), ("pubkey", .string(hex64)), ("created_at", .number("1700000000")), ("kind", .number("1")),
                ("tags", .array([.array([.string("e"), .string(hex64)])])), ("content", .string("x")), ("sig", .string(hex64 + hex64)),
            ])
            return [
                .array([.string("EVENT"), event]),
                .array([.string("REQ"), .string("extremes"), filter]),
                .array([.string("COUNT"), .string("extremes"), filter]),
                .array([.string("CLOSE"), .string("extremes")]),
                .array([.string("NEG-OPEN"), .string("extremes-neg"), filter, .string(RelayAbuseTests.initialMessage)]),
                .array([.string("NEG-MSG"), .string("extremes-neg"), .string(RelayAbuseTests.initialMessage)]),
                .array([.string("NEG-CLOSE"), .string("extremes-neg")]),
            ]
        }

        @Test("every number and string of every verb at its extremes gets an answer, and the relay serves on")
        func everyVerbField() async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            var frames = 0
            for template in Self.templates {
                let variants = template.leafVariants()
                let client = RelayTestClient(url: "ws://127.0.0.1:\(system.relayPort)")
                for (label, frame) in variants {
                    frames += 1
                    client.sendRaw(frame.text)
                    do {
                        // An answer names what was wrong, or is the verb's own (OK, EOSE after events, COUNT, NEG-MSG);
                        // CLOSE and NEG-CLOSE of what is not open may get none: a REQ after each one proves the
                        // connection still answers, in order.
                        let probe = "probe-\(frames)"
                        try client.send(["REQ", probe, ["limit": 0]])
                        while true {
                            let answer = try await client.receive(timeout: .seconds(15))
                            let verb = answer.first as? String ?? ""
                            if !["NOTICE", "CLOSED", "NEG-ERR", "OK", "EOSE", "NEG-MSG", "EVENT", "COUNT"].contains(verb) {
                                failures.record("\(label): unexpected \(answer)")
                            }
                            if verb == "EOSE", answer.count > 1, answer[1] as? String == probe { break }
                        }
                        try client.send(["CLOSE", probe])
                    } catch {
                        failures.record("\(label): no answer: \(error)")
                        break
                    }
                }
                await client.close()
            }
            #expect(failures.all.isEmpty, "\(failures.all.count) of \(frames) frames:\n\(failures.all.prefix(40).joined(separator: "\n"))")
            #expect(frames > 200)
            await Robustness.expectAllAlive(system, after: "relay verbs at their extremes")
        }
    }
}
