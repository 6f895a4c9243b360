import XCTest
import LLMOptTestSupport
import LLMOptCore

/// Corrupt and hostile files: each must give `LLMOptError.badFile` naming the file and the
/// reason, never a crash or a huge allocation.
final class BadInputFormatTests: XCTestCase {
    var dir: TempDir!
    override func setUpWithError() throws { dir = try TempDir() }
    override func tearDown() { dir = nil }

    /// Asserts that `body` throws an error naming `path` whose text contains every fragment.
    func assertFails<T>(_ body: @autoclosure () throws -> T, path: String, _ fragments: String..., line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("no error for \(path)", line: line)
        } catch let error as LLMOptError {
            let text = error.description
            XCTAssertTrue(text.contains(path), "error does not name the file: \(text)", line: line)
            for f in fragments { XCTAssertTrue(text.contains(f), "'\(f)' missing from: \(text)", line: line) }
        } catch {
            XCTFail("unexpected error type \(error)", line: line)
        }
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = dir.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    // MARK: GGUF

    /// A small valid GGUF: one F32 tensor `t` of 8 values.
    func smallGGUF(tensorCount: UInt64 = 1, keyLength: UInt64? = nil, arrayCount: UInt64 = 2,
                   type: UInt32 = 0, offset: UInt64 = 0, dims: [UInt64] = [8]) -> [UInt8] {
        var b = GGUFBytes()
        b.header(tensors: tensorCount, kvs: 2)
        b.string("general.architecture", length: keyLength)
        b.u32(8); b.string("llama")
        b.string("some.array"); b.u32(9); b.u32(4); b.u64(arrayCount); b.u32(7); b.u32(9)
        b.string("t"); b.u32(UInt32(dims.count)); for d in dims { b.u64(d) }; b.u32(type); b.u64(offset)
        b.pad(32)
        b.bytes += [UInt8](repeating: 0, count: 32)
        return b.bytes
    }

    func testValidSmallGGUFReads() throws {
        let f = try GGUFFile(path: write(smallGGUF(), "ok.gguf"))
        XCTAssertEqual(f.tensors["t"]?.shape, [8])
        XCTAssertEqual(f["some.array"]?.ints, [7, 9])
    }

    func testTruncatedGGUF() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: SharedFiles.data("models/stories260K/stories260K.gguf")))
        let inMetadata = try write(Array(full.prefix(3000)), "meta.gguf")
        assertFails(try GGUFFile(path: inMetadata), path: inMetadata, "tokenizer.ggml.tokens", "more than the rest of the file")
        let inInfos = try write(Array(full.prefix(13000)), "infos.gguf")
        assertFails(try GGUFFile(path: inInfos), path: inInfos, "past the end of the file")
        let inData = try write(Array(full.prefix(full.count - 100)), "data.gguf")
        assertFails(try GGUFFile(path: inData), path: inData, "runs past the end of the file")
        let tiny = try write(Array("GGU".utf8), "tiny.gguf")
        assertFails(try GGUFFile(path: tiny), path: tiny, "not a GGUF file")
    }

    func testLyingCounts() throws {
        let tensors = try write(smallGGUF(tensorCount: 1 << 40), "tensors.gguf")
        assertFails(try GGUFFile(path: tensors), path: tensors, "tensor count 1099511627776")
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: UInt64.max)
        let kvs = try write(b.bytes, "kvs.gguf")
        assertFails(try GGUFFile(path: kvs), path: kvs, "metadata count")
        let array = try write(smallGGUF(arrayCount: 1 << 60), "array.gguf")
        assertFails(try GGUFFile(path: array), path: array, "element count", "some.array")
    }

    func testStringLengthPastEnd() throws {
        let p = try write(smallGGUF(keyLength: 1 << 50), "string.gguf")
        assertFails(try GGUFFile(path: p), path: p, "length 1125899906842624", "past the end of the file")
    }

    func testTensorOffsetPastEnd() throws {
        let p = try write(smallGGUF(offset: 1 << 20), "offset.gguf")
        assertFails(try GGUFFile(path: p), path: p, "tensor 't'", "past the end of the file")
        let huge = try write(smallGGUF(offset: UInt64(Int.max) - 31), "huge.gguf")
        assertFails(try GGUFFile(path: huge), path: huge, "tensor 't'")
        let unaligned = try write(smallGGUF(offset: 4), "unaligned.gguf")
        assertFails(try GGUFFile(path: unaligned), path: unaligned, "not a multiple of the alignment")
    }

    func testDimensionOverflow() throws {
        let p = try write(smallGGUF(dims: [1 << 32, 1 << 32, 1 << 32]), "dims.gguf")
        assertFails(try GGUFFile(path: p), path: p, "tensor 't'", "overflow")
        let five = try write(smallGGUF(dims: [1, 1, 1, 1, 1]), "five.gguf")
        assertFails(try GGUFFile(path: five), path: five, "5 dimensions")
    }

    func testUnknownTensorType() throws {
        let p = try write(smallGGUF(type: 16, dims: [256]), "iq2.gguf")
        assertFails(try GGUFFile(path: p), path: p, "tensor 't'", "IQ2_XXS", "id 16")
        let odd = try write(smallGGUF(type: 77), "odd.gguf")
        assertFails(try GGUFFile(path: odd), path: odd, "tensor 't' has an unknown ggml type id 77;")
    }

    func testOverlappingGGUFTensors() throws {
        var b = GGUFBytes()
        b.header(tensors: 2, kvs: 0)
        for name in ["a", "b"] { b.string(name); b.u32(1); b.u64(16); b.u32(0); b.u64(name == "a" ? 0 : 32) }
        b.pad(32)
        b.bytes += [UInt8](repeating: 0, count: 96)
        let p = try write(b.bytes, "overlap.gguf")
        assertFails(try GGUFFile(path: p), path: p, "'a' and 'b' overlap")
    }

    func testDeeplyNestedArrays() throws {
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.string("nest"); b.u32(9)
        for _ in 0..<100 { b.u32(9); b.u64(1) }
        b.u32(4); b.u64(0)
        let p = try write(b.bytes, "nest.gguf")
        assertFails(try GGUFFile(path: p), path: p, "nested deeper")
    }

    func testUnknownGGUFArchitecture() throws {
        var b = GGUFBytes()
        b.header(tensors: 0, kvs: 1)
        b.string("general.architecture"); b.u32(8); b.string("mamba")
        let p = try write(b.bytes, "mamba.gguf")
        assertFails(try GGUFModel.load(p), path: p, "unknown architecture 'mamba'")
    }

    // MARK: safetensors

    func safetensors(_ header: String, dataBytes: Int, lengthOverride: UInt64? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: (lengthOverride ?? UInt64(header.utf8.count)).littleEndian) { bytes += $0 }
        return bytes + Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
    }

    func testOverlappingSafetensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#
        let p = try write(safetensors(header, dataBytes: 24), "overlap.safetensors")
        assertFails(try SafetensorsFile(path: p), path: p, "overlap")
    }

    func testSafetensorsHeaderPastTheFile() throws {
        let header = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let p = try write(safetensors(header, dataBytes: 16, lengthOverride: 1 << 40), "long.safetensors")
        assertFails(try SafetensorsFile(path: p), path: p, "header length", "past the end")
    }

    func testSafetensorsLyingLengths() throws {
        let pastEnd = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#
        let p = try write(safetensors(pastEnd, dataBytes: 8), "short.safetensors")
        assertFails(try SafetensorsFile(path: p), path: p, "tensor 'a'", "past the end")
        let wrongSize = #"{"a":{"dtype":"F32","shape":[5],"data_offsets":[0,16]}}"#
        let q = try write(safetensors(wrongSize, dataBytes: 16), "size.safetensors")
        assertFails(try SafetensorsFile(path: q), path: q, "tensor 'a'", "does not match")
        let overflow = #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#
        let r = try write(safetensors(overflow, dataBytes: 16), "overflow.safetensors")
        assertFails(try SafetensorsFile(path: r), path: r, "tensor 'a'")
        let hugeOffset = #"{"a":{"dtype":"F32","shape":[4],"data_offsets":[9223372036854775790,9223372036854775806]}}"#
        let h = try write(safetensors(hugeOffset, dataBytes: 16), "offset.safetensors")
        assertFails(try SafetensorsFile(path: h), path: h, "tensor 'a'", "past the end")
    }

    // MARK: Hugging Face folders

    func copyTinyLlama(config edit: (inout [String: Any]) -> Void) throws -> String {
        let src = Fixtures.path("models/tiny-llama")
        try FileManager.default.copyItem(atPath: src + "/model.safetensors", toPath: dir.file("model.safetensors"))
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        edit(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir.file("config.json")))
        return dir.path
    }

    func testConfigShapeMismatch() throws {
        let folder = try copyTinyLlama { $0["intermediate_size"] = 100 }
        assertFails(try HuggingFaceFolder.load(folder), path: folder, "model.layers.0.mlp.gate_proj.weight", "[172, 64]", "[100, 64]")
    }

    func testUnknownArchitecture() throws {
        let folder = try copyTinyLlama { $0["architectures"] = ["MambaForCausalLM"]; $0["model_type"] = "mamba" }
        assertFails(try HuggingFaceFolder.load(folder), path: folder, "unknown architecture MambaForCausalLM")
    }

    func testUnusableConfigSizes() throws {
        let folder = try copyTinyLlama { $0["num_key_value_heads"] = 3 }
        assertFails(try HuggingFaceFolder.load(folder), path: folder, "4 attention heads cannot share 3 KV heads")
        try FileManager.default.removeItem(atPath: dir.file("config.json"))
        try FileManager.default.removeItem(atPath: dir.file("model.safetensors"))
        let zero = try copyTinyLlama { $0["head_dim"] = 0 }
        assertFails(try HuggingFaceFolder.load(zero), path: zero, "head dimension is 0")
    }

    func testMissingTensor() throws {
        let folder = try copyTinyLlama { $0["num_hidden_layers"] = 3 }
        assertFails(try HuggingFaceFolder.load(folder), path: folder, "missing tensor 'model.layers.2.self_attn.q_proj.weight'")
    }

    // MARK: llama2.c

    func testTruncatedLlama2C() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: SharedFiles.data("models/stories260K/stories260K.bin")))
        let p = try write(Array(full.prefix(full.count - 4)), "short.bin")
        assertFails(try Llama2CFile(path: p), path: p, "truncated", "1056540", "1056536")
        // Not recognized as a model at all by content.
        assertFails(try ModelLoader.load(path: p), path: p, "not a model file", "GGUF", "llama2.c", "Hugging Face")
    }

    func testImplausibleLlama2CHeader() throws {
        var bytes: [UInt8] = []
        for v: Int32 in [64, 172, 5, 7, 4, 512, 512] { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
        let p = try write(bytes, "odd.bin")
        assertFails(try Llama2CFile(path: p), path: p, "implausible llama2.c header", "n_heads 7")
    }

    func testMissingLlama2CTokenizer() throws {
        let p = dir.file("stories260K.bin")
        try FileManager.default.copyItem(atPath: SharedFiles.data("models/stories260K/stories260K.bin"), toPath: p)
        assertFails(try ModelLoader.load(path: p), path: p, "tokenizer.bin", "tok*.bin", "--tokenizer")
    }

    func testMissingPath() {
        let p = dir.file("nothing-here")
        assertFails(try ModelLoader.load(path: p), path: p, "no such file")
    }
}

/// Builds GGUF bytes by hand, so tests can write files that lie.
struct GGUFBytes {
    var bytes: [UInt8] = []
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String, length: UInt64? = nil) { u64(length ?? UInt64(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func header(tensors: UInt64, kvs: UInt64) { bytes += Array("GGUF".utf8); u32(3); u64(tensors); u64(kvs) }
    mutating func pad(_ alignment: Int) { bytes += [UInt8](repeating: 0, count: (alignment - bytes.count % alignment) % alignment) }
}
