import Foundation
import XCTest
import LLMOptTestSupport
import LLMOptCore

/// llama.cpp's own tokenizer test vectors (tests/test-tokenizer-0: `<vocab>.gguf.inp` holds the
/// texts separated by "\n__ggml_vocab_test__\n", `.out` one line of ids per text), tokenized
/// as that test does: no BOS, special tokens not parsed (the texts contain none).
final class TokenizerGGUFVectorTests: XCTestCase {
    private struct Vector {
        let text: String
        let ids: [Int]
    }

    private func vectors(_ vocab: String) throws -> [Vector] {
        let inp = try String(contentsOfFile: SharedFiles.data("tokenizers/\(vocab).inp"), encoding: .utf8)
        let out = try String(contentsOfFile: SharedFiles.data("tokenizers/\(vocab).out"), encoding: .utf8)
        // As test-tokenizer-0 reads them: the file ends with a separator, and each text keeps
        // its own leading and trailing newlines.
        var texts = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if texts.last == "" { texts.removeLast() }
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        XCTAssertEqual(texts.count, lines.count, "\(vocab): one line of ids per text")
        return try zip(texts, lines).map { text, line in
            let ids = try line.split(separator: " ").map { field -> Int in
                guard let id = Int(field) else { throw LLMOptError.badFile(path: "\(vocab).out", reason: "bad id '\(field)'") }
                return id
            }
            return Vector(text: text, ids: ids)
        }
    }

    /// The tokenizer the GGUF loader builds, unwrapped from the vocabulary it carries along.
    static func tokenizer(_ file: GGUFFile) throws -> any Tokenizer {
        let made = try GGUFTokenizerFactory.make(from: file)
        return (made as? ExportableTokenizer)?.base ?? made
    }

    private func check(_ vocab: String) throws -> any Tokenizer {
        let tokenizer = try Self.tokenizer(GGUFFile(path: SharedFiles.data("tokenizers/\(vocab)")))
        let cases = try vectors(vocab)
        XCTAssertEqual(cases.count, 46)
        for v in cases {
            let ids = tokenizer.encode(v.text, addBOS: false)
            XCTAssertEqual(ids, v.ids, "\(vocab): \(v.text.debugDescription)")
            XCTAssertEqual(tokenizer.decode(ids), v.text, "\(vocab): decode \(v.text.debugDescription)")
        }
        return tokenizer
    }

    func testGPT2Vectors() throws {
        let tokenizer = try check("ggml-vocab-gpt-2.gguf")
        XCTAssertFalse(tokenizer.addsBOSByDefault)
        XCTAssertEqual(tokenizer.encode("Hello world<|endoftext|>"), [15496, 995, 50256])
    }

    func testLlamaSentencePieceVectors() throws {
        let tokenizer = try check("ggml-vocab-llama-spm.gguf")
        XCTAssertTrue(tokenizer.addsBOSByDefault)
        XCTAssertEqual(tokenizer.encode("Hello world"), [1, 15043, 3186])
        XCTAssertEqual(tokenizer.decode([1, 15043, 3186]), "Hello world")
        // A special token in the text is one id, and the text after it gets its own space prefix.
        XCTAssertEqual(tokenizer.encode("Hello</s>Hello", addBOS: false), [15043, 2, 15043])
        XCTAssertEqual(tokenizer.piece(13), "<0x0A>")
        XCTAssertEqual(tokenizer.decodeBytes(13, previous: 15043), [0x0A])
    }

    /// The vocabulary a saver gets back is the one the file holds.
    func testExportedVocabularyIsTheFiles() throws {
        for vocab in ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"] {
            let file = try GGUFFile(path: SharedFiles.data("tokenizers/\(vocab)"))
            guard let exported = (try Self.tokenizer(file) as? VocabularyExporting)?.exportedVocabulary else {
                return XCTFail("\(vocab): tokenizer cannot export its vocabulary")
            }
            XCTAssertEqual(exported.model, file.metadata["tokenizer.ggml.model"]?.string)
            XCTAssertEqual(exported.pieces, file.metadata["tokenizer.ggml.tokens"]?.strings)
            XCTAssertEqual(exported.tokenTypes, file.metadata["tokenizer.ggml.token_type"]?.ints)
            XCTAssertEqual(exported.merges, file.metadata["tokenizer.ggml.merges"]?.strings)
            XCTAssertEqual(exported.scores, file.metadata["tokenizer.ggml.scores"]?.floats)
            XCTAssertEqual(exported.bosTokenId, file.metadata["tokenizer.ggml.bos_token_id"]?.int)
        }
    }

    /// WikiText-2's test split, the size a perplexity run tokenizes (byte-level BPE merges word
    /// by word, SentencePiece BPE over the whole text at once), decodes back to itself.
    func testWikiTextRoundTrips() throws {
        let text = try String(contentsOfFile: SharedFiles.data("corpora/wikitext-2-test.raw"), encoding: .utf8)
        for vocab in ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"] {
            let tokenizer = try Self.tokenizer(GGUFFile(path: SharedFiles.data("tokenizers/\(vocab)")))
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text, vocab)
        }
    }

    func testSmolLM2ChatPrompt() throws {
        let file = try GGUFFile(path: SharedFiles.smolLM2())
        XCTAssertEqual(file.metadata["tokenizer.ggml.pre"]?.string, "smollm")
        let tokenizer = try Self.tokenizer(file)
        let prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
        let ids = tokenizer.encode(prompt)
        XCTAssertEqual(tokenizer.tokenId("<|im_start|>"), 1)
        XCTAssertEqual(tokenizer.tokenId("<|im_end|>"), 2)
        // <|im_start|> user \n What Ġis Ġthe Ġcapital Ġof ĠFrance ? <|im_end|> \n
        XCTAssertEqual(ids, [1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198])
        XCTAssertFalse(tokenizer.addsBOSByDefault)
        // SmolLM's pre-tokenizer splits digits one by one; the space before them stands alone.
        XCTAssertEqual(tokenizer.encode("in 2024").map(tokenizer.piece), ["in", "Ġ", "2", "0", "2", "4"])
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("What is 12 + 30?")), "What is 12 + 30?")
    }
}
