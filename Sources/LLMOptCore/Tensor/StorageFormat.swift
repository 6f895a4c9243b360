/// Everything the engine knows about one storage format, in one row, after ggml's type traits:
/// block geometry, the ids GGUF and safetensors use, the reference row converters and the kernel
/// that multiplies by it. Loaders, writers, `Dequantize`, `GGMLBlocks` and `Linear` read this
/// table instead of switching on the dtype, so a new format is one file in `Tensor/Formats/`
/// (its `StorageFormat`) plus one row (a `DType` case and its line in `DType.format`).
public struct StorageFormat: Sendable {
    /// Converts `count` values (a whole number of blocks) at `src` to float32 at `dst`.
    public typealias DequantizeRow = @Sendable (_ src: UnsafeRawPointer, _ count: Int, _ dst: UnsafeMutablePointer<Float>) -> Void
    /// Encodes `count` float32 values (a whole number of blocks) at `src` into `dst`.
    public typealias QuantizeRow = @Sendable (_ src: UnsafePointer<Float>, _ count: Int, _ dst: UnsafeMutableRawPointer) -> Void

    /// Values per storage block (1 for plain element types).
    public let blockSize: Int
    /// Bytes per storage block; 0 when each row describes its own layout (`.qgroup`).
    public let blockBytes: Int
    /// ggml's tensor type id in GGUF files; nil when GGUF has no such type.
    public let ggmlType: UInt32?
    /// llama.cpp's `general.file_type` (LLAMA_FTYPE_MOSTLY_*) for a file whose matrices are mostly
    /// in this format (0, all F32, when there is none).
    public let ggufFileType: Int
    /// The dtype name in safetensors headers; nil when safetensors cannot hold the format.
    public let safetensorsName: String?
    /// The plain reference conversion to float32 that fast kernels are tested against.
    public let dequantizeRow: DequantizeRow
    /// The reference quantizer from float32, bit-exact with llama.cpp's `quantize_row_*_ref` for
    /// ggml formats; nil when values are not written this way.
    public let quantizeRow: QuantizeRow?
    /// The C kernels' weight type (`LLMOPT_W_*`); nil when `Linear` multiplies through a float32
    /// copy (correct, not fast).
    public let kernelType: Int32?
    /// Whether the integer kernels (activations rounded to 8 bits) take this format for decode.
    public let integerKernel: Bool

    public init(blockSize: Int, blockBytes: Int, ggmlType: UInt32?, ggufFileType: Int = 0, safetensorsName: String? = nil,
                dequantizeRow: @escaping DequantizeRow, quantizeRow: QuantizeRow? = nil, kernelType: Int32? = nil,
                integerKernel: Bool = false) {
        self.blockSize = blockSize
        self.blockBytes = blockBytes
        self.ggmlType = ggmlType
        self.ggufFileType = ggufFileType
        self.safetensorsName = safetensorsName
        self.dequantizeRow = dequantizeRow
        self.quantizeRow = quantizeRow
        self.kernelType = kernelType
        self.integerKernel = integerKernel
    }
}

extension DType {
    /// This dtype's row of the format table.
    public var format: StorageFormat {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        case .i8: return .i8
        case .i32: return .i32
        case .q8_0: return .q8_0
        case .q4_0: return .q4_0
        case .q4_1: return .q4_1
        case .q5_0: return .q5_0
        case .q5_1: return .q5_1
        case .q2_k: return .q2_k
        case .q3_k: return .q3_k
        case .q4_k: return .q4_k
        case .q5_k: return .q5_k
        case .q6_k: return .q6_k
        case .qgroup: return .qgroup
        }
    }

    /// The dtype GGUF's type id `id` stands for, when llmopt holds it.
    public init?(ggmlType id: UInt32) {
        guard let d = DType.allCases.first(where: { $0.format.ggmlType == id }) else { return nil }
        self = d
    }

    /// The dtype a safetensors header names, when llmopt holds it.
    public init?(safetensorsName name: String) {
        guard let d = DType.allCases.first(where: { $0.format.safetensorsName == name }) else { return nil }
        self = d
    }
}
