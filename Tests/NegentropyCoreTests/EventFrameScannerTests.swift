import Foundation
import Testing
import WharfTestSupport

@testable import NegentropyCore

/// The relay's EVENT fast path against Foundation's decoder: whenever the scanner answers, it answers what the
/// decoder does; it answers for every frame as clients write it; hostile bytes never trap it.
@Suite("EVENT frames scanned in one pass")
struct EventFrameScannerTests {
    static func decoded(_ text: String) -> NostrEvent? {
        struct Frame: Decodable {
            var event: NostrEvent
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                guard try container.decode(String.self) == "EVENT" else { throw CancellationError() }
                event = try container.decode(NostrEvent.self)
                guard container.isAtEnd else { throw CancellationError() }
            }
        }
        return try? JSONDecoder().decode(Frame.self, from: Data(text.utf8)).event
    }

    /// Contents that exercise every escape NIP-01 writes, non-ASCII text and characters outside the BMP.
    static let contents = [
        "", "plain", "quote \" backslash \\ slash /", "lines\nand\ttabs\r\u{08}\u{0C}", "control \u{01}\u{1F}\u{7F}",
        "héllo wörld ✓ 日本語", "emoji 🎉👍🏽", "nul \u{0}", String(repeating: "x", count: 5_000),
    ]

    static func frames(seed: UInt64) -> [String] {
        var generator = SeededGenerator(seed: seed)
        return contents.enumerated().map { index, content in
            let tags: [[String]] =
                index % 3 == 0 ? [] : [["t", "tag \(index)"], ["e", String(repeating: "a", count: 64), "wss://r.example", "reply"], []]
            let event = TestKeys.alice.sign(
                createdAt: Int64.random(in: 0...2_000_000_000, using: &generator), kind: Int.random(in: 0...65535, using: &generator),
                tags: tags, content: content)
            return "[\"EVENT\",\(String(decoding: event.json, as: UTF8.self))]"
        }
    }

    @Test("frames as NostrJSON writes them, and with other whitespace, key orders and escapes, scan to what the decoder reads")
    func agreesOnWellFormedFrames() throws {
        var variants: [String] = []
        for frame in Self.frames(seed: 7) {
            variants.append(frame)
            variants.append(" [ \"EVENT\" ,\n\t" + frame.dropFirst(9).replacingOccurrences(of: "\":", with: "\" : ") + " \r\n")
            // Keys in another order: rebuilt from the decoded object with sorted keys (JSONSerialization's escapes).
            let object = try #require(try JSONSerialization.jsonObject(with: Data(frame.utf8)) as? [Any])
            let sorted = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            variants.append(String(decoding: sorted, as: UTF8.self))
            variants.append(frame.replacingOccurrences(of: "é", with: "\\u00e9").replacingOccurrences(of: "🎉", with: "\\ud83c\\uDF89"))
        }
        for variant in variants {
            let scanned = EventFrameScanner.event(in: variant)
            #expect(scanned != nil, "not scanned: \(variant.prefix(200))")
            #expect(scanned == Self.decoded(variant), "\(variant.prefix(200))")
        }
    }

    @Test("shapes the scanner leaves to the general path: each gives nil, never a different event")
    func leavesOtherShapes() {
        let frame = Self.frames(seed: 3)[1]
        let others = [
            frame.replacingOccurrences(of: "\"kind\":", with: "\"kind\":1,\"kind\":"),  // a repeated key
            frame.replacingOccurrences(of: "\"content\":", with: "\"extra\":{\"a\":[1,2]},\"content\":"),  // an unknown key
            frame.replacingOccurrences(of: "\"created_at\":", with: "\"created_at\":1.5,\"x\":"),
            String(frame.dropLast()) + ",{}]",  // a trailing element
            frame.replacingOccurrences(of: "\"sig\"", with: "\"sIg\""),  // a missing field
            frame.replacingOccurrences(of: "\"kind\":", with: "\"kind\":0"),  // a leading zero
            frame.replacingOccurrences(of: "\"content\":\"", with: "\"content\":\"\\ud83c"),  // a lone surrogate
            frame.replacingOccurrences(of: "\"content\":\"", with: "\"content\":\"\\q"),  // an unknown escape
            frame.replacingOccurrences(of: "\"created_at\":", with: "\"created_at\":99999999999999999999"),  // past 64 bits
            "[\"REQ\",{}]", "[\"EVENT\"]", "[\"EVENT\",[]]", "", "[",
        ]
        for other in others {
            #expect(EventFrameScanner.event(in: String(other)) == nil, "\(other.prefix(200))")
        }
    }

    @Test("every prefix and thousands of byte mutations of real frames: no trap, and an answer only where the decoder agrees")
    func hostileBytes() {
        var generator = SeededGenerator(seed: 11)
        let frames = Self.frames(seed: 5)
        var scanned = 0
        for frame in frames.prefix(4) {
            let bytes = Array(frame.utf8)
            for length in 0..<bytes.count {
                let text = String(decoding: bytes[0..<length], as: UTF8.self)
                #expect(EventFrameScanner.event(in: text) == nil)
            }
        }
        let alphabet = Array("\"\\{}[],:0123456789-.eEu \t\nabcdef".utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xFF]
        for _ in 0..<20_000 {
            var bytes = Array(frames[Int.random(in: 0..<frames.count, using: &generator)].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)], at: at)
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard let event = EventFrameScanner.event(in: text) else { continue }
            scanned += 1
            #expect(event == Self.decoded(text), "\(text.prefix(300))")
        }
        #expect(scanned > 1_000, "only \(scanned) mutated frames were still scannable")
    }
}
