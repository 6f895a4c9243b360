import Foundation
@testable import LLMOptCore
import XCTest

/// Saves replace the old result whole or not at all, refuse what llmopt did not write, and
/// clean up after a killed save (issue 15).
final class SaveSafetyTests: XCTestCase {
    private var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "llmopt-save-safety-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: folder)
    }

    private func model() throws -> Model { try ModelLoader.load(path: Fixtures.path("models/tiny-llama")) }

    private func entries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    func testFolderSaveOverAnExistingFolderReplacesItWholeAndLeavesNoTemporaries() throws {
        let m = try model()
        let out = folder + "/out"
        try ModelSaver.save(m, to: out)
        let first = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
        // A different model over it: quantized weights are dequantized, so the bytes change.
        let (q, _) = try Quantization.quantize(m, scheme: "int4", options: QuantizationOptions())
        try ModelSaver.save(q, to: out)
        let second = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
        XCTAssertNotEqual(first, second)
        let config = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("llmopt_quantization"), "config.json is the new one")
        XCTAssertEqual(entries(folder), ["out"], "no temporary folder beside the destination")
        XCTAssertFalse(entries(out).contains { $0.hasPrefix(".") }, "\(entries(out))")
        let reloaded = try ModelLoader.load(path: out)
        XCTAssertEqual(reloaded.weightOrder.count, m.weightOrder.count)
    }

    func testMissingParentFoldersAreCreatedForFilesAndFolders() throws {
        let m = try model()
        try ModelSaver.save(m, to: folder + "/a/b/model.gguf")
        try ModelSaver.save(m, to: folder + "/c/d/model")
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/a/b/model.gguf"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/c/d/model/config.json"))
    }

    func testSavesRefuseWhatLLMOptDidNotWrite() throws {
        let m = try model()
        func message(_ path: String) -> String {
            do { try ModelSaver.save(m, to: path); return "saved" } catch { return "\(error)" }
        }
        XCTAssertEqual(message("/dev/null"), "/dev/null: exists and is not a folder; a model folder is saved only over a folder llmopt wrote")
        let link = folder + "/link.gguf"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/null")
        XCTAssertEqual(message(link), "\(link): exists and is a symbolic link; llmopt replaces only regular files")
        let fifo = folder + "/pipe.gguf"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        XCTAssertEqual(message(fifo), "\(fifo): exists and is not a regular file (a device, pipe or socket); llmopt replaces only regular files")
        let notes = folder + "/notes"
        try FileManager.default.createDirectory(atPath: notes, withIntermediateDirectories: false)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: notes + "/README.md"))
        XCTAssertEqual(message(notes), "\(notes): holds files a saved model folder does not ('README.md'); llmopt replaces only folders it wrote: choose another folder")
        XCTAssertEqual(try String(contentsOfFile: notes + "/README.md", encoding: .utf8), "keep me")
        XCTAssertEqual(message(""), "argument 'path': is empty: give a file ending in .gguf or a folder name")
        let dir = folder + "/dir.gguf"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        XCTAssertEqual(message(dir), "\(dir): exists and is a folder; llmopt replaces only regular files")
    }

    func testTheNextSaveRemovesTemporariesOfAKilledSave() throws {
        let m = try model()
        // Names a killed llmopt leaves: its pid (none alive has pid Int32.max) and a random number.
        let dead = Int32.max
        let file = folder + "/m.gguf"
        let orphanFile = folder + "/.m.gguf.\(dead).12345.tmp"
        try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: orphanFile))
        let out = folder + "/m"
        try ModelSaver.save(m, to: out)
        let orphanFolder = folder + "/.m.\(dead).7.llmopt-tmp"
        try FileManager.default.createDirectory(atPath: orphanFolder, withIntermediateDirectories: false)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: orphanFolder + "/config.json"))
        // Someone else's file of a similar name stays.
        let unrelated = folder + "/.m.gguf.notes.tmp"
        try Data().write(to: URL(fileURLWithPath: unrelated))
        try ModelSaver.save(m, to: file)
        try ModelSaver.save(m, to: out)
        XCTAssertEqual(entries(folder), [".m.gguf.notes.tmp", "m", "m.gguf"])
    }

    func testAFolderSwapKilledBetweenItsRenamesIsUndoneByTheNextSave() throws {
        // Where the atomic exchange is missing, the old folder is renamed aside first; a kill
        // right then leaves no destination and the old folder under `.NAME.PID.N.llmopt-old`.
        let m = try model()
        let out = folder + "/m"
        try ModelSaver.save(m, to: out)
        let aside = folder + "/.m.\(Int32.max).9.llmopt-old"
        XCTAssertEqual(rename(out, aside), 0)
        SaveTarget.removeOrphans(of: out)
        XCTAssertEqual(entries(folder), ["m"])
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
    }

    func testAFailedFolderSaveLeavesTheOldFolder() throws {
        let m = try model()
        let out = folder + "/m"
        try ModelSaver.save(m, to: out)
        let before = try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))
        XCTAssertThrowsError(try SaveTarget.writeFolder(at: out) { temporary in
            try Data("{\"partial\": true}".utf8).write(to: URL(fileURLWithPath: temporary + "/config.json"))
            throw LLMOptError.badFile(path: temporary + "/model.safetensors", reason: "write failed: No space left on device")
        }) { error in
            XCTAssertEqual("\(error)", "\(out)/model.safetensors: write failed: No space left on device (the old \(out) is left as it was)")
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors")), before)
        XCTAssertFalse(try String(contentsOfFile: out + "/config.json", encoding: .utf8).contains("partial"))
        XCTAssertEqual(entries(folder), ["m"])
    }
}

/// Ids in tokenizer.json are checked against the vocabulary's size before any table is sized
/// by them (an id of 2^40 asked for 17 TB).
final class TokenizerIdBoundTests: XCTestCase {
    private func build(vocab: [String: Any], added: [[String: Any]] = []) -> String {
        let json: [String: Any] = ["model": ["type": "BPE", "vocab": vocab, "merges": [Any]()], "added_tokens": added, "pre_tokenizer": ["type": "ByteLevel"]]
        do {
            _ = try TokenizerJSON.make(json: json, source: "t/tokenizer.json")
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    func testHugeIdsInTheVocabularyOrAddedTokensAreErrors() {
        for id in [1 << 31, 1 << 40, Int.max, 100_000_000] {
            XCTAssertEqual(build(vocab: ["a": 0, "b": 1, "c": id]),
                           "t/tokenizer.json: token 'c' has id \(id), beyond the vocabulary's 3 entries (ids must be below 3)")
            XCTAssertEqual(build(vocab: ["a": 0, "b": 1], added: [["id": id, "content": "<\u{1b}x>", "special": true]]),
                           "t/tokenizer.json: token '<\\u{1B}x>' has id \(id), beyond the vocabulary's 3 entries (ids must be below 3)")
        }
        XCTAssertEqual(build(vocab: ["a": 0, "b": 1], added: [["id": 2, "content": "<s>", "special": true]]), "loaded")
    }
}

/// GGUF version 2 has the layout of version 3 for little-endian files (v3 added big-endian
/// files): a v2 file loads to the same tensors, and version 1 (32-bit counts) is refused.
final class GGUFVersionTests: XCTestCase {
    func testVersion2LoadsLikeVersion3AndVersion1IsRefused() throws {
        let dir = NSTemporaryDirectory() + "llmopt-gguf-v2-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try ModelLoader.load(path: Fixtures.path("models/tiny-llama"))
        try ModelSaver.save(m, to: dir + "/v3.gguf")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/v3.gguf")))
        XCTAssertEqual(bytes[4..<8], [3, 0, 0, 0])
        bytes[4] = 2
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/v2.gguf"))
        let v3 = try ModelLoader.load(path: dir + "/v3.gguf"), v2 = try ModelLoader.load(path: dir + "/v2.gguf")
        XCTAssertEqual(try GGUFFile(path: dir + "/v2.gguf").version, 2)
        XCTAssertEqual(v2.weightOrder, v3.weightOrder)
        for name in v3.weightOrder { XCTAssertEqual(try v2.weight(name).floats(), try v3.weight(name).floats(), name) }
        XCTAssertEqual(v2.tokenizer?.encode("Hello world"), v3.tokenizer?.encode("Hello world"))
        bytes[4] = 1
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/v1.gguf"))
        XCTAssertThrowsError(try ModelLoader.load(path: dir + "/v1.gguf")) { XCTAssertTrue("\($0)".contains("version 1"), "\($0)") }
    }
}
