/// Token embedding lookup from a table of any dtype.
/// table: [vocab, dim]; out: [tokens.count, dim].
func embeddingForward(_ out: UnsafeMutablePointer<Float>, table: Tensor, tokens: some Sequence<Int>) {
    let dim = table.columns, rowBytes = table.rowBytes
    for (t, id) in tokens.enumerated() {
        Dequantize.row(from: table.rawPointer + id * rowBytes, dtype: table.dtype, count: dim, into: out + t * dim)
    }
}
