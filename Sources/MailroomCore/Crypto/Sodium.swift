internal import CSodium

/// Initialises libsodium once per process. Every entry point into Mailroom's crypto calls ``Sodium/ensureInitialized()``.
enum Sodium {
    private static let initialized: Bool = sodium_init() >= 0

    /// Makes sure `sodium_init()` ran; traps only if libsodium itself cannot start (no entropy source).
    static func ensureInitialized() {
        precondition(initialized, "libsodium failed to initialise")
    }
}
