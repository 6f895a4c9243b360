import Foundation
import XCTest
@testable import LLMOptCore
import LLMOptTestSupport

/// Checkpoints: an interrupted run resumed from its checkpoint gives bit-identical losses,
/// parameters and optimizer state; corrupt or mismatched checkpoints give errors naming the file.
final class TrainingCheckpointTests: XCTestCase {
    var folder = ""

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "llmopt-ckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: folder) }

    func setup(_ precision: TrainingPrecision = .fp32, order: DataOrder = .shuffled) throws -> (Model, TrainingData, TrainingOptions) {
        let model = try ModelLoader.load(path: try SharedFiles.testdata("models/tiny-llama"))
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 8, batch: 4, seq: 16, lr: 2e-3)
        o.warmup = 2
        o.minLR = 1e-4
        o.order = order
        o.seed = 42
        o.accumulate = 2
        o.precision = precision
        return (model, TrainingData(text: text, tokenizer: model.tokenizer!), o)
    }

    func testResumeIsBitIdentical() throws {
        for precision in [TrainingPrecision.fp32, .fp16] {
            let (model, data, o) = try setup(precision)
            let full = try Trainer(model: model, data: data, options: o)
            try full.run()

            let first = try Trainer(model: model, data: data, options: o)
            var n = 0
            try first.run(isCancelled: { n >= 3 }) { _ in n += 1 }
            XCTAssertEqual(first.completedSteps, 3)
            let path = folder + "/ckpt"
            try TrainingCheckpoint.save(first, to: path)
            try TrainingCheckpoint.save(first, to: path)  // replacing an existing checkpoint works too
            let resumed = try Trainer(model: model, data: data, options: o)
            try TrainingCheckpoint.restore(resumed, from: path)
            try resumed.run()

            XCTAssertEqual(resumed.log.map(\.loss), full.log.map(\.loss), "\(precision)")
            XCTAssertEqual(resumed.log.map(\.gradNorm), full.log.map(\.gradNorm))
            for e in full.graph.parameters.entries {
                XCTAssertEqual(resumed.graph.parameters.values(e.name), full.graph.parameters.values(e.name), e.name)
                XCTAssertEqual(resumed.optimizer.stateTensor("exp_avg_sq", for: e), full.optimizer.stateTensor("exp_avg_sq", for: e))
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder)
            XCTAssertEqual(leftovers, ["ckpt"], "no temporary folders left behind")
        }
    }

    /// A checkpoint replaces only a folder llmopt wrote, and a killed save's temporaries (a
    /// folder `.ckpt.PID.RANDOM.llmopt-tmp` of a process that is gone) go with the next save.
    func testCheckpointSavesFollowTheFolderRules() throws {
        let (model, data, o) = try setup()
        let t = try Trainer(model: model, data: data, options: o)
        let foreign = folder + "/notes"
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: foreign + "/todo.txt"))
        XCTAssertThrowsError(try TrainingCheckpoint.save(t, to: foreign)) { error in
            XCTAssertTrue("\(error)".contains("todo.txt"), "\(error)")
        }
        XCTAssertEqual(try String(contentsOfFile: foreign + "/todo.txt", encoding: .utf8), "mine")
        let stale = folder + "/.ckpt.999999.12345.llmopt-tmp"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try TrainingCheckpoint.save(t, to: folder + "/ckpt")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/ckpt").sorted(),
                       ["optimizer.safetensors", "parameters.safetensors", "trainer.json"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder).sorted(), ["ckpt", "notes"])
    }

    func testCorruptOrMismatchedCheckpointsAreRejectedByName() throws {
        let (model, data, o) = try setup()
        let t = try Trainer(model: model, data: data, options: o)
        try t.step()
        let path = folder + "/ckpt"
        try TrainingCheckpoint.save(t, to: path)

        func expectError(_ trainer: Trainer, _ from: String, contains parts: [String], line: UInt = #line) {
            XCTAssertThrowsError(try TrainingCheckpoint.restore(trainer, from: from), line: line) { error in
                let text = "\(error)"
                for p in parts { XCTAssertTrue(text.contains(p), "\(text) lacks \(p)", line: line) }
            }
        }
        // Other options.
        var other = o
        other.lr = 1e-3
        expectError(try Trainer(model: model, data: data, options: other), path, contains: ["trainer.json", "lr"])
        // Another model.
        let gpt2 = try ModelLoader.load(path: try SharedFiles.testdata("models/tiny-gpt2"))
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        expectError(try Trainer(model: gpt2, data: TrainingData(text: text, tokenizer: gpt2.tokenizer!), options: o), path,
                    contains: ["trainer.json", "different model"])
        // A truncated tensor file.
        let params = path + "/parameters.safetensors"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: params))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: params))
        expectError(try Trainer(model: model, data: data, options: o), path, contains: ["parameters.safetensors"])
        // Garbage description; no checkpoint at all.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path + "/trainer.json"))
        expectError(try Trainer(model: model, data: data, options: o), path, contains: ["trainer.json", "not a readable checkpoint"])
        expectError(try Trainer(model: model, data: data, options: o), folder + "/nothing", contains: ["nothing", "no checkpoint"])
    }

    func testBadOptionsNameTheArgument() throws {
        let (model, data, o) = try setup()
        var bad = o
        bad.accumulate = 3
        XCTAssertThrowsError(try Trainer(model: model, data: data, options: bad)) { XCTAssertTrue("\($0)".contains("accumulate")) }
        bad = o
        bad.seq = 1
        XCTAssertThrowsError(try Trainer(model: model, data: data, options: bad)) { XCTAssertTrue("\($0)".contains("seq")) }
        bad = o
        bad.order = .sequential
        bad.batch = 4000
        XCTAssertThrowsError(try Trainer(model: model, data: data, options: bad)) { XCTAssertTrue("\($0)".contains("text")) }
    }

    /// The input model is untouched; the trained copy differs and loads back after a save.
    func testTrainedModelIsACopyThatSavesAndLoads() throws {
        let (model, data, o) = try setup()
        let before = try model.weight("model.layers.0.mlp.up_proj.weight").floats()
        let t = try Trainer(model: model, data: data, options: o)
        try t.run()
        let trained = t.trainedModel(from: model)
        XCTAssertEqual(try model.weight("model.layers.0.mlp.up_proj.weight").floats(), before)
        XCTAssertNotEqual(try trained.weight("model.layers.0.mlp.up_proj.weight").floats(), before)
        let out = folder + "/trained"
        try ModelSaver.save(trained, to: out)
        let loaded = try ModelLoader.load(path: out)
        XCTAssertEqual(try loaded.weight("model.layers.0.mlp.up_proj.weight").floats(), try trained.weight("model.layers.0.mlp.up_proj.weight").floats())
    }
}
