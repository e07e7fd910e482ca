import Hummingbird

/// Records every routed request's route pattern, method, status and latency in ``APIMetrics``, including
/// requests refused by the middleware after it (authentication, rate limits).
struct ObservationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let metrics: APIMetrics

    func handle(
        _ request: Request,
        context: APIRequestContext,
        next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        func seconds() -> Double {
            let elapsed = ContinuousClock.now - start
            return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        }
        do {
            let response = try await next(request, context)
            metrics.record(route: route, method: method, status: response.status.code, seconds: seconds())
            return response
        } catch let error as any HTTPResponseError {
            metrics.record(route: route, method: method, status: error.status.code, seconds: seconds())
            throw error
        } catch {
            metrics.record(route: route, method: method, status: 500, seconds: seconds())
            throw error
        }
    }
}
