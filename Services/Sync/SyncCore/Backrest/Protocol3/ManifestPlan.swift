/// What the hub does with a client's operation manifest (protocol 3, §16a step 6), apart from I/O: every stored
/// operation of that client the manifest lacks is deleted; every manifest entry that is new or whose modno changed
/// is requested, in manifest order, in `request_operation_data` messages of at most `idsPerRequest` ids (a manifest
/// of a large history must not become one message over the size limit). A manifest that repeats an id counts its
/// last modno, as a map built from it would, and the id is requested once.
struct ManifestPlan: Equatable {
    enum ManifestError: Error, Equatable, CustomStringConvertible {
        case mismatchedLengths(ids: Int, modnos: Int)
        case tooLarge(count: Int, limit: Int)

        var description: String {
            switch self {
            case .mismatchedLengths(let ids, let modnos):
                "operation manifest has mismatched op_ids (\(ids)) and modnos (\(modnos)) lengths"
            case .tooLarge(let count, let limit): "operation manifest of \(count) operations is over this hub's limit of \(limit)"
            }
        }
    }

    /// The peer's own ids of stored operations to delete.
    var deletions: [Int64]
    /// The peer's ids to request, batch by batch.
    var requests: [[Int64]]

    /// `stored` maps the peer's operation ids stored here to the peer's modno of each.
    init(ids: [Int64], modnos: [Int64], stored: [Int64: Int64], idsPerRequest: Int, limit: Int) throws(ManifestError) {
        guard ids.count == modnos.count else { throw .mismatchedLengths(ids: ids.count, modnos: modnos.count) }
        guard ids.count <= limit else { throw .tooLarge(count: ids.count, limit: limit) }
        var manifest: [Int64: Int64] = [:]
        manifest.reserveCapacity(ids.count)
        for (id, modno) in zip(ids, modnos) { manifest[id] = modno }
        deletions = stored.keys.filter { manifest[$0] == nil }.sorted()
        var needed: [Int64] = []
        var requested = Set<Int64>()
        for id in ids where stored[id] != manifest[id] && requested.insert(id).inserted { needed.append(id) }
        let size = max(1, idsPerRequest)
        requests = stride(from: 0, to: needed.count, by: size).map { Array(needed[$0..<min($0 + size, needed.count)]) }
    }
}
