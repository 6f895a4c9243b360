import CLLMOptKernels

/// The plain element types: one value per block.
extension StorageFormat {
    public static let f32 = StorageFormat(
        blockSize: 1, blockBytes: 4, ggmlType: 0, ggufFileType: 0, safetensorsName: "F32",
        dequantizeRow: { src, count, dst in dst.update(from: src.assumingMemoryBound(to: Float.self), count: count) },
        kernelType: Int32(LLMOPT_W_F32))

    public static let f16 = StorageFormat(
        blockSize: 1, blockBytes: 2, ggmlType: 1, ggufFileType: 1, safetensorsName: "F16",
        dequantizeRow: { src, count, dst in
            for i in 0..<count { dst[i] = Float(Float16(bitPattern: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        },
        kernelType: Int32(LLMOPT_W_F16))

    public static let bf16 = StorageFormat(
        blockSize: 1, blockBytes: 2, ggmlType: 30, ggufFileType: 32, safetensorsName: "BF16",
        dequantizeRow: { src, count, dst in
            for i in 0..<count { dst[i] = Dequantize.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        },
        kernelType: Int32(LLMOPT_W_BF16))

    public static let i8 = StorageFormat(
        blockSize: 1, blockBytes: 1, ggmlType: 24, safetensorsName: "I8",
        dequantizeRow: { src, count, dst in for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: i, as: Int8.self)) } })

    public static let i32 = StorageFormat(
        blockSize: 1, blockBytes: 4, ggmlType: 26, safetensorsName: "I32",
        dequantizeRow: { src, count, dst in
            for i in 0..<count { dst[i] = Float(src.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        })

    /// Packed b-bit group codes with self-describing rows (see `GroupQuantLayout`); multiplied by
    /// `Linear.forwardGroupQuantized`, stored as F32 in GGUF.
    public static let qgroup = StorageFormat(
        blockSize: 1, blockBytes: 0, ggmlType: nil,
        dequantizeRow: { src, count, dst in
            var done = 0, row = src
            while done < count {
                let layout = GroupQuantLayout(row: row)
                layout.dequantize(row: row, into: dst + done)
                done += layout.columns
                row += layout.rowBytes
            }
        })
}
