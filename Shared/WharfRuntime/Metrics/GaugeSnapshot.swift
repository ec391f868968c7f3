import CoreMetrics
import Synchronization

/// Gauges published as a whole from a periodic reading (of PostgreSQL, say): each `publish` records every
/// labelled value it is given and removes the gauges of the previous reading it was not given, so a client,
/// plan or sync that is gone stops being reported instead of freezing at its last value.
public final class GaugeSnapshot: Sendable {
    public struct Value: Sendable {
        public var label: String
        public var dimensions: [(String, String)]
        public var value: Double

        public init(_ label: String, _ dimensions: [(String, String)] = [], _ value: Double) {
            self.label = label
            self.dimensions = dimensions
            self.value = value
        }

        var key: [String] { [label] + dimensions.flatMap { [$0.0, $0.1] } }
    }

    private let factory: any MetricsFactory
    private let published = Mutex<[[String]: Value]>([:])

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    public func publish(_ values: [Value]) {
        let fresh = Dictionary(values.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        let gone = published.withLock { published in
            defer { published = fresh }
            return published.filter { fresh[$0.key] == nil }.map(\.value)
        }
        for value in fresh.values {
            Gauge(label: value.label, dimensions: value.dimensions, factory: factory).record(value.value)
        }
        for value in gone { Gauge(label: value.label, dimensions: value.dimensions, factory: factory).destroy() }
    }
}
