/// Element types a tensor can be stored in. Float types hold one value per element; the ggml
/// block formats pack `blockSize` consecutive values of a row into `blockBytes` bytes. What each
/// one is lives in its row of the format table (`format`, Tensor/Formats/).
public enum DType: String, Sendable, CaseIterable, Codable {
    case f32, f16, bf16
    case i8, i32
    case q8_0, q4_0, q4_1
    /// ggml's 5-bit blocks and K-quants (super-blocks of 256 values), as llama.cpp writes them.
    case q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k
    /// Packed b-bit integer codes (2...8 bits) in groups of any size along each row, with a
    /// float32 scale (and a zero point when asymmetric) per group. Each row starts with a header
    /// that describes it (see `GroupQuantLayout`), so sizes come from the tensor, not the dtype.
    case qgroup

    /// Values per storage block (1 for plain element types).
    public var blockSize: Int { format.blockSize }

    /// Bytes per storage block (0 for `.qgroup`, whose rows carry their own layout).
    public var blockBytes: Int { format.blockBytes }

    public var isQuantized: Bool { blockSize > 1 || self == .qgroup }
    public var isFloat: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Bits of storage per value, including block scales (0 for `.qgroup`: see `Tensor.byteCount`).
    public var bitsPerValue: Double { Double(blockBytes * 8) / Double(blockSize) }

    /// Bytes needed for `count` values; `nil` when `count` is not a whole number of blocks, and
    /// always for `.qgroup`, whose size depends on its layout (use `Tensor.byteCount`).
    public func byteCount(elements count: Int) -> Int? {
        guard self != .qgroup, count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    /// The name llama.cpp and the GGUF spec use (`F32`, `Q4_0`, ...).
    public var ggmlName: String { rawValue.uppercased() }
}
