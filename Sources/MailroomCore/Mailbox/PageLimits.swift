/// How many messages one page of an inbox or sentbox listing holds: ``default`` unless asked, at most
/// ``maximum``.
public enum PageLimits {
    /// The page size when none is given.
    public static let `default` = 100
    /// The largest page.
    public static let maximum = 10_000
}
