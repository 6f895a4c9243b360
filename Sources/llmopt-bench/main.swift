// Kernel benchmark: GFLOP/s of Linear.forward (SGEMM) at GPT-2-small and SmolLM2-135M prefill
// shapes, GB/s of the decode GEMV for every weight type, and the per-call cost of small layers.
// Best of N runs: the machine is shared, so the best run is the one least disturbed.
// Scripts/bench-gemm runs it with 1 and 2 threads beside numpy. With --pruning it runs
// PruningBench.swift instead (Scripts/bench-pruning); with --training PRECISION, TrainingBench.swift
// (Scripts/bench-train).
import CLLMOptKernels
import Foundation
import LLMOptCore

/// CPU seconds used by the whole process so far (all threads).
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Wall and process CPU seconds of one run of `body`.
func measure(_ body: () -> Void) -> (wall: Double, cpu: Double) {
    let c0 = processCPUSeconds(), t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return (Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9, processCPUSeconds() - c0)
}

/// The best wall time of `runs` runs (after one warm-up), and the best CPU time: on a shared
/// machine the CPU time shows what the kernels cost when other processes take turns on the cores.
var lastCPU = 0.0
func best(runs: Int, _ body: () -> Void) -> Double {
    body()
    var t = Double.infinity, c = Double.infinity
    for _ in 0..<runs {
        let m = measure(body)
        t = min(t, m.wall)
        c = min(c, m.cpu)
    }
    lastCPU = c
    return t
}

func randomWeight(n: Int, k: Int, dtype: DType) -> Tensor {
    var state: UInt32 = 12345
    func next() -> UInt32 { state = state &* 1_664_525 &+ 1_013_904_223; return state }
    return Tensor.raw(shape: [n, k], dtype: dtype) { buf in
        let p = buf.baseAddress!
        switch dtype {
        case .f32: for i in 0..<(n * k) { p.storeBytes(of: Float(Int(next() >> 9) - (1 << 22)) / Float(1 << 22), toByteOffset: 4 * i, as: Float.self) }
        case .f16: for i in 0..<(n * k) { p.storeBytes(of: Float16(Float(next() >> 20) / 4096 - 0.5).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16: for i in 0..<(n * k) { p.storeBytes(of: Dequantize.floatToBF16(Float(next() >> 20) / 4096 - 0.5), toByteOffset: 2 * i, as: UInt16.self) }
        default:
            for i in 0..<buf.count { p.storeBytes(of: UInt8(truncatingIfNeeded: next() >> 13), toByteOffset: i, as: UInt8.self) }
            for b in 0..<(n * k / 32) {
                (p + b * dtype.blockBytes).storeBytes(of: Float16(0.01).bitPattern, as: UInt16.self)
                if dtype == .q4_1 { (p + b * dtype.blockBytes).storeBytes(of: Float16(-0.05).bitPattern, toByteOffset: 2, as: UInt16.self) }
            }
        }
    }
}

// One line at a time, also into a file or pipe: a run takes minutes.
setvbuf(stdout, nil, _IOLBF, 0)
/// Round-to-nearest `.qgroup` versions of a float weight, as the quantization techniques store them.
func groupQuantized(_ w: Tensor) -> [(label: String, weight: Tensor)] {
    [(4, 32), (4, 128), (8, 128)].map { bits, group in
        let grid = try! QuantGrid(bits: bits, grouping: .groups(group), symmetric: true)
        return ("i\(bits)g\(group)", try! RoundToNearest.quantize(w, grid: grid, name: "bench"))
    }
}

let args = CommandLine.arguments.dropFirst()
let quick = args.contains("--quick")
let runs = quick ? 3 : 10
let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
if args.contains("--models") {
    let only = args.firstIndex(of: "--only").map { args[args.index(after: $0)] }
    do { try runModelBenchmarks(runs: quick ? 2 : 5, only: only) } catch { print("error: \(error)"); exit(1) }
    exit(0)
}
if args.contains("--training") {
    do { try runTrainingBench(arguments: args) } catch { FileHandle.standardError.write("llmopt-bench: \(error)\n".data(using: .utf8)!); exit(1) }
    exit(0)
}
print("llmopt kernels: isa \(String(cString: llmopt_kernels_isa())), threads \(Parallel.threadCount) (best of \(runs) runs; load average \(load))")

if args.contains("--pruning") {
    do {
        try runPruningBench(arguments: args, quick: quick, runs: runs)
    } catch {
        FileHandle.standardError.write("llmopt-bench: \(error)\n".data(using: .utf8)!)
        exit(1)
    }
    exit(0)
}

/// The prefill matrix products of the two benchmark models: q/k/v/o, MLP in and out, fused qkv, LM head.
/// Scripts/bench-gemm times numpy on the same list.
let sgemmShapes = [(256, 768, 768), (256, 3072, 768), (256, 768, 3072), (256, 2304, 768), (256, 50257, 768),
                   (128, 576, 576), (128, 1536, 576), (128, 576, 1536), (128, 49152, 576)]

do {
    let calls = 2000
    var sink = [Int](repeating: 0, count: 64)
    let t = best(runs: runs) {
        for _ in 0..<calls { Parallel.forRanges(1024, grain: 16) { r in sink.withUnsafeMutableBufferPointer { $0[r.lowerBound / 16] += 1 } } }
    } / Double(calls)
    print(String(format: "Parallel.forRanges overhead (tiny body): %.2f us per call", t * 1e6))
}

print("\nSGEMM, Linear.forward with f32 weights (C[m, n] = A[m, k] · B[n, k]ᵀ): GPT-2-small prefill shapes (m = 256),")
print("then SmolLM2-135M's (m = 128)")
for (m, n, k) in sgemmShapes {
    let w = randomWeight(n: n, k: k, dtype: .f32)
    let x = [Float](repeating: 0.5, count: m * k)
    var y = [Float](repeating: 0, count: m * n)
    let t = best(runs: n > 10000 ? max(2, runs / 3) : runs) { Linear.forward(x, rows: m, weight: w, into: &y) }
    print(String(format: "  %4d x %5d x %4d  %7.1f GFLOP/s  %8.3f ms   per CPU-second %6.1f GFLOP", m, n, k,
                 2 * Double(m * n * k) / t * 1e-9, t * 1e3, 2 * Double(m * n * k) / lastCPU * 1e-9))
}

print("\nPrefill with other weight types (m = 256, n = 3072, k = 768)")
for dtype in [DType.f16, .bf16, .q8_0, .q4_0, .q4_1] {
    let (m, n, k) = (256, 3072, 768)
    let w = randomWeight(n: n, k: k, dtype: dtype)
    let x = [Float](repeating: 0.5, count: m * k)
    var y = [Float](repeating: 0, count: m * n)
    let t = best(runs: runs) { Linear.forward(x, rows: m, weight: w, into: &y) }
    print(String(format: "  %@ %7.1f GFLOP/s   per CPU-second %6.1f GFLOP", dtype.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0), 2 * Double(m * n * k) / t * 1e-9,
                 2 * Double(m * n * k) / lastCPU * 1e-9))
}
do {
    let (m, n, k) = (256, 3072, 768)
    let x = [Float](repeating: 0.5, count: m * k)
    var y = [Float](repeating: 0, count: m * n)
    for (label, w) in groupQuantized(randomWeight(n: n, k: k, dtype: .f32)) {
        let t = best(runs: runs) { Linear.forward(x, rows: m, weight: w, into: &y) }
        print(String(format: "  %@ %7.1f GFLOP/s   per CPU-second %6.1f GFLOP", label.padding(toLength: 6, withPad: " ", startingAt: 0), 2 * Double(m * n * k) / t * 1e-9,
                     2 * Double(m * n * k) / lastCPU * 1e-9))
    }
}

print("\nGEMV (decode, m = 1): weight bytes read per second; 8192 x 4096 weights do not fit in cache")
for dtype in [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1] {
    let (n, k) = (8192, 4096)
    let w = randomWeight(n: n, k: k, dtype: dtype)
    let x = [Float](repeating: 0.5, count: k)
    var y = [Float](repeating: 0, count: n)
    let t = best(runs: runs) { Linear.forward(x, rows: 1, weight: w, into: &y) }
    var line = String(format: "  %@ %6.1f GB/s  %7.3f ms  (%5.1f GFLOP/s)", dtype.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0), Double(w.byteCount) / t * 1e-9, t * 1e3,
                      2 * Double(n * k) / t * 1e-9)
    if dtype.isQuantized {
        // Float activations against the block weights (the output layer's path).
        let te = best(runs: runs) { Linear.forward(x, rows: 1, weight: w, into: &y, activations: .exact) }
        line += String(format: "   exact activations %6.1f GB/s", Double(w.byteCount) / te * 1e-9)
    }
    print(line)
}
do {
    let (n, k) = (8192, 4096)
    let x = [Float](repeating: 0.5, count: k)
    var y = [Float](repeating: 0, count: n)
    for (label, w) in groupQuantized(randomWeight(n: n, k: k, dtype: .f32)) {
        let t = best(runs: runs) { Linear.forward(x, rows: 1, weight: w, into: &y) }
        print(String(format: "  %@ %6.1f GB/s  %7.3f ms  (%5.1f GFLOP/s)", label.padding(toLength: 6, withPad: " ", startingAt: 0), Double(w.byteCount) / t * 1e-9, t * 1e3,
                     2 * Double(n * k) / t * 1e-9))
    }
}

print("\nSmall layers (SmolLM2-135M sizes): microseconds per Linear.forward call, m = 1 and m = 4")
for dtype in [DType.f32, .q8_0, .q4_0] {
    for (n, k) in [(576, 576), (1536, 576), (576, 1536)] {
        let w = randomWeight(n: n, k: k, dtype: dtype)
        let x = [Float](repeating: 0.5, count: 4 * k)
        var y = [Float](repeating: 0, count: 4 * n)
        let calls = 200
        let t1 = best(runs: runs) { for _ in 0..<calls { Linear.forward(x, rows: 1, weight: w, into: &y) } } / Double(calls)
        let t4 = best(runs: runs) { for _ in 0..<calls { Linear.forward(x, rows: 4, weight: w, into: &y) } } / Double(calls)
        print(String(format: "  %-5@ %4d x %4d  m=1 %6.1f us (%5.1f GB/s)   m=4 %6.1f us", dtype.rawValue, n, k, t1 * 1e6,
                     Double(w.byteCount) / t1 * 1e-9, t4 * 1e6))
    }
}

// Whole-model throughput with `--model PATH`: the model in float32, as Q4_0 and as round-to-nearest
// int4 (groups of 128, the `.qgroup` kernels), each quantized from the float32 weights.
if let flag = args.firstIndex(of: "--model"), args.index(after: flag) < args.endIndex {
    let path = args[args.index(after: flag)]
    do {
        var f32 = try ModelLoader.load(path: path)
        for (name, t) in f32.weights where t.dtype != .f32 { f32.weights[name] = t.toF32() }
        let variants: [(String, Model)] = [
            ("f32", f32),
            ("q4_0", try Quantization.quantize(f32, scheme: "q4_0").0),
            ("rtn int4 g128", try Quantization.quantize(f32, scheme: "rtn", options: QuantizationOptions(bits: 4, group: 128)).0),
            ("rtn int8 g128", try Quantization.quantize(f32, scheme: "rtn", options: QuantizationOptions(bits: 8, group: 128)).0),
        ]
        print("\nWhole model \(path): prefill 128 tokens, decode 64 (best of \(runs))")
        for (label, m) in variants {
            let r = try Throughput.measure(model: m, promptTokens: 128, decodeTokens: 64, runs: runs)
            print(String(format: "  %@ prefill %7.1f tok/s   decode %6.1f tok/s   %@", label.padding(toLength: 14, withPad: " ", startingAt: 0), r.prefillTokensPerSecond,
                         r.decodeTokensPerSecond, Format.bytes(r.modelBytes, width: 10)))
        }
    } catch {
        print("--model \(path): \(error)")
    }
}
