import ArgumentParser
import Foundation
import GRPCCore

/// Why a command failed, printed on one line to standard error with its exit code (README "wharfctl"):
/// 1 a call failed (the gRPC status and the server's message), 65 the data is wrong (a file that cannot be
/// read or is not JSON, a blob whose bytes do not hash to its digest), 78 invalid configuration or arguments.
enum CommandFailure: Error {
    case rpc(RPCError)
    case configuration(String)
    case input(String)

    var line: String {
        switch self {
        case .rpc(let error): "wharfctl: \(Self.statusName(error.code)): \(ServerText.safe(error.message, singleLine: true))"
        case .configuration(let problem), .input(let problem): "wharfctl: \(ServerText.safe(problem, singleLine: true))"
        }
    }

    /// The status as gRPC documents name it (`PERMISSION_DENIED`), as grpcurl and the other clients print it.
    static func statusName(_ code: RPCError.Code) -> String {
        switch code {
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internalError: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        default: "\(code)"
        }
    }

    var exitCode: Int32 {
        switch self {
        case .rpc: ExitCodes.failure
        case .configuration: ExitCodes.invalidConfiguration
        case .input: ExitCodes.dataError
        }
    }
}

/// Runs a command body, turning its failures into one line and an exit code instead of a stack trace.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let failure as CommandFailure {
        FileHandle.standardError.write(Data((failure.line + "\n").utf8))
        throw ExitCode(failure.exitCode)
    } catch let error as RPCError {
        FileHandle.standardError.write(Data((CommandFailure.rpc(error).line + "\n").utf8))
        throw ExitCode(ExitCodes.failure)
    }
}

/// Prints one result: `text` as is, or `json` as one compact object per line with sorted keys.
func emit(_ format: OutputFormat, text: @autoclosure () -> String, json: [String: any Sendable]) {
    let line: String
    switch format {
    case .text:
        line = ServerText.safe(text())
    case .json:
        let data = (try? JSONSerialization.data(withJSONObject: json, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        line = String(decoding: data, as: UTF8.self)
    }
    // Written at once rather than through print's buffer: each result reaches a pipe as it happens
    // (`peers --watch | grep …`), not when a buffer fills or the process ends.
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

enum JSONText {
    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}
