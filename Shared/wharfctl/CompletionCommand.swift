import ArgumentParser
import Foundation

/// `wharfctl completion bash|zsh|fish`: the shell completion script, e.g.
/// `wharfctl completion bash > /etc/bash_completion.d/wharfctl`.
struct Completion: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the completion script for a shell (bash, zsh or fish).")

    @Argument(help: "bash, zsh or fish") var shell: CompletionShell

    func run() async throws {
        FileHandle.standardOutput.write(Data(WharfCtl.completionScript(for: shell).utf8))
    }
}

extension CompletionShell: @retroactive ExpressibleByArgument {}
