import Hummingbird
import MailroomCore
import MailroomPostgres
import MailroomProducer
import MailroomQuery

/// How library errors become API errors.
enum APIFailure {
    /// Runs a query-library call, turning its errors into ``APIError``s.
    static func mapping<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as APIError {
            throw error
        } catch let error as MailroomQueryError {
            switch error.code {
            case .mailboxNotFound:
                throw APIError(.notFound, error.code.name, "the caller has no mailbox: PUT /v1/mailbox")
            case .messageNotFound: throw APIError(.notFound, error.code.name, "no such message in the caller's mailbox")
            case .invalidLimit: throw APIError(.badRequest, error.code.name, error.message)
            default:
                throw APIError(
                    .serviceUnavailable,
                    "database_unavailable",
                    "the mailbox store failed: \(error.code.name)"
                )
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // PostgreSQL away or refusing: the request may be retried. Its details stay in the server's log.
            throw APIError(.serviceUnavailable, "database_unavailable", "the mailbox store is unavailable")
        }
    }

    static func producer(_ error: ProducerError) -> APIError {
        switch error.code {
        case .brokerUnreachable:
            APIError(.serviceUnavailable, error.code.rawValue, "the broker did not acknowledge the envelope")
        case .deliveryFailed: APIError(.serviceUnavailable, error.code.rawValue, "the broker refused the envelope")
        default: APIError(.badRequest, error.code.rawValue, error.envelopeError?.detail ?? error.message)
        }
    }
}
