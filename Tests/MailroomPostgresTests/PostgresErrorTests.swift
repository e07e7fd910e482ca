import MailroomPostgres
import Testing

@Suite("How a PostgreSQL error persists")
struct PostgresErrorTests {
    private func persistence(_ state: String) -> PostgresError.Persistence {
        PostgresError(.server, sqlState: state, message: "m").persistence
    }

    @Test func conditionsOfTheServerAreWaitedOut() {
        let expected: [String: String] = [
            "25006": "read_only", "53100": "disk_full", "53200": "out_of_memory", "53300": "too_many_connections",
            "53400": "insufficient_resources", "40001": "serialization_failure", "40P01": "deadlock",
            "40002": "transaction_rollback", "57014": "statement_timeout", "55P03": "lock_timeout", "58030": "io_error",
            // When in doubt, wait: a missing table or a permission is an operator's fix, not the message's fault.
            "42P01": "sqlstate_42P01", "42501": "sqlstate_42501", "XX000": "sqlstate_XX000",
        ]
        for (state, condition) in expected {
            #expect(persistence(state) == .transient(condition: condition), "\(state)")
        }
        #expect(PostgresError(.server, message: "no state").persistence == .transient(condition: "unclassified"))
        #expect(PostgresError(.decoding, message: "m").persistence == .transient(condition: "unexpected_result"))
    }

    @Test func onlyTheInputsOwnFaultsMaySetItAside() {
        for state in ["22001", "22021", "22P02", "23505", "23514", "23503", "54000"] {
            #expect(persistence(state) == .inputSpecific, "\(state)")
        }
    }

    @Test func lostConnections() {
        #expect(PostgresError(.connectionClosed, message: "m").persistence == .connectionLost)
        #expect(PostgresError(.connectionFailed, message: "m").persistence == .connectionLost)
        for state in ["08006", "08003", "57P01", "57P02", "57P03"] {
            #expect(persistence(state) == .connectionLost, "\(state)")
        }
    }
}
