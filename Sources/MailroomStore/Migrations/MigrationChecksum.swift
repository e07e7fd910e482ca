internal import MailroomCore

/// SHA-256 of a migration file's bytes, as lowercase hex: what `schema_migrations.checksum` records.
enum MigrationChecksum {
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        let digest = SHA256.hash(bytes)
        let hex: [Character] = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(digest.count * 2)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        return text
    }
}
