import WharfRuntime

/// Published on `wharf.backrest.peer-state` after a peer's state was written: every replica's
/// GetPeerSyncStatesStream subscribers read it again and send it.
struct BackrestPeerStateChanged: WharfEvent, Equatable {
    static let topic = "backrest.peer-state"
    var keyid: String
}

/// Published on `wharf.backrest.config-push` when an operator queued a config for a client: the replica
/// holding that client's session sends it.
struct BackrestConfigPushed: WharfEvent, Equatable {
    static let topic = "backrest.config-push"
    var keyid: String
}
