/// PostgreSQL `text` cannot hold U+0000: a string with a NUL character bound as a parameter fails the whole
/// statement ("invalid byte sequence for encoding UTF8: 0x00"). Services check input with this first, so
/// such a value is answered as unknown (a lookup) or refused with INVALID_ARGUMENT (a write), never INTERNAL.
public enum PostgresText {
    public static func canStore(_ text: some StringProtocol) -> Bool { !text.utf8.contains(0) }

    public static func canStoreAll(_ texts: some Sequence<some StringProtocol>) -> Bool { texts.allSatisfy { canStore($0) } }
}
