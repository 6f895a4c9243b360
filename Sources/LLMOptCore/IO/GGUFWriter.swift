import Foundation

/// Saves a `Model` as a GGUF v3 file that llama.cpp loads: `<arch>.*` hyperparameters, the
/// tokenizer, the chat template, and every tensor in the dtype it already has, under
/// llama.cpp's names, each aligned to 32 bytes.
///
/// The family's keys and its changes to tensors on the way out (Llama's q/k rows in llama.cpp's
/// interleaved RoPE order) come from its description (`ModelFamily.ggufMetadata`, `toGGUF`).
public enum GGUFWriter {
    static let alignment = 32

    public static func save(_ model: Model, to path: String) throws {
        let c = model.config
        let arch = c.architecture
        let family = arch.family
        var kv: [(String, GGUFValue)] = []
        func add(_ key: String, _ v: GGUFValue) { kv.append((key, v)) }
        func u32(_ v: Int) -> GGUFValue { .uint32(UInt32(clamping: v)) }

        add("general.architecture", .string(family.ggufArchitecture))
        add("general.name", .string(model.metadata["general.name"] ?? "llmopt"))
        // Descriptive keys of a GGUF source stay with the model.
        for key in ["general.basename", "general.organization", "general.finetune", "general.license"] {
            if let value = model.metadata[key] { add(key, .string(value)) }
        }
        let p = family.ggufArchitecture + "."
        add(p + "context_length", u32(c.maxPositions))
        add(p + "embedding_length", u32(c.hiddenSize))
        // Structured pruning leaves layers of different widths: llama.cpp reads per-layer
        // arrays for these keys.
        let widths = family.widths(model.weights, config: c)
        add(p + "feed_forward_length", .perLayer(widths.map(\.ffn), nominal: c.intermediateSize))
        add(p + "block_count", u32(c.numLayers))
        add(p + "attention.head_count", .perLayer(widths.map(\.heads), nominal: c.numHeads))
        for (key, value) in family.ggufMetadata(c, widths: widths) { add(p + key, value) }

        var tensors: [(name: String, tensor: Tensor)] = []
        for name in model.weightOrder {
            guard let t = model.weights[name] else { continue }
            if name == "lm_head.weight" && c.tieEmbeddings { continue }
            guard let ggufName = family.names.gguf(huggingFace: name) else {
                throw LLMOptError.unsupported("\(path): tensor '\(name)' has no place in a GGUF \(family.displayName) file")
            }
            guard t.shape.count <= GGUFFile.maxDims, !t.shape.isEmpty else {
                throw LLMOptError.unsupported("\(path): tensor '\(name)' has \(t.shape.count) dimensions")
            }
            // llmopt's packed int-N groups have no ggml type: they are written as their float32 values.
            let out = try family.toGGUF(name, t.dtype == .qgroup ? t.toF32() : t, config: c)
            tensors.append((ggufName, out))
        }

        let fileType = model.metadata["llmopt.quantized"].flatMap(KQuantMix.init).map(\.ggufFileType) ?? self.fileType(tensors.map(\.tensor))
        add("general.file_type", u32(fileType))
        if tensors.contains(where: { $0.tensor.dtype.isQuantized }) { add("general.quantization_version", u32(2)) }

        if let tokenizer = model.tokenizer {
            guard let exporting = tokenizer as? VocabularyExporting else {
                throw LLMOptError.unsupported("\(path): the model's tokenizer (\(type(of: tokenizer))) cannot export its vocabulary to GGUF")
            }
            var vocabulary = exporting.exportedVocabulary
            guard vocabulary.pieces.count <= c.vocabSize else {
                throw LLMOptError.unsupported("\(path): the tokenizer has \(vocabulary.pieces.count) tokens for \(c.vocabSize) embedding rows")
            }
            // llama.cpp wants one token per embedding row: pad as its converter does.
            for id in vocabulary.pieces.count..<c.vocabSize {
                vocabulary.pieces.append("[PAD\(id)]")
                vocabulary.tokenTypes.append(TokenType.unused.rawValue)
                vocabulary.scores?.append(0)
            }
            kv += tokenizerMetadata(vocabulary)
        }
        // The config's special tokens stand in for a tokenizer that does not name them.
        if !kv.contains(where: { $0.0 == "tokenizer.ggml.bos_token_id" }), let id = c.bosTokenId {
            add("tokenizer.ggml.bos_token_id", u32(id))
        }
        if !kv.contains(where: { $0.0 == "tokenizer.ggml.eos_token_id" }), let id = c.eosTokenId {
            add("tokenizer.ggml.eos_token_id", u32(id))
        }
        if let template = model.chatTemplate { add("tokenizer.chat_template", .string(template)) }

        try AtomicFileWriter.write(to: path) { w in
            try w.write(Array("GGUF".utf8))
            try w.write(littleEndian: UInt32(3))
            try w.write(littleEndian: UInt64(tensors.count))
            try w.write(littleEndian: UInt64(kv.count))
            for (key, value) in kv {
                try writeString(key, w)
                try w.write(littleEndian: valueType(value).rawValue)
                try writeValue(value, w)
            }
            var offset = 0
            for (name, t) in tensors {
                try writeString(name, w)
                try w.write(littleEndian: UInt32(t.shape.count))
                for d in t.shape.reversed() { try w.write(littleEndian: UInt64(d)) }
                try w.write(littleEndian: GGMLType.id(t.dtype))
                try w.write(littleEndian: UInt64(offset))
                offset += (t.byteCount + alignment - 1) / alignment * alignment
            }
            try w.pad(to: alignment)
            for (_, t) in tensors {
                try w.write(UnsafeRawBufferPointer(start: t.rawPointer, count: t.byteCount))
                try w.pad(to: alignment)
            }
        }
    }

    /// llama.cpp's `general.file_type` (LLAMA_FTYPE_*) from the dtype most matrices have.
    static func fileType(_ tensors: [Tensor]) -> Int {
        var counts: [DType: Int] = [:]
        for t in tensors where t.rank == 2 { counts[t.dtype, default: 0] += 1 }
        let common = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key.rawValue > $1.key.rawValue) }?.key ?? .f32
        return common.format.ggufFileType
    }

    static func tokenizerMetadata(_ v: ExportedVocabulary) -> [(String, GGUFValue)] {
        let t = "tokenizer.ggml."
        var kv: [(String, GGUFValue)] = [
            (t + "model", .string(v.model)),
            (t + "tokens", .array(elementType: GGUFValueType.string.rawValue, v.pieces.map { .string($0) })),
            (t + "token_type", .array(elementType: GGUFValueType.int32.rawValue, v.tokenTypes.map { .int32(Int32($0)) })),
        ]
        if let pre = v.preTokenizer { kv.append((t + "pre", .string(pre))) }
        if let scores = v.scores {
            kv.append((t + "scores", .array(elementType: GGUFValueType.float32.rawValue, scores.map { .float32($0) })))
        }
        if let merges = v.merges {
            kv.append((t + "merges", .array(elementType: GGUFValueType.string.rawValue, merges.map { .string($0) })))
        }
        if let id = v.bosTokenId { kv.append((t + "bos_token_id", .uint32(UInt32(id)))) }
        if let id = v.eosTokenId { kv.append((t + "eos_token_id", .uint32(UInt32(id)))) }
        if let id = v.unknownTokenId { kv.append((t + "unknown_token_id", .uint32(UInt32(id)))) }
        kv.append((t + "add_bos_token", .bool(v.addBOS)))
        if let space = v.addSpacePrefix { kv.append((t + "add_space_prefix", .bool(space))) }
        return kv
    }

    static func valueType(_ v: GGUFValue) -> GGUFValueType {
        switch v {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    static func writeString(_ s: String, _ w: AtomicFileWriter) throws {
        let bytes = Array(s.utf8)
        try w.write(littleEndian: UInt64(bytes.count))
        try w.write(bytes)
    }

    static func writeValue(_ v: GGUFValue, _ w: AtomicFileWriter) throws {
        switch v {
        case .uint8(let x): try w.write(littleEndian: x)
        case .int8(let x): try w.write(littleEndian: x)
        case .uint16(let x): try w.write(littleEndian: x)
        case .int16(let x): try w.write(littleEndian: x)
        case .uint32(let x): try w.write(littleEndian: x)
        case .int32(let x): try w.write(littleEndian: x)
        case .uint64(let x): try w.write(littleEndian: x)
        case .int64(let x): try w.write(littleEndian: x)
        case .float32(let x): try w.write(littleEndian: x.bitPattern)
        case .float64(let x): try w.write(littleEndian: x.bitPattern)
        case .bool(let x): try w.write(littleEndian: UInt8(x ? 1 : 0))
        case .string(let s): try writeString(s, w)
        case .array(let elementType, let items):
            try w.write(littleEndian: elementType)
            try w.write(littleEndian: UInt64(items.count))
            for item in items { try writeValue(item, w) }
        }
    }
}

/// Row permutations between the two RoPE layouts of q/k projection weights. Within each head
/// of `headDim` rows, rotate-half pairs row i with row i + headDim/2; interleaved pairs rows
/// 2i and 2i+1. Rows move whole, so any dtype (block formats included) permutes exactly.
public enum RopeLayout {
    /// Rotate-half rows to interleaved: interleaved row 2i + h is rotate-half row h * headDim/2 + i.
    public static func toInterleaved(_ t: Tensor, headDim: Int, name: String) throws -> Tensor {
        try permuteRows(t, headDim: headDim, name: name) { row in
            let (i, h) = (row / 2, row % 2)
            return h * headDim / 2 + i
        }
    }

    /// Interleaved rows back to rotate-half: rotate-half row h * headDim/2 + i is interleaved row 2i + h.
    public static func toRotateHalf(_ t: Tensor, headDim: Int, name: String) throws -> Tensor {
        try permuteRows(t, headDim: headDim, name: name) { row in
            let (h, i) = (row / (headDim / 2), row % (headDim / 2))
            return 2 * i + h
        }
    }

    /// Output row `r` of each head takes source row `source(r)` of the same head.
    static func permuteRows(_ t: Tensor, headDim: Int, name: String, source: (Int) -> Int) throws -> Tensor {
        guard t.rank == 2, headDim > 0, headDim % 2 == 0, t.shape[0] % headDim == 0 else {
            throw LLMOptError.shapeMismatch(name: name, expected: [headDim, t.columns], actual: t.shape, source: "RoPE layout (rows must be whole heads)")
        }
        let rowBytes = t.rowBytes
        let src = t.rawPointer
        let map = (0..<headDim).map(source)
        let storage = TensorStorage.allocate(byteCount: t.byteCount) { dst in
            for head in 0..<(t.shape[0] / headDim) {
                let base = head * headDim
                for r in 0..<headDim {
                    (dst + (base + r) * rowBytes).copyMemory(from: src + (base + map[r]) * rowBytes, byteCount: rowBytes)
                }
            }
        }
        // Rows are copied as bytes, so any dtype works, packed `.qgroup` rows included.
        return Tensor(shape: t.shape, dtype: t.dtype, storage: storage)
    }
}

extension GGUFValue {
    /// One uint32 when every layer has the same value, else the per-layer array llama.cpp reads.
    static func perLayer(_ values: [Int], nominal: Int) -> GGUFValue {
        guard Set(values).count > 1 else { return .uint32(UInt32(clamping: values.first ?? nominal)) }
        return .array(elementType: GGUFValueType.uint32.rawValue, values.map { .uint32(UInt32($0)) })
    }
}
