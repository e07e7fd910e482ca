import Testing

@Test func placeholderPostgres() { #expect(1 + 1 == 2) }
