import Foundation
import MailroomKafka

/// Runs ``RecordHandler`` over a batch on all cores. Signature checks dominate a worker's CPU time, so the
/// batch is split into one contiguous slice per task; verdicts come back in record order.
struct BatchVerifier: Sendable {
    let handler: RecordHandler
    let tasks: Int

    func verify(_ records: [KafkaRecord]) async -> [RecordHandler.Verdict] {
        guard !records.isEmpty else { return [] }
        let now = Date()
        let parts = max(1, min(tasks, records.count / 8))
        if parts == 1 { return records.map { handler.handle($0, now: now) } }
        let size = (records.count + parts - 1) / parts
        return await withTaskGroup(of: (Int, [RecordHandler.Verdict]).self) { group in
            for part in 0..<parts {
                let lower = part * size
                let upper = min(lower + size, records.count)
                guard lower < upper else { continue }
                group.addTask { [handler] in
                    (part, records[lower..<upper].map { handler.handle($0, now: now) })
                }
            }
            var pieces = [[RecordHandler.Verdict]](repeating: [], count: parts)
            for await (part, verdicts) in group { pieces[part] = verdicts }
            return pieces.flatMap { $0 }
        }
    }
}
