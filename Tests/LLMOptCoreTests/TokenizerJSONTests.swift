import Foundation
import XCTest
import LLMOptCore

/// Hugging Face tokenizer.json files against the ids the `tokenizers` library produced.
final class TokenizerJSONTests: XCTestCase {
    private struct Golden: Decodable {
        let ids: [Int]
        let decoded_roundtrip: Bool
    }

    private func golden(_ name: String) throws -> Golden {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("golden/\(name).json")))
        return try JSONDecoder().decode(Golden.self, from: data)
    }

    private func text(_ name: String) throws -> String {
        try String(contentsOfFile: Fixtures.path("text/\(name).txt"), encoding: .utf8)
    }

    private func check(model: String, text textName: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tokenizer = try TokenizerJSON.load(path: Fixtures.path("models/\(model)/tokenizer.json"))
        let expected = try golden("tokenize_\(model)_\(textName)")
        let input = try text(textName == "gpl3" ? "eval_gpl3" : textName)
        let ids = tokenizer.encode(input)
        XCTAssertEqual(ids.count, expected.ids.count, "token count", file: file, line: line)
        if let first = zip(ids, expected.ids).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
            XCTFail("first difference at \(first.offset): \(first.element.0) '\(tokenizer.piece(first.element.0))', expected \(first.element.1) '\(tokenizer.piece(first.element.1))'", file: file, line: line)
        }
        if expected.decoded_roundtrip {
            XCTAssertEqual(tokenizer.decode(ids), input, "decode(encode(text))", file: file, line: line)
        }
    }

    func testGPT2Tricky() throws { try check(model: "tiny-gpt2", text: "tricky") }
    func testGPT2License() throws { try check(model: "tiny-gpt2", text: "gpl3") }
    func testLlamaTricky() throws { try check(model: "tiny-llama", text: "tricky") }
    func testLlamaLicense() throws { try check(model: "tiny-llama", text: "gpl3") }

    func testGPT2Basics() throws {
        let tokenizer = try TokenizerJSON.load(path: Fixtures.path("models/tiny-gpt2/tokenizer.json"))
        XCTAssertEqual(tokenizer.encode("Hello world"), [15496, 995])
        XCTAssertEqual(tokenizer.encode("<|endoftext|>"), [50256])
        XCTAssertFalse(tokenizer.addsBOSByDefault)
        XCTAssertEqual(tokenizer.vocabularySize, 50257)
        XCTAssertEqual(tokenizer.eosTokenId, 50256)
        XCTAssertEqual(tokenizer.tokenId("<|endoftext|>"), 50256)
        XCTAssertEqual(tokenizer.decode([15496, 995]), "Hello world")
    }

    func testLlamaBasics() throws {
        let tokenizer = try TokenizerJSON.load(path: Fixtures.path("models/tiny-llama/tokenizer.json"))
        XCTAssertTrue(tokenizer.addsBOSByDefault)
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.encode("Hello").first, 1)
        XCTAssertEqual(tokenizer.encode("", addBOS: false), [])
        XCTAssertEqual(tokenizer.piece(98), "<0x5F>")
        XCTAssertEqual(tokenizer.decode(tokenizer.encode("a_b")), "a_b")
    }

    func testMissingFileNamesIt() {
        XCTAssertThrowsError(try TokenizerJSON.load(path: "/nonexistent/tokenizer.json")) { error in
            XCTAssertEqual(error as? LLMOptError, .badFile(path: "/nonexistent/tokenizer.json", reason: "cannot read the file"))
        }
    }
}
