import Foundation
import WharfEncoding
import WharfProto
import WharfRuntime

extension NostrFilter {
    /// A filter as ORLY sends it over gRPC (spec/wire-orly.txt §3): ids and authors as raw 32 bytes, tag keys
    /// with or without `#`, tag values as text. Empty repeated fields cannot be told from absent ones on the
    /// wire, so they mean "no condition".
    public init(proto: Orlysync_Common_V1_Filter) {
        self.init()
        if !proto.ids.isEmpty { ids = proto.ids.filter { $0.count == 32 }.map { Array($0).hexString } }
        if !proto.authors.isEmpty { authors = proto.authors.filter { $0.count == 32 }.map { Array($0).hexString } }
        if !proto.kinds.isEmpty { kinds = proto.kinds.map { Int($0) } }
        for (key, set) in proto.tags {
            let name = key.hasPrefix("#") ? String(key.dropFirst()) : key
            guard name.count == 1 else { continue }
            tags[name] = set.values.map { String(decoding: $0, as: UTF8.self) }
        }
        if proto.hasSince { since = proto.since }
        if proto.hasUntil { until = proto.until }
        if proto.hasLimit { limit = Int(proto.limit) }
    }
}
