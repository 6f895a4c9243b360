import Foundation
import XCTest
import LLMOptCore

/// The hand-written regex scanners against Hugging Face `tokenizers` running the regexes
/// themselves (Tests/Fixtures/tokenizers/pretokenize_hf.json, made by
/// Scripts/fixtures/make-pretokenizer-golden.py).
final class TokenizerPreTokenizerTests: XCTestCase {
    private struct Golden: Decodable {
        let cases: [[String: Either]]
    }

    private enum Either: Decodable {
        case text(String)
        case words([String])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let s = try? c.decode(String.self) { self = .text(s) } else { self = .words(try c.decode([String].self)) }
        }
    }

    /// A byte-level tokenizer with just the 256 byte pieces: enough to run its pre-tokenizer.
    private func tokenizer(_ preTokenizer: String) -> ByteLevelBPETokenizer {
        var printable: [Unicode.Scalar] = []
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte) {
                printable.append(Unicode.Scalar(UInt8(byte)))
            } else {
                printable.append(Unicode.Scalar(next)!)
                next += 1
            }
        }
        return ByteLevelBPETokenizer(
            pieces: printable.map { String(Character($0)) }, merges: [], types: Array(repeating: .normal, count: 256),
            bosTokenId: nil, eosTokenId: nil, addBOS: false, preTokenizer: preTokenizer)
    }

    func testScannersMatchTheRegexes() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tokenizers/pretokenize_hf.json")))
        let golden = try JSONDecoder().decode(Golden.self, from: data)
        XCTAssertGreaterThan(golden.cases.count, 80)
        for name in ["gpt-2", "smollm", "llama-bpe", "qwen2"] {
            XCTAssertTrue(ByteLevelBPETokenizer.supportsPreTokenizer(name))
            let t = tokenizer(name)
            for entry in golden.cases {
                guard case .text(let text)? = entry["text"], case .words(let words)? = entry[name] else {
                    return XCTFail("malformed golden entry")
                }
                XCTAssertEqual(t.preTokenize(text), words, "\(name): \(text.debugDescription)")
                XCTAssertEqual(t.decode(t.encode(text)), text, "\(name): round trip of \(text.debugDescription)")
            }
        }
    }

    /// llama.cpp's fallback for vocabularies without a known `tokenizer.ggml.pre`: punctuation
    /// runs first (the backtick is not among them), then GPT-2's regex, number runs, and ASCII
    /// digit triples.
    func testLlamaCppDefault() {
        let t = tokenizer("default")
        XCTAssertEqual(t.preTokenize("Hello, world!! 1234567 `x`"),
                       ["Hello", ",", " world", "!!", " ", "123", "456", "7", " `", "x", "`"])
        XCTAssertFalse(ByteLevelBPETokenizer.supportsPreTokenizer("no-such-pre-tokenizer"))
    }
}
