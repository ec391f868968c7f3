import Foundation
import SwiftProtobuf

/// A message in proto JSON, read whole from a path or standard input (`-`). `failure` makes the error of an
/// unreadable or malformed file, so each command keeps its own exit code.
enum ProtoJSONFile {
    static func read<Message: SwiftProtobuf.Message>(
        _ path: String, as type: Message.Type, described: String, failure: (String) -> CommandFailure
    ) throws -> Message {
        let data: Data
        do {
            data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw failure("\(path): cannot be read (\(error.localizedDescription))")
        }
        do {
            return try Message(jsonUTF8Data: data)
        } catch {
            throw failure("\(path): not \(described) (\(error))")
        }
    }
}
