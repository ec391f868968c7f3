/// What is wrong with one configuration value (without the variable name).
public struct ConfigurationProblem: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Every invalid `WHARF_*` variable found at start-up, each named with what is wrong with it.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public struct Entry: Sendable, Equatable {
        public var variable: String
        public var problem: String
    }

    public var entries: [Entry]

    public var description: String {
        "invalid configuration: "
            + entries.map { "\($0.variable): \($0.problem)" }.joined(separator: "; ")
    }
}
