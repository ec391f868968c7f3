import ServiceLifecycle

/// A service's periodic work (probes, checks, catch-ups): runs `body`, waits `interval`, and again, until
/// graceful shutdown or cancellation.
public func repeatUntilShutdown(every interval: Duration, _ body: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown {
        while !Task.isCancelled {
            await body()
            try? await Task.sleep(for: interval)
        }
    }
}
