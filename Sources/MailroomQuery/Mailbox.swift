public import Foundation
public import MailroomCore

/// A user's mailbox: its owner's public key and when it was set up.
public struct Mailbox: Sendable, Hashable {
    /// The owner.
    public var owner: PublicKey
    /// When the mailbox was created.
    public var createdAt: Date

    public init(owner: PublicKey, createdAt: Date) {
        self.owner = owner
        self.createdAt = createdAt
    }
}
