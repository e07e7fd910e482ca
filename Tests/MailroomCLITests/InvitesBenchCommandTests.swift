import Foundation
import MailroomTestSupport
import Testing

/// `mailroom-bench invites` at a small size, so that the benchmark behind docs/BENCHMARKS.md ("Invites") keeps
/// running and printing its fields; the figures themselves are for release builds.
@Suite("mailroom-bench invites, small")
struct InvitesBenchCommandTests {
    @Test func sealsBatchesBesideSingleEnvelopes() throws {
        let result = try CLI.run(
            [
                "invites", "--recipients", "40", "--body-bytes", "64", "--threads", "1", "--seconds", "0.4",
                "--rounds", "2", "--json",
            ],
            environment: [:],
            executable: CLI.benchExecutable
        )
        #expect(result.status == 0, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(object["recipients_per_batch"] as? Int == 40)
        #expect((object["invite_recipients_sealed_per_s"] as? Double ?? 0) > 0)
        #expect((object["single_envelopes_sealed_per_s"] as? Double ?? 0) > 0)
        #expect((object["ratio"] as? Double ?? 0) > 0)
        #expect(object["target_ratio"] as? Int == 3)
    }
}
