import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import StoreCore
import SwiftProtobuf
import WharfProto

// Store service rates (scripts/bench-store prints them):
//   StoreBench <port> [records] [streams]
// pushes `records` distinct OASF 0.7.0 records over `streams` concurrent Push streams, then pulls and
// looks them all up the same way, and prints each rate.

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// The spec's §10 example record, renamed per index so every record has its own CID.
func record(_ index: Int) -> Agntcy_Dir_Core_V1_Record {
    func text(_ value: String) -> Google_Protobuf_Value { Google_Protobuf_Value(stringValue: value) }
    func object(_ fields: [String: Google_Protobuf_Value]) -> Google_Protobuf_Value {
        Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: fields))
    }
    func list(_ values: [Google_Protobuf_Value]) -> Google_Protobuf_Value {
        Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: values))
    }
    return .with {
        $0.data = Google_Protobuf_Struct(fields: [
            "name": text("example.org/bench/agent-\(index)"), "version": text("v1.0.0"), "schema_version": text("v0.7.0"),
            "description": text("Summarizes documents."), "authors": list([text("ACME <dev@acme.example>")]),
            "created_at": text("2025-09-19T10:00:00Z"),
            "skills": list([
                object([
                    "name": text("natural_language_processing/natural_language_generation/text_completion"),
                    "id": Google_Protobuf_Value(numberValue: 10201),
                ])
            ]),
            "locators": list([object(["type": text("docker_image"), "url": text("https://ghcr.io/acme/agent-\(index):1.0.0")])]),
            "annotations": object(["team": text("bench")]),
        ])
    }
}

/// Runs one stream per element of `streams` concurrently; each returns what it received. Prints the rate.
func measure<Request: Sendable, Answer: Sendable>(
    _ name: String, streams: [[Request]],
    call: @escaping @Sendable ([Request]) async throws -> [Answer]
) async throws -> [[Answer]] {
    let clock = ContinuousClock()
    let start = clock.now
    let answers = try await withThrowingTaskGroup(of: (Int, [Answer]).self) { group in
        for (index, requests) in streams.enumerated() { group.addTask { (index, try await call(requests)) } }
        var answers = [[Answer]](repeating: [], count: streams.count)
        for try await (index, received) in group { answers[index] = received }
        return answers
    }
    let elapsed = clock.now - start
    let total = streams.reduce(0) { $0 + $1.count }
    let answered = answers.reduce(0) { $0 + $1.count }
    guard answered == total else { throw RPCError(code: .internalError, message: "\(name): \(answered) answers for \(total) requests") }
    print(String(format: "%@ %d in %.2f s = %.0f/s", name, total, seconds(elapsed), Double(total) / seconds(elapsed)))
    return answers
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: StoreBench <port> [records] [streams]")
    exit(2)
}
let count = arguments.count > 2 ? Int(arguments[2]) ?? 50_000 : 50_000
let streamCount = arguments.count > 3 ? Int(arguments[3]) ?? 16 : 16
let runID = UUID().uuidString.prefix(8)
let records = (0..<count).map { index in
    var value = record(index)
    value.data.fields["name"] = Google_Protobuf_Value(stringValue: "example.org/bench/\(runID)/agent-\(index)")
    return value
}
let byStream = (0..<streamCount).map { stream in stride(from: stream, to: count, by: streamCount).map { records[$0] } }

let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
try await withGRPCClient(transport: transport) { client in
    let store = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
    print("\(count) records, \(streamCount) concurrent streams, one HTTP/2 connection")
    let cids = try await measure("push", streams: byStream) { requests in
        try await store.push(
            request: StreamingClientRequest { writer in
                for request in requests { try await writer.write(request) }
            }
        ) { response in try await response.messages.reduce(into: [String]()) { $0.append($1.cid) } }
    }
    let references = cids.map { $0.map { cid in Agntcy_Dir_Core_V1_RecordRef.with { $0.cid = cid } } }
    _ = try await measure("pull", streams: references) { requests in
        try await store.pull(
            request: StreamingClientRequest { writer in
                for request in requests { try await writer.write(request) }
            }
        ) { response in try await response.messages.reduce(into: [Int]()) { $0.append($1.data.fields.count) } }
    }
    _ = try await measure("lookup", streams: references) { requests in
        try await store.lookup(
            request: StreamingClientRequest { writer in
                for request in requests { try await writer.write(request) }
            }
        ) { response in try await response.messages.reduce(into: [String]()) { $0.append($1.cid) } }
    }
}
