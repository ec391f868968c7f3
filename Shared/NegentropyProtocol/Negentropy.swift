/// Negentropy protocol V1 over a sealed storage, byte-identical to the hoytech reference: 16 fingerprint
/// buckets per differing range, an IdList below 32 items, minimal bounds, coalesced skips, and the frame-size
/// rule (200-byte margin; the rest of the set folded into one fingerprint to infinity).
///
/// Reconciling is a pure function of the storage and the incoming message, so one value serves any number
/// of sessions and rounds; the initiator keeps its have/need ids itself.
public struct Negentropy<Storage: NegentropyStorage>: Sendable {
    public static var protocolVersion: UInt8 { 0x61 }

    public let storage: Storage
    /// 0 = unlimited; otherwise at least 4096 bytes per message.
    public let frameSizeLimit: Int
    /// Fingerprinted buckets a differing range is split into (ranges of fewer than twice as many items are
    /// sent as ids). 16 is the reference's, which NIP-77 peers use; any value is understood by every peer, and
    /// fewer buckets trade rounds for bytes (each level of the split costs buckets × 16 bytes per difference).
    public let buckets: Int
    /// The split that costs the fewest bytes for a few differences in a large set (measured on 1,000,000 ids
    /// differing by 100: 16 buckets 170 KB in 3 rounds, 8: 89 KB in 4, 4: 68 KB in 5, 2: 80 KB in 10), used
    /// where both ends are Wharf's own (the store's record reconciliation).
    public static var fewestBytesBuckets: Int { 4 }

    public init(storage: Storage, frameSizeLimit: Int = 0, buckets: Int = 16) throws {
        guard frameSizeLimit == 0 || frameSizeLimit >= 4096 else { throw NegentropyError.frameSizeLimitTooSmall }
        guard (2...64).contains(buckets) else { throw NegentropyError.invalidBucketCount }
        self.storage = storage
        self.frameSizeLimit = frameSizeLimit
        self.buckets = buckets
    }

    /// The initiator's first message: the whole set, split.
    // Specialised here for the storages Wharf uses: called from another module, a generic method would run
    // unspecialised (every item and fingerprint through a witness table) and pay first-use metadata lookups.
    @_specialize(exported:true,where Storage == SortedItems)
    @_specialize(exported:true,where Storage == ItemIndexSnapshot)
    public func initiate() -> [UInt8] {
        var output: [UInt8] = [Self.protocolVersion]
        var encoder = BoundEncoder()
        splitRange(0..<storage.count, upperBound: .infinity, encoder: &encoder, into: &output)
        return output
    }

    /// What an initiator learns from one responder message.
    public struct InitiatorStep: Sendable {
        /// The next message to send; nil when reconciliation is complete.
        public var next: [UInt8]?
        /// Ids only this side has (the peer lacks them), and ids only the peer has. With a frame limit the
        /// same id may be reported again in a later round.
        public var have: [EventID]
        public var need: [EventID]
    }

    @_specialize(exported:true,where Storage == SortedItems)
    @_specialize(exported:true,where Storage == ItemIndexSnapshot)
    public func reconcileAsInitiator(_ message: [UInt8]) throws -> InitiatorStep {
        var step = InitiatorStep(next: nil, have: [], need: [])
        let output = try reconcile(message, initiator: true, have: &step.have, need: &step.need)
        step.next = output.count == 1 ? nil : output
        return step
    }

    /// What a responder answers, with the differences it could see exactly: in every range the initiator sent
    /// as an IdList, ids only the responder has (`have`) and ids only the initiator has (`need`) — both empty
    /// when they were not asked for.
    public struct ResponderStep: Sendable {
        public var reply: [UInt8]
        public var have: [EventID]
        public var need: [EventID]
    }

    @_specialize(exported:true,where Storage == SortedItems)
    @_specialize(exported:true,where Storage == ItemIndexSnapshot)
    public func reconcileAsResponder(_ message: [UInt8], differences: Bool = true) throws -> ResponderStep {
        var step = ResponderStep(reply: [], have: [], need: [])
        step.reply = try reconcile(message, initiator: false, differences: differences, have: &step.have, need: &step.need)
        return step
    }

    /// `differences`: whether to work out `have`/`need` from the peer's id lists. A responder whose caller
    /// does not report them (a NIP-77 relay: the client learns them from the reply) skips that work, which
    /// is most of a responder's time when an empty client is sent a large set id by id.
    private func reconcile(
        _ message: [UInt8], initiator: Bool, differences: Bool = true, have: inout [EventID], need: inout [EventID]
    ) throws -> [UInt8] {
        var reader = MessageReader(message)
        var encoder = BoundEncoder()
        var output: [UInt8] = [Self.protocolVersion]

        let version = try reader.byte()
        guard (0x60...0x6f).contains(version) else { throw NegentropyError.invalidVersion }
        if version != Self.protocolVersion {
            if initiator { throw NegentropyError("unsupported negentropy protocol version requested: \(version - 0x60)") }
            return output  // a responder answers a newer version with the version it speaks
        }

        let size = storage.count
        var previousBound = Bound(timestamp: 0)
        var previousIndex = 0
        var skipPending = false

        while !reader.isAtEnd {
            var pending: [UInt8] = []
            func flushSkip() {
                guard skipPending else { return }
                skipPending = false
                encoder.append(previousBound, to: &pending)
                Varint.append(Mode.skip.rawValue, to: &pending)
            }

            let currentBound = try reader.bound()
            guard let mode = Mode(rawValue: try reader.varint()) else { throw NegentropyError.unexpectedMode }
            let lower = previousIndex
            var upper = storage.lowerBound(of: currentBound, in: previousIndex..<size)

            switch mode {
            case .skip:
                skipPending = true

            case .fingerprint:
                let theirs = try reader.bytes(Fingerprint.byteCount)
                if storage.fingerprint(of: lower..<upper).elementsEqual(theirs) {
                    skipPending = true
                } else {
                    flushSkip()
                    splitRange(lower..<upper, upperBound: currentBound, encoder: &encoder, into: &pending)
                }

            case .idList:
                let count = try reader.count(ofItemsSized: EventID.byteCount)
                if differences {
                    var theirs = Set<EventID>(minimumCapacity: count)
                    for _ in 0..<count { theirs.insert(try reader.id()) }
                    for index in lower..<upper {
                        let id = storage.item(at: index).id
                        if theirs.remove(id) == nil { have.append(id) }
                    }
                    need.append(contentsOf: theirs.sorted())
                } else {
                    _ = try reader.bytes(count * EventID.byteCount)
                }

                if initiator {
                    skipPending = true
                } else {
                    flushSkip()
                    var ids: [UInt8] = []
                    var sent = 0
                    var endBound = currentBound
                    for index in lower..<upper {
                        if exceedsFrameLimit(output.count + ids.count) {
                            endBound = Bound(storage.item(at: index))
                            upper = index  // the rest of the range falls to the closing fingerprint
                            break
                        }
                        storage.item(at: index).id.append(to: &ids)
                        sent += 1
                    }
                    encoder.append(endBound, to: &pending)
                    Varint.append(Mode.idList.rawValue, to: &pending)
                    Varint.append(UInt64(sent), to: &pending)
                    pending += ids
                    output += pending
                    pending.removeAll()
                }
            }

            if exceedsFrameLimit(output.count + pending.count) {
                // Full: what this range would add is dropped, and one fingerprint covers everything from its
                // start to infinity; the peer splits that again next round.
                encoder.append(.infinity, to: &output)
                Varint.append(Mode.fingerprint.rawValue, to: &output)
                output += storage.fingerprint(of: upper..<size)
                break
            }
            output += pending
            previousIndex = upper
            previousBound = currentBound
        }
        return output
    }

    /// A differing range: its ids when fewer than 2 × `buckets` (32 by default), else `buckets` fingerprinted
    /// buckets (the first `n % buckets` one item larger) separated by minimal bounds.
    private func splitRange(_ range: Range<Int>, upperBound: Bound, encoder: inout BoundEncoder, into output: inout [UInt8]) {
        let count = range.count
        if count < 2 * buckets {
            encoder.append(upperBound, to: &output)
            Varint.append(Mode.idList.rawValue, to: &output)
            Varint.append(UInt64(count), to: &output)
            for index in range { storage.item(at: index).id.append(to: &output) }
            return
        }
        let perBucket = count / buckets
        let withExtra = count % buckets
        var current = range.lowerBound
        for bucket in 0..<buckets {
            let bucketSize = perBucket + (bucket < withExtra ? 1 : 0)
            let fingerprint = storage.fingerprint(of: current..<current + bucketSize)
            current += bucketSize
            let bound =
                current == range.upperBound
                ? upperBound
                : Bound.minimal(between: storage.item(at: current - 1), and: storage.item(at: current))
            encoder.append(bound, to: &output)
            Varint.append(Mode.fingerprint.rawValue, to: &output)
            output += fingerprint
        }
    }

    private func exceedsFrameLimit(_ size: Int) -> Bool {
        frameSizeLimit != 0 && size > frameSizeLimit - 200
    }
}
