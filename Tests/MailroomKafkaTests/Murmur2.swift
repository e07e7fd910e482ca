/// Kafka's Java `Utils.murmur2`, written from the Java source for these tests: an independent reference for
/// what partition a Java producer would choose (`toPositive(murmur2(key)) % partitions`).
enum JavaMurmur2 {
    static func hash(_ data: [UInt8]) -> Int32 {
        let length = data.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(length)
        for i in 0..<(length / 4) {
            let i4 = i * 4
            var k =
                UInt32(data[i4]) | UInt32(data[i4 + 1]) << 8 | UInt32(data[i4 + 2]) << 16 | UInt32(data[i4 + 3]) << 24
            k &*= m
            k ^= k >> r
            k &*= m
            h &*= m
            h ^= k
        }
        let tail = length & ~3
        switch length % 4 {
        case 3:
            h ^= UInt32(data[tail + 2]) << 16
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 2:
            h ^= UInt32(data[tail + 1]) << 8
            h ^= UInt32(data[tail])
            h &*= m
        case 1:
            h ^= UInt32(data[tail])
            h &*= m
        default:
            break
        }
        h ^= h >> 13
        h &*= m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    static func partition(for key: [UInt8], partitions: Int) -> Int32 {
        Int32((UInt32(bitPattern: hash(key)) & 0x7fff_ffff) % UInt32(partitions))
    }
}
