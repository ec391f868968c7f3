import WharfRuntime

/// Published on `wharf.record.pushed` after a Push stored a new record (committed). Routing and sync use it
/// as a hint; they reconcile from PostgreSQL as well, since events can be missed.
public struct RecordPushed: WharfEvent, Equatable {
    public static let topic = "record.pushed"
    public var cid: String

    public init(cid: String) { self.cid = cid }
}

/// Published on `wharf.record.deleted` after a Delete removed a stored record (committed).
public struct RecordDeleted: WharfEvent, Equatable {
    public static let topic = "record.deleted"
    public var cid: String

    public init(cid: String) { self.cid = cid }
}
