import Testing

@testable import MailroomCore

@Suite("Bounded key caches")
struct BoundedCacheTests {
    @Test("Evicts the oldest entries beyond its capacity")
    func eviction() {
        let cache = BoundedCache<Int, String>(capacity: 4)
        for i in 0..<10 { cache.insert("\(i)", for: i) }
        #expect(cache.count == 4)
        #expect(cache[9] == "9")
        #expect(cache[6] == "6")
        #expect(cache[5] == nil)
        #expect(cache[0] == nil)
        cache.insert("nine", for: 9)
        #expect(cache[9] == "nine" && cache.count == 4)
        #expect(cache.value(for: 42) { _ in nil } == nil)
        #expect(cache[42] == nil)
    }

    @Test("Is safe to use from many threads at once")
    func concurrent() async {
        let cache = BoundedCache<Int, Int>(capacity: 64)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<5_000 {
                        let key = (i * 7 + task) % 200
                        let value = cache.value(for: key) { $0 * 2 }
                        precondition(value == key * 2)
                    }
                }
            }
        }
        #expect(cache.count <= 64)
    }
}
