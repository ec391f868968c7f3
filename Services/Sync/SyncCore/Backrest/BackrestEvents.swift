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

/// Published on `wharf.backrest.client-changed` when an operator added, changed or removed an authorized
/// client: the replica holding that client's session reads the client again and ends the session at once
/// when it was removed or its permissions changed.
struct BackrestClientChanged: WharfEvent, Equatable {
    static let topic = "backrest.client-changed"
    var keyid: String
}

/// Published on `wharf.backrest.session-began` when a client's session is established: that client's older
/// sessions, on any replica, end ("displaced by a newer connection from the same peer", as backrest).
struct BackrestSessionBegan: WharfEvent, Equatable {
    static let topic = "backrest.session-began"
    var keyid: String
    var session: String
}

/// Published on `wharf.backrest.shared-repos` when an operator changed the hub's shared repos: every replica sends the
/// current set to its protocol-3 sessions that may receive them.
struct BackrestSharedReposChanged: WharfEvent, Equatable {
    static let topic = "backrest.shared-repos"
    var changed = true
}
