import Foundation
import XCTest
@testable import LLMOptCore
import LLMOptTestSupport

/// Compression that trains, against PyTorch's reference data (`testdata/training/README.md`):
/// distillation (case 4) and quantization-aware training (case 5); reverse KL and the top-k
/// teacher against a naive float64 loss; gradual magnitude pruning's schedule and masks.
final class CompressionTrainingTests: XCTestCase {
    typealias Ref = TrainingReferenceTests

    func assertGradients(_ params: ParameterSet, _ ref: SafetensorsFile, prefix: String = "", maxAbs: Double, relL2: Double = 1e-4,
                         scale: Float = 1, file: StaticString = #filePath, line: UInt = #line) {
        var checked = 0
        for e in params.entries {
            guard let r = ref.tensors[prefix + e.name] else { XCTFail("no reference for \(prefix + e.name)", file: file, line: line); continue }
            let err = Ref.errors(params.gradient(e.name).map { $0 * scale }, r.floats())
            XCTAssertLessThanOrEqual(err.maxAbs, maxAbs, "\(e.name) max abs", file: file, line: line)
            XCTAssertLessThanOrEqual(err.relL2, relL2, "\(e.name) relative L2", file: file, line: line)
            checked += 1
        }
        XCTAssertGreaterThan(checked, 5, file: file, line: line)
    }

    static func student() throws -> Model {
        try ModelLoader.load(path: try SharedFiles.testdata("training/student-llama-1layer"))
    }

    // MARK: Case 4: distillation

    func testDistillationMatchesPyTorch() throws {
        let ref = try Ref.json("distill.json"), ids = Ref.ids(ref["batch_ids"])
        XCTAssertEqual(ids.count, 64)
        let teacher = try Ref.model("tiny-llama"), studentModel = try Self.student()
        let student = try TrainingGraph(model: studentModel)
        let kd = try Distillation(teacher: teacher, student: student, studentModel: studentModel,
                                  options: DistillationOptions(temperature: 2, alpha: 0.5))
        student.logitLoss = kd
        let loss = try student.run(ids: ids, batch: 2, seq: 32)
        XCTAssertEqual(loss, ref["loss"] as! Double, accuracy: 1e-5)
        XCTAssertEqual(kd.lastCrossEntropy, ref["ce"] as! Double, accuracy: 1e-5)
        XCTAssertEqual(kd.lastDivergence, ref["kl"] as! Double, accuracy: 1e-7)
        let grads = try Ref.tensors("distill_student_grads.safetensors")
        assertGradients(student.parameters, grads, maxAbs: 1e-5)

        // The KL term alone: alpha = 0 gives T²·KL, and (1 − 0.5) of it is the reference's kl_term.
        student.parameters.zeroGradients()
        student.logitLoss = try Distillation(teacher: teacher, student: student, studentModel: studentModel,
                                             options: DistillationOptions(temperature: 2, alpha: 0))
        _ = try student.run(ids: ids, batch: 2, seq: 32)
        assertGradients(student.parameters, grads, prefix: "kl_term.", maxAbs: 1e-6, relL2: 1e-3, scale: 0.5)

        // Evaluation (no backward) still scores plain cross-entropy.
        XCTAssertEqual(try student.run(ids: ids, batch: 2, seq: 32, backward: false), ref["ce"] as! Double, accuracy: 1e-5)
    }

    /// The teacher runs forward only: no gradient buffer, one layer's activations instead of
    /// every layer's, the same logits bit for bit as a full training graph, and no backward pass.
    func testDistillationTeacherIsForwardOnly() throws {
        let ids = Ref.ids(try Ref.json("distill.json")["batch_ids"])
        let teacherModel = try Ref.model("tiny-llama"), studentModel = try Self.student()
        let kd = try Distillation(teacher: teacherModel, student: try TrainingGraph(model: studentModel), studentModel: studentModel,
                                  options: DistillationOptions())
        let teacher = try XCTUnwrap(kd.teacher)
        XCTAssertFalse(teacher.trainable)
        XCTAssertFalse(teacher.parameters.hasGradients)
        XCTAssertEqual(teacher.parameters.globalGradientNorm(), 0)
        let full = try TrainingGraph(model: teacherModel)
        XCTAssertEqual(try teacher.run(ids: ids, batch: 2, seq: 32, backward: false), try full.run(ids: ids, batch: 2, seq: 32, backward: false))
        let n = ids.count * teacher.vocab
        XCTAssertEqual(Array(UnsafeBufferPointer(start: teacher.lastLogits(rows: ids.count), count: n)),
                       Array(UnsafeBufferPointer(start: full.lastLogits(rows: ids.count), count: n)))
        XCTAssertLessThan(teacher.activationBytes, full.activationBytes, "the two layers share one set of buffers")
        XCTAssertThrowsError(try teacher.run(ids: ids, batch: 2, seq: 32)) { error in
            XCTAssertTrue("\(error)".contains("forward-only"), "\(error)")
        }
    }

    /// The loss of one position, in float64, straight from the definitions.
    static func naiveLoss(student z: [Float], teacher t: [Float], label: Int, T: Double, alpha: Double, reverse: Bool, topK: Int? = nil) -> Double {
        func logSoftmax(_ x: [Double]) -> [Double] {
            let m = x.max()!, lse = log(x.reduce(0) { $0 + exp($1 - m) }) + m
            return x.map { $0 - lse }
        }
        let ce = -logSoftmax(z.map(Double.init))[label]
        let ls = logSoftmax(z.map { Double($0) / T })
        var lt = logSoftmax(t.map { Double($0) / T })
        if let k = topK {
            let keep = Set(t.indices.sorted { t[$0] > t[$1] }.prefix(k))
            let sub = logSoftmax(t.indices.filter(keep.contains).map { Double(t[$0]) / T })
            var j = 0
            for i in t.indices { if keep.contains(i) { lt[i] = sub[j]; j += 1 } else { lt[i] = -.infinity } }
        }
        var kl = 0.0
        for i in z.indices {
            if reverse { kl += exp(ls[i]) * (ls[i] - lt[i]) } else if lt[i] > -.infinity { kl += exp(lt[i]) * (lt[i] - ls[i]) }
        }
        return alpha * ce + (1 - alpha) * T * T * kl
    }

    /// Reverse KL and the top-k teacher: losses against the float64 definition, logit gradients
    /// against its central differences.
    func testReverseAndTopKDivergencesAgainstNaiveDefinition() throws {
        let teacher = try Ref.model("tiny-llama"), studentModel = try Self.student()
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        let ids = Array(TrainingData(text: text, tokenizer: teacher.tokenizer!).ids[100..<116])
        let T = 8, V = 512
        let tg = try TrainingGraph(model: teacher), sg = try TrainingGraph(model: studentModel)
        _ = try tg.run(ids: ids, batch: 2, seq: T, backward: false)
        _ = try sg.run(ids: ids, batch: 2, seq: T, backward: false)
        let tl = Array(UnsafeBufferPointer(start: tg.lastLogits(rows: 16), count: 16 * V))
        // Sharpen the student so the divergences are far from zero.
        let sl = Array(UnsafeBufferPointer(start: sg.lastLogits(rows: 16), count: 16 * V)).map { $0 * 40 }
        for (reverse, topK) in [(true, nil), (false, 20)] as [(Bool, Int?)] {
            let kd = try Distillation(teacher: teacher, student: sg, studentModel: studentModel,
                                      options: DistillationOptions(temperature: 1.5, alpha: 0.3, divergence: reverse ? .reverse : .forward, topK: topK))
            if topK != nil {
                let trainer = try Trainer(model: studentModel, data: TrainingData(ids: ids), options: TrainingOptions(steps: 1, batch: 2, seq: T, lr: 0))
                try kd.cacheTopK(for: trainer)
            }
            var logits = sl
            let sum = try logits.withUnsafeMutableBufferPointer {
                try kd.lossAndGradient(logits: $0.baseAddress!, ids: ids, seq: T, vocab: V, gradScale: 1, backward: true)
            }
            var naive = 0.0
            for r in 0..<16 where r % T < T - 1 {
                naive += Self.naiveLoss(student: Array(sl[(r * V)..<((r + 1) * V)]), teacher: Array(tl[(r * V)..<((r + 1) * V)]),
                                        label: ids[r + 1], T: 1.5, alpha: 0.3, reverse: reverse, topK: topK)
            }
            XCTAssertEqual(sum, naive, accuracy: 1e-4 * abs(naive), "reverse \(reverse) top-k \(String(describing: topK))")
            // Central differences of the float64 loss of position 3 at a few logits, the label's included.
            let r = 3, h = 1e-3
            for i in [ids[r + 1], 7, 300, Int(tl[(r * V)..<((r + 1) * V)].indices.max { tl[$0] < tl[$1] }! - r * V)] {
                var up = Array(sl[(r * V)..<((r + 1) * V)]), down = up
                up[i] += Float(h)
                down[i] -= Float(h)
                let t = Array(tl[(r * V)..<((r + 1) * V)])
                let fd = (Self.naiveLoss(student: up, teacher: t, label: ids[r + 1], T: 1.5, alpha: 0.3, reverse: reverse, topK: topK)
                    - Self.naiveLoss(student: down, teacher: t, label: ids[r + 1], T: 1.5, alpha: 0.3, reverse: reverse, topK: topK)) / (2 * h)
                XCTAssertEqual(Double(logits[r * V + i]), fd, accuracy: 2e-3 * max(1, abs(fd)), "logit \(i), reverse \(reverse)")
            }
            XCTAssertTrue((0..<V).allSatisfy { logits[7 * V + $0] == 0 }, "the last position of a row has no gradient")
        }
    }

    func testDistillationRefusesDifferentVocabularies() throws {
        let studentModel = try Self.student()
        let student = try TrainingGraph(model: studentModel)
        XCTAssertThrowsError(try Distillation(teacher: try Ref.model("tiny-gpt2"), student: student, studentModel: studentModel,
                                              options: DistillationOptions())) { error in
            XCTAssertTrue("\(error)".contains("same vocabulary"), "\(error)")
        }
        XCTAssertThrowsError(try DistillationOptions(divergence: .reverse, topK: 5).validate())
        XCTAssertThrowsError(try DistillationOptions(temperature: 0).validate())
    }

    // MARK: Case 5: QAT

    func testFakeQuantizationMatchesPyTorch() throws {
        let ref = try Ref.json("qat_tiny-llama.json"), ids = Ref.ids(ref["batch_ids"])
        let model = try Ref.model("tiny-llama")
        let graph = try TrainingGraph(model: model)
        let fq = try FakeQuantizer(model: model, scheme: "int4", options: QuantizationOptions(bits: 4, group: 32, symmetric: true))
        XCTAssertEqual(fq.names.count, 14)
        XCTAssertFalse(fq.names.contains { $0.contains("lm_head") || $0.contains("embed") })
        graph.fakeQuantizer = fq
        let loss = try graph.run(ids: ids, batch: 2, seq: 32)
        // Q(W) as the quantized model of the testdata, bit for bit but for the sign of zero
        // (PyTorch's round(−0.3) · scale is −0.0; the grid's code 0 · scale is +0.0).
        let derived = try ModelLoader.load(path: try SharedFiles.testdata("derived/tiny-llama-q4g32"))
        for name in fq.names {
            let e = graph.parameters.entry(name)!
            let ours = Array(UnsafeBufferPointer(start: fq.weight(name)!, count: e.count))
            XCTAssertEqual(ours.map { ($0 + 0).bitPattern }, try derived.weight(name).floats().map { ($0 + 0).bitPattern }, name)
        }
        XCTAssertEqual(loss, ref["loss"] as! Double, accuracy: 1e-5)
        assertGradients(graph.parameters, try Ref.tensors("qat_tiny-llama.safetensors"), maxAbs: 1e-5)
        XCTAssertEqual(graph.parameters.globalGradientNorm(), ref["grad_global_l2_norm"] as! Double, accuracy: 1e-4)
    }

    /// A few QAT steps, then the conversion: the quantized model's weights are the forward
    /// pass's Q(W) bit for bit, so it scores exactly what the trainer measured.
    func testQATConvertsToTheQuantizedModelItTrained() throws {
        let model = try Ref.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        var o = TrainingOptions(steps: 3, batch: 2, seq: 32, lr: 2e-3)
        o.schedule = .constant
        let trainer = try Trainer(model: model, data: data, options: o)
        let fq = try FakeQuantizer(model: model, scheme: "int4", options: QuantizationOptions(bits: 4, group: 32, symmetric: false))
        trainer.graph.fakeQuantizer = fq
        try trainer.run()
        let (quantized, report) = try fq.convert(trainer.trainedModel(from: model))
        XCTAssertEqual(report.rows.count, 14)
        let bytes = try fq.names.reduce(0) { $0 + (try quantized.weight($1).byteCount) }, floats = try fq.names.reduce(0) { $0 + 4 * (try model.weight($1).count) }
        XCTAssertLessThan(Double(bytes), 0.25 * Double(floats), "int4 g32 asymmetric: 4 bits plus a scale and zero per 32 weights (≈ 6.7 of 32 bits)")
        let heldOut = Array(data.ids[4000..<4064])
        let trained = try trainer.graph.run(ids: heldOut, batch: 2, seq: 32, backward: false)
        for name in fq.names {
            XCTAssertEqual(try quantized.weight(name).dtype, .qgroup)
            let e = trainer.graph.parameters.entry(name)!
            XCTAssertEqual(Array(UnsafeBufferPointer(start: fq.weight(name)!, count: e.count)), try quantized.weight(name).floats(), name)
        }
        XCTAssertEqual(try TrainingGraph(model: quantized).run(ids: heldOut, batch: 2, seq: 32, backward: false), trained, accuracy: 1e-6)
        XCTAssertThrowsError(try FakeQuantizer(model: model, scheme: "gptq", options: QuantizationOptions()))
    }

    // MARK: Learned step sizes (LSQ)

    /// LSQ's gradients against a float64 implementation of Esser et al.'s definition from the same
    /// ∂L/∂Q(W): per scale g·Σ ∂L/∂Q·(round(v) − v | −Qn | Qp), g = 1/√(N·Qp) (N = 12 for the last,
    /// short group of a 172-column row), and the weights' clipped straight-through gradients. (The
    /// loss is piecewise constant in s between roundings, so finite differences of it cannot check
    /// LSQ's estimator; the definition in float64 is the reference.)
    func testLearnedStepSizeGradients() throws {
        let ref = try Ref.json("qat_tiny-llama.json"), ids = Ref.ids(ref["batch_ids"])
        let model = try Ref.model("tiny-llama")
        let graph = try TrainingGraph(model: model)
        let fq = try FakeQuantizer(model: model, scheme: "int4", options: QuantizationOptions(bits: 4, group: 32, symmetric: true))
        graph.fakeQuantizer = fq
        let lsq = try fq.learnScales(parameters: graph.parameters, training: TrainingOptions(steps: 1, batch: 2, seq: 32, lr: 1e-3))
        XCTAssertEqual(lsq.names, fq.names)
        // Before any update the scales are quantize's: the forward pass is plain QAT's (case 5).
        XCTAssertEqual(try graph.run(ids: ids, batch: 2, seq: 32, backward: false), ref["loss"] as! Double, accuracy: 1e-5)
        // Shrink a third of the scales (their extremes fall outside the grid) and widen a third.
        for name in lsq.names {
            let s = lsq.scales(name).enumerated().map { $1 * [Float(0.6), 1, 1.4][$0 % 3] }
            lsq.scales.setValues(name, s)
        }
        _ = try graph.run(ids: ids, batch: 2, seq: 32)
        let dQ = Dictionary(uniqueKeysWithValues: lsq.names.map { ($0, graph.parameters.gradient($0)) })
        lsq.computeGradients(graph.parameters)
        var clipped = 0, inside = 0
        for name in lsq.names {
            let cols = graph.parameters.entry(name)!.shape[1], groups = (cols + 31) / 32
            let w = graph.parameters.values(name), s = lsq.scales(name), g = dQ[name]!
            var expected = [Double](repeating: 0, count: s.count), expectedW = [Float](repeating: 0, count: w.count)
            for i in w.indices {
                let c = i % cols, k = (i / cols) * groups + c / 32
                // v as the quantizer divides (float32): at v = ±7 exactly (each unscaled group's extreme) the grid clips.
                let v = Double(w[i] / s[k]), n = Double(min(cols, (c / 32 + 1) * 32) - (c / 32) * 32)
                var dQds = 0.0
                if v <= -7 { dQds = -7; clipped += 1 } else if v >= 7 { dQds = 7; clipped += 1 } else {
                    dQds = v.rounded(.toNearestOrEven) - v
                    expectedW[i] = g[i]
                    inside += 1
                }
                expected[k] += Double(g[i]) * dQds / (n * 7).squareRoot()
            }
            let ours = lsq.scales.gradient(name).map(Double.init)
            let err = zip(ours, expected).map { abs($0 - $1) }.max()!, size = expected.map(abs).max()!
            XCTAssertLessThanOrEqual(err, 1e-5 * size, name)
            XCTAssertGreaterThan(size, 0, name)
            XCTAssertTrue(graph.parameters.gradient(name) == expectedW, "\(name): ∂L/∂W is ∂L/∂Q inside the grid, 0 outside")
        }
        XCTAssertGreaterThan(clipped, 1000)
        XCTAssertGreaterThan(inside, 10 * clipped)
    }

    /// LSQ through the trainer: the scales move, stay positive, and the converted model holds the
    /// learned scales: its weights are the forward pass's Q(W) bit for bit. Grids LSQ cannot learn
    /// are refused by name.
    func testLearnedScalesTrainAndConvert() throws {
        let model = try Ref.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        var o = TrainingOptions(steps: 3, batch: 2, seq: 32, lr: 2e-3)
        o.schedule = .constant
        let trainer = try Trainer(model: model, data: data, options: o)
        var compression = TrainingCompression()
        compression.qat = ("int4", QuantizationOptions(bits: 4, group: 32, symmetric: true))
        compression.learnScales = true
        let attached = try compression.attach(to: trainer, model: model)
        let fq = try XCTUnwrap(attached.fakeQuantizer), lsq = try XCTUnwrap(fq.learnedScales)
        let initial = lsq.names.map { lsq.scales($0) }
        try trainer.run()
        let learned = lsq.names.map { lsq.scales($0) }
        let moved = zip(initial, learned).reduce(0) { $0 + zip($1.0, $1.1).filter { $0 != $1 }.count }
        XCTAssertGreaterThan(moved, learned.reduce(0) { $0 + $1.count } / 2, "most scales are trained")
        XCTAssertTrue(learned.allSatisfy { $0.allSatisfy { $0 > 0 } })
        let (quantized, notes) = try attached.finish(trainer.trainedModel(from: model))
        XCTAssertTrue(notes.contains { $0.contains("int4 lsq") }, "\(notes)")
        let heldOut = Array(data.ids[4000..<4064])
        let trained = try trainer.graph.run(ids: heldOut, batch: 2, seq: 32, backward: false)
        for name in fq.names {
            XCTAssertEqual(try quantized.weight(name).dtype, .qgroup)
            let e = trainer.graph.parameters.entry(name)!
            XCTAssertEqual(Array(UnsafeBufferPointer(start: fq.weight(name)!, count: e.count)), try quantized.weight(name).floats(), name)
        }
        XCTAssertEqual(try TrainingGraph(model: quantized).run(ids: heldOut, batch: 2, seq: 32, backward: false), trained, accuracy: 1e-6)

        for (scheme, symmetric) in [("int4", false), ("q4_0", true)] {
            var c = TrainingCompression()
            c.qat = (scheme, QuantizationOptions(bits: 4, group: 32, symmetric: symmetric))
            c.learnScales = true
            XCTAssertThrowsError(try c.attach(to: try Trainer(model: model, data: data, options: o), model: model)) { error in
                XCTAssertTrue("\(error)".contains("symmetric integer grid"), "\(error)")
            }
        }
    }

    // MARK: Gradual pruning

    func testPruningSchedules() throws {
        var o = GradualPruningOptions(sparsity: 0.5)
        o.start = 2
        o.end = 12
        o.every = 2
        // Zhu & Gupta: s_t = s_f + (s_0 − s_f)(1 − (t − t0)/(n·Δt))³.
        for t in stride(from: 2, through: 12, by: 2) {
            XCTAssertEqual(o.target(afterStep: t, steps: 20)!, 0.5 - 0.5 * pow(1 - Double(t - 2) / 10, 3), accuracy: 1e-12)
        }
        XCTAssertNil(o.target(afterStep: 3, steps: 20))
        XCTAssertNil(o.target(afterStep: 14, steps: 20))
        o.schedule = .linear
        XCTAssertEqual(o.target(afterStep: 6, steps: 20)!, 0.2, accuracy: 1e-12)
        o.schedule = .oneshot
        XCTAssertEqual(o.target(afterStep: 2, steps: 20), 0.5)
        XCTAssertNil(o.target(afterStep: 4, steps: 20))
        o.schedule = .cubic
        o.end = 30
        XCTAssertThrowsError(try o.validate(steps: 20))
    }

    /// Pruning while training with AdamW: every matrix ends exactly at the sparsity, masked
    /// weights and their moments are exactly zero, and the masks only grow.
    func testGradualPruningHoldsMasksThroughAdamW() throws {
        let model = try Ref.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        var o = TrainingOptions(steps: 6, batch: 2, seq: 32, lr: 3e-3)
        o.schedule = .constant
        let trainer = try Trainer(model: model, data: TrainingData(text: text, tokenizer: model.tokenizer!), options: o)
        var p = GradualPruningOptions(sparsity: 0.5)
        p.end = 4
        p.every = 1
        let pruner = try GradualPruner(trainer: trainer, model: model, options: p)
        XCTAssertEqual(pruner.names.count, 14)
        var zerosBefore: [String: Set<Int>] = [:]
        try trainer.run(onStep: { entry in
            for name in pruner.names {
                let v = trainer.graph.parameters.values(name)
                let zeros = Set(v.indices.filter { v[$0] == 0 })
                XCTAssertTrue(zerosBefore[name, default: []].isSubset(of: zeros), "\(name): a pruned weight came back at step \(entry.step)")
                zerosBefore[name] = zeros
            }
        })
        XCTAssertEqual(pruner.history.map(\.step), [0, 1, 2, 3, 4])
        XCTAssertLessThan(pruner.history.first!.sparsity, 1e-4, "only the weights that were already exactly zero")
        XCTAssertEqual(pruner.history.last!.sparsity, 0.5, accuracy: 1e-3)
        XCTAssertTrue(zip(pruner.history, pruner.history.dropFirst()).allSatisfy { $0.sparsity <= $1.sparsity })
        let trained = trainer.trainedModel(from: model)
        for name in pruner.names {
            let t = try trained.weight(name)
            XCTAssertEqual(Pruning.zeroCount(t), Magnitude.pruneCount(sparsity: 0.5, of: t.count), name)
            let e = trainer.graph.parameters.entry(name)!
            let m = trainer.optimizer.stateTensor("exp_avg", for: e), v = trainer.optimizer.stateTensor("exp_avg_sq", for: e)
            let w = t.floats()
            XCTAssertTrue(w.indices.allSatisfy { w[$0] != 0 || (m[$0] == 0 && v[$0] == 0) }, "\(name): moments of pruned weights")
        }
        XCTAssertLessThan(trainer.log.last!.loss, trainer.log.first!.loss + 1)
    }

    func testGlobalAndNMPatternPruning() throws {
        let model = try Ref.model("tiny-llama")
        let text = try String(contentsOfFile: try SharedFiles.testdata("text/eval_gpl3.txt"), encoding: .utf8)
        let data = TrainingData(text: text, tokenizer: model.tokenizer!)
        let o = TrainingOptions(steps: 2, batch: 1, seq: 16, lr: 1e-3)
        // Global: one threshold over all matrices gives the total count, not each one's.
        var g = GradualPruningOptions(sparsity: 0.4)
        g.schedule = .oneshot
        g.scope = .global
        let t1 = try Trainer(model: model, data: data, options: o)
        let p1 = try GradualPruner(trainer: t1, model: model, options: g)
        try t1.run()
        let counts = p1.names.map { (t1.graph.parameters.values($0).filter { $0 == 0 }.count, t1.graph.parameters.entry($0)!.count) }
        XCTAssertEqual(counts.reduce(0) { $0 + $1.0 }, Magnitude.pruneCount(sparsity: 0.4, of: counts.reduce(0) { $0 + $1.1 }))
        // 2:4: every group of 4 along a row keeps at most 2 (down_proj's 172 columns split in 43 groups).
        var nm = GradualPruningOptions(sparsity: 0.5)
        nm.pattern = try NMPattern("2:4")
        let t2 = try Trainer(model: model, data: data, options: o)
        let p2 = try GradualPruner(trainer: t2, model: model, options: nm)
        try t2.run()
        for name in p2.names {
            let v = t2.graph.parameters.values(name)
            XCTAssertTrue(stride(from: 0, to: v.count, by: 4).allSatisfy { g in (g..<(g + 4)).filter { v[$0] == 0 }.count >= 2 }, name)
        }
    }
}
