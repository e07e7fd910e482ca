internal import MailroomPostgres
internal import MailroomStore

extension MailroomClient {
    /// How the client connects and watches. Every property has a default but the database URL.
    public struct Configuration: Sendable {
        /// A libpq connection URL.
        public var databaseURL: String
        /// Connections in the pool that serves listings, reads and deletes. Watches use one more, shared.
        public var poolSize: Int = 4
        /// Seconds to wait for the server when connecting.
        public var connectTimeout: Int = 5
        /// Shown in `pg_stat_activity` for pooled connections; the LISTEN session adds `-listen`.
        public var applicationName: String = "mailroom-query"
        /// Events a watcher may have waiting before it is ended with
        /// ``MailroomQueryError/Code/watcherTooSlow`` (memory stays bounded whatever the consumer does).
        public var watchBufferSize: Int = 1024
        /// First wait before the LISTEN session reconnects; doubles up to ``watchMaximumBackoff``.
        public var watchMinimumBackoff: Duration = .milliseconds(50)
        public var watchMaximumBackoff: Duration = .seconds(5)

        public init(databaseURL: String, poolSize: Int = 4) {
            self.databaseURL = databaseURL
            self.poolSize = max(1, poolSize)
        }

        /// The pool and the LISTEN session connect with `target_session_attrs=read-write`: marks and deletes
        /// write, and notifications are only raised on the primary, so after a failover they find the new one
        /// among the URL's hosts.
        var connection: PostgresConnection.Configuration {
            PostgresConnection.Configuration(
                url: databaseURL,
                connectTimeout: connectTimeout,
                applicationName: applicationName,
                targetSessionAttributes: "read-write"
            )
        }

        var listener: PostgresListener.Configuration {
            var connection = self.connection
            connection.applicationName = applicationName + "-listen"
            return PostgresListener.Configuration(
                connection: connection,
                channels: [MailboxNotification.channel],
                minimumBackoff: watchMinimumBackoff,
                maximumBackoff: watchMaximumBackoff
            )
        }
    }
}
