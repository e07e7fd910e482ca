/// Limits applied when sealing, parsing and verifying envelopes and rows.
public struct EnvelopeLimits: Sendable, Hashable {
    /// The largest plaintext body accepted, in bytes. Default 64 KiB.
    public var maxBodyBytes: Int

    /// - Parameter maxBodyBytes: the largest plaintext body accepted; default 65,536.
    public init(maxBodyBytes: Int = 64 * 1024) {
        self.maxBodyBytes = maxBodyBytes
    }
}
