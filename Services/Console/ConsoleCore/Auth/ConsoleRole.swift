/// What a signed-in person may do: an admin reads every page and uses every form; a viewer reads the pages
/// and submits nothing.
public enum ConsoleRole: String, Sendable, Equatable {
    case admin
    case viewer
}
