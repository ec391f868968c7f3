import ConsoleCore
import Foundation
import Testing

@Suite("metrics text and the rates read from it")
struct PrometheusTextTests {
    static let scrape = """
        # TYPE wharf_grpc_requests_total counter
        wharf_grpc_requests_total{method="a/B"} 100
        wharf_grpc_requests_total{method="a/C"} 50
        wharf_grpc_errors_total{method="a/B",code="unavailable"} 5
        wharf_grpc_request_duration_seconds_bucket{method="a/B",le="0.005"} 90
        wharf_grpc_request_duration_seconds_bucket{method="a/B",le="0.01"} 100
        wharf_grpc_request_duration_seconds_bucket{method="a/B",le="+Inf"} 100
        wharf_grpc_request_duration_seconds_bucket{method="a/C",le="0.005"} 50
        wharf_grpc_request_duration_seconds_bucket{method="a/C",le="0.01"} 50
        wharf_grpc_request_duration_seconds_bucket{method="a/C",le="+Inf"} 50
        wharf_limiter_slots_in_use{limiter="store_watchers"} 3
        wharf_limiter_slots_limit{limiter="store_watchers"} 64
        wharf_dependency_up{dependency="postgres"} 1
        wharf_dependency_up{dependency="redis"} 0
        odd_label{text="a \\"quoted\\" value, with = and }"} 1 1700000000000
        broken{unterminated="x} 1
        not a metric line
        """

    @Test("samples, labels with escapes, timestamps; broken lines are skipped")
    func parse() {
        let samples = PrometheusText.parse(Self.scrape)
        #expect(samples.count == 14)
        #expect(samples.first { $0.name == "odd_label" }?.labels["text"] == "a \"quoted\" value, with = and }")
        #expect(samples.contains { $0.name == "broken" } == false)
        let reading = TrafficReading(at: Date(timeIntervalSince1970: 0), samples: samples)
        #expect(reading.requests == 150)
        #expect(reading.errors == 5)
        #expect(reading.buckets[0.005] == 140)
        #expect(reading.buckets[.infinity] == 150)
        #expect(reading.limiters["store_watchers"]?.inUse == 3)
        #expect(reading.limiters["store_watchers"]?.limit == 64)
        #expect(reading.dependencies == ["postgres": true, "redis": false])
    }

    @Test("rates between readings: requests/s, error ratio, p99 interpolated in its bucket; a restart gives none")
    func rates() throws {
        let earlier = TrafficReading(at: Date(timeIntervalSince1970: 0), samples: [])
        let later = TrafficReading(at: Date(timeIntervalSince1970: 10), samples: PrometheusText.parse(Self.scrape))
        let rates = try #require(TrafficRates(from: earlier, to: later))
        #expect(rates.requestsPerSecond == 15)
        #expect(abs(rates.errorRatio - 5.0 / 150) < 1e-12)
        // Rank 148.5 of 150 lies in (0.005, 0.01]: 140 at 0.005, 150 at 0.01.
        let p99 = try #require(rates.p99)
        #expect(abs(p99 - (0.005 + 0.005 * (148.5 - 140) / 10)) < 1e-12)
        #expect(TrafficRates(from: later, to: earlier) == nil)
        let restarted = TrafficReading(at: Date(timeIntervalSince1970: 20), samples: [])
        #expect(TrafficRates(from: later, to: restarted) == nil)
        let idle = try #require(
            TrafficRates(from: later, to: TrafficReading(at: Date(timeIntervalSince1970: 20), samples: PrometheusText.parse(Self.scrape))))
        #expect(idle.requestsPerSecond == 0 && idle.errorRatio == 0 && idle.p99 == nil)
    }

    @Test("a hostile endpoint costs bounded memory: samples are capped and overlong lines skipped")
    func bounded() {
        let many = String(repeating: "m 1\n", count: PrometheusText.maximumSamples + 10)
        #expect(PrometheusText.parse(many).count == PrometheusText.maximumSamples)
        let long = "m{a=\"" + String(repeating: "x", count: 70_000) + "\"} 1\nn 2"
        #expect(PrometheusText.parse(long).map(\.name) == ["n"])
    }
}
