import Foundation
import WharfProto

/// The System page from the replica monitor's latest readings: nothing here calls a service.
struct SystemPage {
    let monitor: ReplicaMonitor

    /// Settings that are limits (what the page lists as limits configured).
    static func isLimit(_ name: String) -> Bool {
        ["MAX", "LIMIT", "TIMEOUT", "TTL", "CONCURRENCY", "RATE", "BUDGET", "WINDOW"].contains { name.contains($0) }
    }

    func model() -> PageModel {
        var model = PageModel(page: "system", title: "System", context: [:], refresh: "/system.json")
        let replicas = monitor.replicas
        let routes = monitor.routes
        if let problem = routes.problem { model.problems.append(problem) }
        if routes.at == nil && routes.problem == nil { model.problems.append("The first reading of the system is under way.") }

        var replicaRows: [[String: Any]] = []
        var dependencyRows: [[String: Any]] = []
        var limiterRows: [[String: Any]] = []
        var settings: [String: [String: String]] = [:]
        var reachable: [String: (up: Int, of: Int)] = [:]
        var serving = 0
        for replica in replicas {
            let healthy = replica.problem == nil && (replica.description?.serving ?? false)
            if healthy { serving += 1 }
            let rates = replica.rates(over: 60)
            let component = replica.component.isEmpty ? replica.routedServices.first.map(Self.componentGuess) ?? "?" : replica.component
            let row: [String: Any] = [
                "component": component, "address": replica.address,
                "health": healthy ? "serving" : (replica.problem == nil ? "not serving" : "unreachable"),
                "healthClass": StateClass.of(ok: healthy), "problem": replica.problem ?? false,
                "rate": rates.map { ConsoleText.rate($0.requestsPerSecond) } ?? "–",
                "errors": rates.map { ConsoleText.percent($0.errorRatio) } ?? "–",
                "p99": ConsoleText.milliseconds(rates?.p99),
                "sparkline": Sparkline.svg(replica.requestRateSeries, label: "\(component) requests/s"),
                "startedAt": replica.description.map { ConsoleText.time(unixMilliseconds: $0.startedAtUnixMs) } ?? "–",
            ]
            replicaRows.append(row)
            model.live.text["health:\(replica.address)"] = row["health"] as? String
            model.live.classes["health:\(replica.address)"] = row["healthClass"] as? String
            model.live.text["rate:\(replica.address)"] = row["rate"] as? String
            model.live.text["errors:\(replica.address)"] = row["errors"] as? String
            model.live.text["p99:\(replica.address)"] = row["p99"] as? String
            model.live.svg["spark:\(replica.address)"] = row["sparkline"] as? String
            for dependency in replica.description?.dependencies ?? [] {
                reachable[dependency.name, default: (0, 0)].of += 1
                if dependency.reachable { reachable[dependency.name, default: (0, 0)].up += 1 }
                dependencyRows.append([
                    "component": component, "address": replica.address, "name": dependency.name,
                    "state": dependency.reachable ? "reachable" : "unreachable", "stateClass": StateClass.of(ok: dependency.reachable),
                    "error": dependency.error.isEmpty ? false : dependency.error,
                ])
            }
            if let latest = replica.readings.last {
                for (name, value) in latest.limiters.sorted(by: { $0.key < $1.key }) {
                    let saturation = value.limit.map { $0 > 0 ? ConsoleText.percent(value.inUse / $0) : "–" } ?? "–"
                    limiterRows.append([
                        "component": component, "address": replica.address, "name": name, "inUse": ConsoleText.count(value.inUse),
                        "limit": value.limit.map(ConsoleText.count) ?? "–", "saturation": saturation,
                    ])
                    model.live.text["limiter:\(replica.address):\(name)"] = ConsoleText.count(value.inUse)
                }
            }
            for setting in replica.description?.settings ?? [] where Self.isLimit(setting.name) {
                settings[component, default: [:]][setting.name] = setting.value
            }
        }
        // The gateway itself: its own metrics (it is not behind a route).
        let gatewayView = monitor.gateway
        let gateway = gatewayView.rates(over: 60)
        if !gatewayView.readings.isEmpty {
            let fresh = gatewayView.readings.last.map { Date().timeIntervalSince($0.at) < 30 } ?? false
            model.context["gateway"] = [
                [
                    "component": "gateway", "address": gatewayView.address, "health": fresh ? "serving" : "metrics not read lately",
                    "healthClass": StateClass.of(ok: fresh), "problem": false,
                    "rate": gateway.map { ConsoleText.rate($0.requestsPerSecond) } ?? "–",
                    "errors": gateway.map { ConsoleText.percent($0.errorRatio) } ?? "–", "p99": ConsoleText.milliseconds(gateway?.p99),
                    "sparkline": Sparkline.svg(gatewayView.requestRateSeries, label: "gateway requests/s"),
                ] as [String: Any]
            ]
            model.live.text["rate:\(gatewayView.address)"] = gateway.map { ConsoleText.rate($0.requestsPerSecond) } ?? "–"
            model.live.svg["spark:\(gatewayView.address)"] = Sparkline.svg(gatewayView.requestRateSeries, label: "gateway requests/s")
        }
        model.context["gatewayRate"] = gateway.map { ConsoleText.rate($0.requestsPerSecond) } ?? "–"
        model.context["gatewayErrors"] = gateway.map { ConsoleText.percent($0.errorRatio) } ?? "–"
        model.context["gatewayP99"] = ConsoleText.milliseconds(gateway?.p99)
        model.context["replicasServing"] = "\(serving) / \(replicas.count)"
        model.context["postgres"] = reachable["postgres"].map { "\($0.up) / \($0.of)" } ?? "–"
        model.context["redis"] = reachable["redis"].map { "\($0.up) / \($0.of)" } ?? "–"
        for key in ["gatewayRate", "gatewayErrors", "gatewayP99", "replicasServing", "postgres", "redis"] {
            model.live.text[key] = model.context[key] as? String
        }
        model.context["replicas"] = replicaRows
        model.context["dependencies"] = dependencyRows
        model.context["limiters"] = limiterRows
        model.context["settings"] = settings.keys.sorted().flatMap { component in
            (settings[component] ?? [:]).sorted { $0.key < $1.key }.map { ["component": component, "name": $0.key, "value": $0.value] }
        }
        model.context["routes"] = routes.routes.map { route -> [String: Any] in
            [
                "service": route.service, "serving": route.serving ? "serving" : "not serving",
                "servingClass": StateClass.of(ok: route.serving),
                "replicas": route.replicas.map { "\($0.address)\($0.serving ? "" : " (ejected)")" }.joined(separator: ", "),
            ]
        }
        return model
    }

    /// A replica that could not describe itself is named after the first service routed to it.
    static func componentGuess(_ service: String) -> String {
        service.split(separator: ".").dropLast().joined(separator: ".")
    }
}
