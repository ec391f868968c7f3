import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HummingbirdWSClient
import Logging
import NegentropyCore
import Synchronization
import WharfProto
import WharfRuntime

// The relay side of scripts/bench-negentropy-relay:
//   NegentropyRelayBench generate <events> <file>        signed kind-1 events of 16 authors, one JSON object a line
//   NegentropyRelayBench ingest <ws url> <file> <connections> [events per connection before a new one]
//                                                        EVENTs pipelined, 1,000 unanswered on each connection
//   NegentropyRelayBench peer-sync <grpc port> <peer ws url> <expected>   SyncWithPeer (WHARF_ADMIN_TOKEN)
//   NegentropyRelayBench slow-read <ws url> <file> <events per second>
//                                                        every event of the file fetched by REQs of 500 ids, 8 asked
//                                                        ahead, read no faster than the rate (the relay must pace
//                                                        its answers, not buffer them)

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("NegentropyRelayBench: \(message)\n".utf8))
    exit(1)
}

/// N events over the last N seconds (at least a day), 16 authors in turn; two cores sign.
func generate(count: Int, into path: String) async throws {
    let signers = (1...16).compactMap { NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [UInt8($0)]) }
    let start = Int64(Date().timeIntervalSince1970) - Int64(max(count, 86_400))
    let slices = 8
    let lines = try await withThrowingTaskGroup(of: (Int, [String]).self) { group in
        for slice in 0..<slices {
            group.addTask {
                var lines: [String] = []
                for index in stride(from: slice, to: count, by: slices) {
                    let event = signers[index % signers.count].sign(
                        createdAt: start + Int64(index), kind: 1, tags: [["t", "bench"]], content: "bench note \(index)")
                    lines.append(String(decoding: event.json, as: UTF8.self))
                }
                return (slice, lines)
            }
        }
        var bySlice = [[String]](repeating: [], count: slices)
        for try await (slice, lines) in group { bySlice[slice] = lines }
        var ordered: [String] = []
        ordered.reserveCapacity(count)
        for index in 0..<count { ordered.append(bySlice[index % slices][index / slices]) }
        return ordered
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
}

final class Tally: Sendable {
    private let counts = Mutex((accepted: 0, refused: 0))
    func ok(_ accepted: Bool) { counts.withLock { accepted ? ($0.accepted += 1) : ($0.refused += 1) } }
    var value: (accepted: Int, refused: Int) { counts.withLock { $0 } }
}

/// Sends `lines` as EVENTs on one connection, at most 1,000 without their OK; returns when every OK is in.
func ingest(url: String, lines: ArraySlice<String>, tally: Tally, logger: Logger) async throws {
    let unanswered = InFlightLimit(maximumCount: 1000, maximumWeight: .max)
    let answered = Tally()
    do {
        _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger) { inbound, outbound, _ in
            let reader = Task {
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, text.hasPrefix("[\"OK\"") else { continue }
                    tally.ok(text.contains(",true,"))
                    answered.ok(true)
                    unanswered.leave(weight: 0)
                }
            }
            for line in lines {
                try await unanswered.enter(weight: 0)
                try await outbound.write(.text("[\"EVENT\",\(line)]"))
            }
            await unanswered.idle()
            // Close, and let the reader see the relay's close frame (the inbound stream has one consumer).
            try? await outbound.close(.normalClosure, reason: nil)
            _ = try? await reader.value
        }
    } catch  where answered.value.accepted == lines.count {
        // Every OK is in: how the close handshake ended does not matter here.
    }
    guard answered.value.accepted == lines.count else { fail("\(lines.count - answered.value.accepted) EVENTs unanswered at \(url)") }
}

func ingest(url: String, file: String, connections: Int, perConnection: Int?) async throws {
    let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
    let logger = {
        var logger = Logger(label: "bench"); logger.logLevel = .error; return logger
    }()
    let tally = Tally()
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for connection in 0..<connections {
            let slice = lines[(lines.count * connection / connections)..<(lines.count * (connection + 1) / connections)]
            group.addTask {
                // One connection at a time per slice; a relay that closes after some thousands gets fresh ones.
                let step = perConnection ?? slice.count
                for start in stride(from: slice.startIndex, to: slice.endIndex, by: max(1, step)) {
                    try await ingest(url: url, lines: slice[start..<min(start + step, slice.endIndex)], tally: tally, logger: logger)
                }
            }
        }
        try await group.waitForAll()
    }
    let elapsed = seconds(clock.now - started)
    let counts = tally.value
    print(
        #"{"connections": \#(connections), "events": \#(lines.count), "accepted": \#(counts.accepted), "refused": \#(counts.refused), "seconds": \#(String(format: "%.3f", elapsed)), "events_per_second": \#(Int(Double(lines.count) / elapsed))}"#
    )
}

func peerSync(port: Int, peer: String, expected: Int) async throws {
    let admin: Metadata = ["wharf-admin-token": .string(ProcessInfo.processInfo.environment["WHARF_ADMIN_TOKEN"] ?? "")]
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    try await withGRPCClient(transport: transport) { client in
        let negentropy = Orlysync_Negentropy_V1_NegentropyService.Client(wrapping: client)
        let clock = ContinuousClock()
        let started = clock.now
        // The first progress with events fetched comes after the reconciliation: its time bounds it.
        let (last, reconciled) = try await negentropy.syncWithPeer(.with { $0.peerURL = peer }, metadata: admin) { response in
            var last = Orlysync_Negentropy_V1_SyncProgress()
            var reconciled: Duration?
            for try await progress in response.messages {
                if reconciled == nil, progress.needCount > 0, progress.fetchedCount > 0 { reconciled = clock.now - started }
                last = progress
            }
            return (last, reconciled)
        }
        let elapsed = seconds(clock.now - started)
        print(
            #"{"need": \#(last.needCount), "fetched": \#(last.fetchedCount), "rounds": \#(last.round), "complete": \#(last.complete && last.fetchedCount == expected), "error": "\#(last.error)", "seconds": \#(String(format: "%.3f", elapsed)), "reconcile_seconds_at_most": \#(String(format: "%.3f", reconciled.map(seconds) ?? elapsed)), "events_per_second": \#(Int(Double(last.fetchedCount) / elapsed))}"#
        )
    }
}

/// A client that asks for much and reads slowly: REQs of 500 ids, 8 unanswered at any time, events taken no faster
/// than `rate` a second (the socket fills and the relay must wait, not queue the rest in memory).
func slowRead(url: String, file: String, rate: Int) async throws {
    let ids = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map { line -> String in
        guard line.hasPrefix(#"{"id":""#) else { fail("an event line does not start with its id") }
        return String(line.dropFirst(7).prefix(64))
    }
    let batches = stride(from: 0, to: ids.count, by: 500).map { Array(ids[$0..<min($0 + 500, ids.count)]) }
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    let asked = InFlightLimit(maximumCount: 8, maximumWeight: .max)
    let received = Tally()
    let clock = ContinuousClock()
    let started = clock.now
    _ = try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 1 << 20), logger: logger) { inbound, outbound, _ in
        let reader = Task {
            var count = 0
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                if text.hasPrefix("[\"EOSE\"") || text.hasPrefix("[\"CLOSED\"") {
                    if text.hasPrefix("[\"CLOSED\"") { fail("a REQ was refused: \(text)") }
                    asked.leave(weight: 0)
                    if received.value.accepted == ids.count { return }
                    continue
                }
                guard text.hasPrefix("[\"EVENT\"") else { continue }
                received.ok(true)
                count += 1
                let due = started + .seconds(Double(count) / Double(max(1, rate)))
                if due > clock.now { try await Task.sleep(until: due) }
            }
        }
        for (index, batch) in batches.enumerated() {
            try await asked.enter(weight: 0)
            // Answers come in order: the REQ eight back has had its EOSE.
            if index >= 8 { try await outbound.write(.text(#"["CLOSE","slow-\#(index - 8)"]"#)) }
            let list = batch.map { "\"\($0)\"" }.joined(separator: ",")
            try await outbound.write(.text(#"["REQ","slow-\#(index)",{"ids":[\#(list)]}]"#))
        }
        _ = try await reader.value
        try? await outbound.close(.normalClosure, reason: nil)
    }
    let elapsed = seconds(clock.now - started)
    print(
        #"{"events": \#(ids.count), "received": \#(received.value.accepted), "seconds": \#(String(format: "%.3f", elapsed)), "events_per_second": \#(Int(Double(received.value.accepted) / elapsed))}"#
    )
}

let arguments = CommandLine.arguments
guard arguments.count >= 4 else {
    fail(
        "usage: generate <events> <file> | ingest <url> <file> <connections> [per connection] | peer-sync <port> <peer url> <expected> | slow-read <url> <file> <rate>"
    )
}
switch arguments[1] {
case "generate":
    guard let count = Int(arguments[2]) else { fail("events must be a number") }
    try await generate(count: count, into: arguments[3])
case "ingest":
    guard arguments.count >= 5, let connections = Int(arguments[4]) else { fail("ingest <url> <file> <connections>") }
    try await ingest(url: arguments[2], file: arguments[3], connections: connections, perConnection: arguments.count > 5 ? Int(arguments[5]) : nil)
case "peer-sync":
    guard arguments.count >= 5, let port = Int(arguments[2]), let expected = Int(arguments[4]) else { fail("peer-sync <port> <peer url> <expected>") }
    try await peerSync(port: port, peer: arguments[3], expected: expected)
case "slow-read":
    guard arguments.count >= 5, let rate = Int(arguments[4]) else { fail("slow-read <url> <file> <events per second>") }
    try await slowRead(url: arguments[2], file: arguments[3], rate: rate)
default:
    fail("unknown command \(arguments[1])")
}
