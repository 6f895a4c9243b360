/// Cuts text escaped with "▁" into chunks that BPE can merge one by one with the same result
/// as over the whole text: a cut goes before a "▁" whose preceding character is never followed
/// by "▁" inside any vocabulary piece, so no token, hence no merge, can span it. Chunks repeat
/// (they are mostly words), so their results can be cached, and each merge queue stays small.
struct MetaspaceChunker: Sendable {
    /// Characters that some piece has right before a "▁".
    private let joinsMetaspace: Set<UInt32>
    private static let metaspace: UInt32 = 0x2581

    init(pieces: [String]) {
        var joins = Set<UInt32>()
        for piece in pieces {
            var previous: UInt32? = nil
            for scalar in piece.unicodeScalars {
                if scalar.value == Self.metaspace, let previous { joins.insert(previous) }
                previous = scalar.value
            }
        }
        joinsMetaspace = joins
    }

    /// Byte ranges of the chunks of `text` (valid UTF-8), in order, covering all of it.
    func chunks(_ text: [UInt8]) -> [Range<Int>] {
        let (scalars, offsets) = UTF8Scalars.decode(text)
        var result: [Range<Int>] = []
        var chunkStart = 0
        for i in scalars.indices.dropFirst() where scalars[i] == Self.metaspace && !joinsMetaspace.contains(scalars[i - 1]) {
            result.append(chunkStart..<offsets[i])
            chunkStart = offsets[i]
        }
        if chunkStart < text.count { result.append(chunkStart..<text.count) }
        return result
    }
}
