import HummingbirdCore
import Logging
import NIOCore

/// Serves each HTTP connection from a task that prefers one of the query client's executors
/// (`MailroomClient.nextExecutor()`), so that a request's handler, its queries and the reading of their
/// results run on one loop thread, as docs/QUERY.md recommends for busy tasks, instead of crossing from Swift's
/// cooperative pool to the loop and back for every query. Connections are spread over the loops round-robin.
struct ExecutorPreferringChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let nextExecutor: @Sendable () -> any TaskExecutor

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(nextExecutor()) {
            await inner.handle(value: value, logger: logger)
        }
    }
}
