import Foundation
import RecordIdentity
import SwiftProtobuf
import WharfProto

// Per-record CPU of each step a mirrored record goes through (release build):
// `swift run -c release RecordCodecBench [ITERATIONS]`.

func text(_ value: String) -> Google_Protobuf_Value { Google_Protobuf_Value(stringValue: value) }
func object(_ fields: [String: Google_Protobuf_Value]) -> Google_Protobuf_Value {
    Google_Protobuf_Value(structValue: Google_Protobuf_Struct(fields: fields))
}
func list(_ values: [Google_Protobuf_Value]) -> Google_Protobuf_Value {
    Google_Protobuf_Value(listValue: Google_Protobuf_ListValue(values: values))
}

/// The record scripts/bench-sync mirrors (Benchmarks/SyncBench).
func benchRecord(_ index: Int) -> Agntcy_Dir_Core_V1_Record {
    .with {
        $0.data = Google_Protobuf_Struct(fields: [
            "name": text("example.org/bench-sync/run/agent-\(index)"), "version": text("v1.0.0"), "schema_version": text("v0.7.0"),
            "description": text("Summarizes documents."), "authors": list([text("ACME <dev@acme.example>")]),
            "created_at": text("2025-09-19T10:00:00Z"),
            "skills": list([
                object([
                    "name": text("natural_language_processing/natural_language_generation/text_completion"),
                    "id": Google_Protobuf_Value(numberValue: 10201),
                ])
            ]),
            "locators": list([object(["type": text("docker_image"), "url": text("https://ghcr.io/acme/agent-\(index):1.0.0")])]),
        ])
    }
}

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 20_000
let record = benchRecord(1)
let canonical = try CanonicalJSON.encode(record.data)
let binary: [UInt8] = try record.serializedBytes()
print("record: \(canonical.count) B canonical JSON, \(binary.count) B protobuf; \(iterations) iterations each")

func measure(_ name: String, _ step: () throws -> Int) rethrows {
    var sink = 0
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<iterations { sink &+= try step() }
    let elapsed = clock.now - start
    let micros = (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12) / Double(iterations)
    print(String(format: "%-58@ %8.1f µs/record", name as NSString, micros) + (sink == 42 ? " " : ""))
}

try measure("canonical JSON → Struct (SwiftProtobuf JSON decoder)") {
    try Google_Protobuf_Struct(jsonUTF8Data: Data(canonical)).fields.count
}
try measure("Record → protobuf bytes") { (try record.serializedBytes() as [UInt8]).count }
try measure("protobuf bytes → Record") { try Agntcy_Dir_Core_V1_Record(serializedBytes: binary).data.fields.count }
try measure("Struct → canonical JSON (CanonicalJSON.encode)") { try CanonicalJSON.encode(record.data).count }
measure("canonical JSON → CID (SHA-256, base32)") { RecordCID.of(canonicalJSON: canonical).utf8.count }
try measure("canonical JSON → Foundation objects (JSONSerialization)") {
    (try JSONSerialization.jsonObject(with: Data(canonical)) as? [String: Any])?.count ?? 0
}
