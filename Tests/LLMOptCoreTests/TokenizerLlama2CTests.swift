import Foundation
import XCTest
import LLMOptTestSupport
import LLMOptCore

/// llama2.c's tokenizer. Expected ids come from run.c's `encode` compiled as it is (the quadratic
/// merge loop over a bsearch'ed sorted vocabulary) on `tok512.bin`.
final class TokenizerLlama2CTests: XCTestCase {
    private func tok512() throws -> Llama2CTokenizer {
        try Llama2CTokenizer(path: SharedFiles.data("models/stories260K/tok512.bin"), vocabSize: 512)
    }

    /// The first 8000 bytes of the TinyStories validation stories.
    private func stories() throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: SharedFiles.data("corpora/tinystories_valid_head.txt")))
        return String(decoding: data.prefix(8000), as: UTF8.self)
    }

    func testShortPrompts() throws {
        let t = try tok512()
        XCTAssertEqual(t.encode("Zoo"), [1, 410, 469, 347])
        XCTAssertEqual(t.encode("Once upon a time"), [1, 403, 407, 261, 378])
        XCTAssertEqual(t.encode(""), [1])
        XCTAssertEqual(t.encode("", addBOS: false), [])
        XCTAssertEqual(t.encode("Zoo", addBOS: false), [410, 469, 347])
        // Characters missing from the vocabulary fall back to bytes + 3.
        XCTAssertEqual(t.encode("héllo wörld 🙂 日本"),
                       [1, 270, 485, 306, 414, 263, 198, 185, 420, 341, 410, 243, 162, 156, 133, 410, 233, 154, 168, 233, 159, 175])
    }

    func testParagraph() throws {
        let text = """
        Spot. Spot saw the shiny car and said, "Wow, Kitty, your car is so bright and clean!" Kitty smiled and replied, "Thank you, Spot. I polish it every day."

        After playing with the car, Kitty and Spot felt thirsty. They found a small pond with clear water. They drank the water and felt very happy. They played together all day and became best friends.

        Once upon a time, in a big forest, there lived a
        """
        let expected = [
            1, 301, 427, 309, 426, 301, 427, 309, 394, 265, 262, 415, 271, 422, 280, 295, 269, 336, 432, 313, 448, 327, 432, 410, 462,
            362, 422, 432, 364, 420, 280, 295, 410, 293, 384, 268, 325, 428, 415, 413, 269, 280, 305, 303, 443, 436, 410, 462, 362, 422,
            262, 423, 290, 266, 269, 410, 276, 427, 421, 417, 266, 432, 313, 434, 415, 303, 433, 364, 432, 301, 427, 309, 426, 359, 282,
            414, 421, 293, 415, 312, 344, 363, 328, 426, 436, 13, 13, 447, 431, 413, 285, 337, 299, 335, 265, 280, 295, 432, 410, 462,
            362, 422, 269, 301, 427, 309, 272, 411, 421, 413, 308, 315, 356, 422, 426, 342, 272, 277, 264, 261, 262, 423, 388, 282, 414,
            264, 335, 280, 305, 295, 273, 413, 285, 426, 342, 279, 420, 303, 433, 265, 273, 413, 285, 269, 272, 411, 421, 413, 399, 393,
            426, 342, 337, 266, 267, 428, 316, 386, 261, 306, 328, 269, 329, 429, 314, 411, 329, 356, 374, 419, 426, 13, 13, 441, 416,
            331, 407, 261, 378, 432, 322, 261, 370, 272, 414, 276, 356, 432, 383, 397, 396, 261,
        ]
        let t = try tok512()
        XCTAssertEqual(t.encode(text), expected)
        XCTAssertEqual(t.decode(expected), text)
    }

    /// 8000 bytes of TinyStories: run.c gives 3869 ids with this position-weighted sum.
    func testLongText() throws {
        let text = try stories()
        let ids = try tok512().encode(text)
        XCTAssertEqual(ids.count, 3869)
        XCTAssertEqual(ids.enumerated().reduce(0) { $0 + ($1.offset + 1) * $1.element }, 2_608_352_819)
    }

    /// The expected greedy outputs start with the decoded text: no space after BOS.
    func testDecodeDropsSpaceAfterBOS() throws {
        let t = try tok512()
        XCTAssertEqual(t.decode(t.encode("Zoo")), "Zoo")
        XCTAssertEqual(t.decode([1, 403, 407, 261, 378]), "Once upon a time")
        XCTAssertEqual(t.decode([403, 407]), " Once upon")
        let story = try String(contentsOfFile: SharedFiles.data("expected/stories260K_greedy_200.txt"), encoding: .utf8)
        XCTAssertEqual(t.decode(t.encode(story)), story)
        XCTAssertEqual(t.decodeBytes(13, previous: 400), [0x0A], "<0x0A> is a newline")
        XCTAssertEqual(t.piece(13), "<0x0A>")
        XCTAssertEqual(t.tokenId(" t"), 259)
    }

    /// Exported as a GGUF "llama" vocabulary, it is the one llama.cpp's converter wrote into
    /// stories260K.gguf, and llama.cpp's SentencePiece tokenizer over it gives run.c's ids.
    func testExportMatchesGGUFAndTokenizesAlike() throws {
        let t = try tok512()
        let exported = t.exportedVocabulary
        let gguf = try GGUFFile(path: SharedFiles.data("models/stories260K/stories260K.gguf"))
        XCTAssertEqual(exported.pieces, gguf.metadata["tokenizer.ggml.tokens"]?.strings)
        XCTAssertEqual(exported.tokenTypes, gguf.metadata["tokenizer.ggml.token_type"]?.ints)
        XCTAssertEqual(exported.scores, gguf.metadata["tokenizer.ggml.scores"]?.floats)

        let spm = SentencePieceBPETokenizer(
            pieces: exported.pieces, scores: exported.scores ?? [], types: exported.tokenTypes.map { TokenType(rawValue: $0)! },
            bosTokenId: 1, eosTokenId: 2, unknownTokenId: 0, addBOS: true, addSpacePrefix: true)
        let text = try stories()
        XCTAssertEqual(spm.encode(text), t.encode(text))
        XCTAssertEqual(spm.decode(spm.encode(text)), text)
    }

    func testBadFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llmopt-l2c-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let original = try Data(contentsOf: URL(fileURLWithPath: SharedFiles.data("models/stories260K/tok512.bin")))

        let truncated = dir.appendingPathComponent("truncated.bin").path
        try original.prefix(1000).write(to: URL(fileURLWithPath: truncated))
        XCTAssertThrowsError(try Llama2CTokenizer(path: truncated, vocabSize: 512)) { error in
            guard case .badFile(let path, _)? = error as? LLMOptError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, truncated)
        }

        // max_token_length, then token 0 claims 1,000,000 bytes.
        var header = Data([7, 0, 0, 0, 0, 0, 0, 0])
        header.append(contentsOf: [0x40, 0x42, 0x0F, 0x00, 0x41])
        let overlong = dir.appendingPathComponent("overlong.bin").path
        try header.write(to: URL(fileURLWithPath: overlong))
        XCTAssertThrowsError(try Llama2CTokenizer(path: overlong, vocabSize: 512)) { error in
            XCTAssertEqual(error as? LLMOptError, .badFile(path: overlong, reason: "token 0 has length 1000000, past the end of the file (13 bytes)"))
        }

        XCTAssertThrowsError(try Llama2CTokenizer(path: dir.appendingPathComponent("missing.bin").path, vocabSize: 512))
    }
}
