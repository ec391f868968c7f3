import Foundation
import Testing
import WharfProto
import WharfTestSupport

@Suite("observability: Debian's Prometheus with deploy/prometheus against a running system", .serialized)
struct PrometheusTests {
    static let folder = ProjectPaths.root.appendingPathComponent("deploy/prometheus").path

    @Test("promtool accepts prometheus.yml and the alert rules, and the rules' unit tests fire every alert from synthetic series")
    func promtool() async throws {
        for arguments in [
            ["check", "config", "prometheus.yml"], ["check", "rules", "rules/wharf.yml"], ["test", "rules", "tests/wharf-rules.test.yml"],
        ] {
            let run = try await runExecutable(
                "/bin/sh", ["-c", "cd '\(Self.folder)' && exec promtool " + arguments.joined(separator: " ")], environment: [:],
                timeout: .seconds(120))
            #expect(run.status == 0, "promtool \(arguments.joined(separator: " ")): \(run.output)")
        }
        // Every alert of the rules has a unit test that fires it.
        let rules = try String(contentsOfFile: Self.folder + "/rules/wharf.yml", encoding: .utf8)
        let tests = try String(contentsOfFile: Self.folder + "/tests/wharf-rules.test.yml", encoding: .utf8)
        let alerts = rules.split(separator: "\n").compactMap { line -> String? in
            let text = line.trimmingCharacters(in: .whitespaces)
            return text.hasPrefix("- alert: ") ? String(text.dropFirst("- alert: ".count)) : nil
        }
        #expect(alerts.count == 10)
        for alert in alerts { #expect(tests.contains("alertname: \(alert)\n        exp_alerts:\n          - exp_labels"), "\(alert)") }
    }

    @Test(
        "every target (each component and the console) is up; every expression of the rules and of the Grafana dashboard evaluates without error and names only metrics the system exports"
    )
    func live() async throws {
        let system = try await ObservedSystem.started()
        let work = try TemporaryDirectories.make(prefix: "prometheus")
        defer { try? FileManager.default.removeItem(atPath: work) }
        var config = try #require(try await DeploymentFiles.documents("deploy/prometheus/prometheus.yml").first)
        // The same jobs and labels, the targets on this machine's ports, scraped every second.
        config["global"] = ["scrape_interval": "1s", "evaluation_interval": "1s"]
        config["rule_files"] = [Self.folder + "/rules/*.yml"]
        var jobs = try #require(config["scrape_configs"] as? [[String: Any]])
        let targets = system.metricsTargets
        var components: [String] = []
        for (index, job) in jobs.enumerated() {
            var statics = try #require(job["static_configs"] as? [[String: Any]])
            for (position, entry) in statics.enumerated() {
                let component = try #require((entry["labels"] as? [String: String])?["component"])
                let port = try #require(targets[component], "no metrics port for \(component)")
                statics[position]["targets"] = ["127.0.0.1:\(port)"]
                components.append(component)
            }
            jobs[index]["static_configs"] = statics
        }
        #expect(Set(components) == Set(targets.keys))
        config["scrape_configs"] = jobs
        let configPath = work + "/prometheus.json"
        try JSONSerialization.data(withJSONObject: config, options: [.withoutEscapingSlashes]).write(to: URL(fileURLWithPath: configPath))
        let port = try freePort()
        let prometheus = try SpawnedProcess.spawn(
            "/usr/bin/prometheus",
            ["--config.file=\(configPath)", "--storage.tsdb.path=\(work)/data", "--web.listen-address=127.0.0.1:\(port)"],
            environment: [:], outputPath: work + "/prometheus.log")
        defer { Task { await prometheus.stop() } }
        let api = "http://127.0.0.1:\(port)/api/v1"
        func get(_ path: String) async throws -> [String: Any] {
            let answer = try await httpGet(api + path)
            return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]) ?? [:]
        }
        var health: [String] = []
        let up = try await eventually(timeout: .seconds(60), every: .milliseconds(500)) {
            let targets = (try await get("/targets")["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]] ?? []
            health = targets.map { "\(($0["labels"] as? [String: String])?["component"] ?? "?")=\($0["health"] ?? "?")" }
            return targets.count == components.count && targets.allSatisfy { $0["health"] as? String == "up" }
        }
        #expect(up, "\(health) \((try? String(contentsOfFile: work + "/prometheus.log", encoding: .utf8))?.suffix(2000) ?? "")")
        // Rates need two scrapes of each target.
        #expect(
            try await eventually(timeout: .seconds(30), every: .milliseconds(500)) {
                let result = (try await get("/query?query=" + Self.encode("rate(wharf_grpc_requests_total[1m])"))["data"] as? [String: Any])?[
                    "result"]
                return (result as? [Any])?.isEmpty == false
            })

        var expressions: [String] = []
        let rules = try #require(try await DeploymentFiles.documents("deploy/prometheus/rules/wharf.yml").first)
        for group in rules["groups"] as? [[String: Any]] ?? [] {
            for rule in group["rules"] as? [[String: Any]] ?? [] { if let expr = rule["expr"] as? String { expressions.append(expr) } }
        }
        let dashboardData = try Data(contentsOf: ProjectPaths.root.appendingPathComponent("deploy/grafana/wharf.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: dashboardData) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 15)
        for panel in panels {
            for target in panel["targets"] as? [[String: Any]] ?? [] { if let expr = target["expr"] as? String { expressions.append(expr) } }
        }
        #expect(expressions.count >= 30)
        // Some gauges are published from PostgreSQL every 10 s (syncs, backup hosts): wait until every name the
        // expressions read has been scraped, or a minute has passed.
        let named = Set(expressions.flatMap { PromQLNames.metrics(in: $0) })
        var exported = Set<String>()
        _ = try await eventually(timeout: .seconds(60), every: .seconds(1)) {
            exported = Set((try await get("/label/__name__/values")["data"] as? [String]) ?? [])
            return named.isSubset(of: exported)
        }
        for expression in expressions {
            let answer = try await get("/query?query=" + Self.encode(expression))
            #expect(answer["status"] as? String == "success", "\(expression): \(answer)")
            for name in PromQLNames.metrics(in: expression) {
                #expect(exported.contains(name), "\(expression) names \(name), which the system does not export")
            }
        }
        // What the dashboards show agrees with the services: backup hosts, failed plans, a sync's lag, reconciliations.
        let failedPlans = try await system.withA { client in
            try await HostsExpectation.failedPlans(Wharf_Sync_V1_BackrestHub.Client(wrapping: client))
        }
        #expect(failedPlans == 1)
        for (query, expected) in [
            ("count(max by (keyid) (wharf_backrest_peer_connected))", 2.0),
            ("sum(max by (instance_id, plan_id) (wharf_backrest_backup_last_failed))", Double(failedPlans)),
            ("count(max by (sync_id) (wharf_sync_lag_seconds))", 1.0),
            ("sum(wharf_negentropy_reconciliations_total)", 1.0),
            ("sum(wharf_negentropy_reconciliation_duration_seconds_count)", 1.0),
        ] {
            var value = -1.0
            let seen = try await eventually(timeout: .seconds(30), every: .milliseconds(500)) {
                let result = (try await get("/query?query=" + Self.encode(query))["data"] as? [String: Any])?["result"] as? [[String: Any]]
                value = Double((result?.first?["value"] as? [Any])?.last as? String ?? "") ?? -1
                return value == expected
            }
            #expect(seen, "\(query) = \(value), expected \(expected)")
        }
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
