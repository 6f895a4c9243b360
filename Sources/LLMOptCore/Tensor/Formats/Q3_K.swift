import CLLMOptKernels

/// ggml's Q3_K: super-blocks of 256 values (110 bytes): per 16 values a 6-bit signed scale, 3-bit codes (2 low bits plus a high-bit mask), float16 d; x = d·scale·(q - 4) (3.4375 bits per value).
/// File type 11 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q3_K_S.
extension StorageFormat {
    public static let q3_k = ggmlKernelFormat(Int32(LLMOPT_W_Q3_K), ggmlType: 11, ggufFileType: 11)
}
