import Testing

@testable import SyncCore

@Suite("protocol 3's manifest plan: what the hub deletes and requests, apart from I/O")
struct ManifestPlanTests {
    @Test("an empty store requests the whole manifest in manifest order, in batches; nothing is deleted")
    func everythingNew() throws {
        let plan = try ManifestPlan(ids: [5, 3, 9, 1, 7], modnos: [1, 1, 1, 1, 1], stored: [:], idsPerRequest: 2, limit: 10)
        #expect(plan.deletions == [])
        #expect(plan.requests == [[5, 3], [9, 1], [7]])
    }

    @Test("stored operations the manifest lacks are deleted; new ids and changed modnos are requested; unchanged ones are not")
    func differences() throws {
        let stored: [Int64: Int64] = [1: 10, 2: 20, 3: 30, 4: 40]
        let plan = try ManifestPlan(ids: [1, 3, 4, 6], modnos: [10, 31, 40, 60], stored: stored, idsPerRequest: 100, limit: 10)
        #expect(plan.deletions == [2])
        #expect(plan.requests == [[3, 6]])
    }

    @Test("the same manifest again asks for nothing")
    func unchanged() throws {
        let plan = try ManifestPlan(ids: [1, 2], modnos: [10, 20], stored: [1: 10, 2: 20], idsPerRequest: 100, limit: 10)
        #expect(plan.deletions == [])
        #expect(plan.requests == [])
    }

    @Test("an empty manifest deletes everything stored")
    func emptyManifest() throws {
        let plan = try ManifestPlan(ids: [], modnos: [], stored: [8: 1, 2: 1], idsPerRequest: 100, limit: 10)
        #expect(plan.deletions == [2, 8])
        #expect(plan.requests == [])
    }

    @Test("a repeated id counts its last modno and is requested once")
    func repeatedIDs() throws {
        let plan = try ManifestPlan(ids: [4, 4, 5], modnos: [1, 2, 3], stored: [4: 2], idsPerRequest: 100, limit: 10)
        #expect(plan.requests == [[5]])
        let changed = try ManifestPlan(ids: [4, 5, 4], modnos: [2, 3, 9], stored: [:], idsPerRequest: 100, limit: 10)
        #expect(changed.requests == [[4, 5]])
    }

    @Test("extreme ids and modnos are plain keys: no arithmetic on them")
    func extremes() throws {
        let plan = try ManifestPlan(
            ids: [.min, .max, 0, -1], modnos: [.max, .min, 0, -1], stored: [.min: .max, 7: 7], idsPerRequest: 3, limit: 10)
        #expect(plan.deletions == [7])
        #expect(plan.requests == [[.max, 0, -1]])
    }

    @Test("mismatched lengths and a manifest over the limit are refused with the reason; a zero batch size still makes progress")
    func refused() throws {
        #expect(throws: ManifestPlan.ManifestError.mismatchedLengths(ids: 2, modnos: 1)) {
            try ManifestPlan(ids: [1, 2], modnos: [1], stored: [:], idsPerRequest: 10, limit: 10)
        }
        #expect(throws: ManifestPlan.ManifestError.tooLarge(count: 3, limit: 2)) {
            try ManifestPlan(ids: [1, 2, 3], modnos: [1, 1, 1], stored: [:], idsPerRequest: 10, limit: 2)
        }
        #expect(try ManifestPlan(ids: [1, 2], modnos: [1, 1], stored: [:], idsPerRequest: 0, limit: 10).requests == [[1], [2]])
    }
}
