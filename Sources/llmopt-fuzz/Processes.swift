import Foundation
import LLMOptCore
#if canImport(Glibc)
import Glibc
#endif

/// The status a child shares with its parent: `[cases started, then cases per target]` as
/// UInt64s at the start of `work/status`, rewritten before every case.
struct Status {
    static func path(_ work: String) -> String { work + "/status" }
}

/// Runs cases until told how many, writing each case into `work/current` before running it.
struct Child {
    let options: Options

    func run() {
        // The memory bound: an allocation past it fails in the child instead of swapping.
        var limit = rlimit(rlim_cur: rlim_t(options.memoryMB) << 20, rlim_max: rlim_t(options.memoryMB) << 20)
        _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        let work = options.work
        let current = work + "/current"
        let seeds: Seeds
        do {
            try? FileManager.default.createDirectory(atPath: work + "/seeds", withIntermediateDirectories: true)
            seeds = try Seeds.make(root: FileManager.default.currentDirectoryPath, scratch: work + "/seeds")
        } catch {
            fail("cannot make seeds: \(error)")
        }
        let statusFD = open(Status.path(work), O_RDWR | O_CREAT, 0o644)
        guard statusFD >= 0 else { fail("cannot open \(Status.path(work))") }
        var counts = [UInt64](repeating: 0, count: 1 + targetNames.count)
        var mutator = Mutator(seed: options.seed)
        let total = options.cases ?? options.chunk
        for _ in 0..<total {
            let target = mutator.pick(options.targets)
            try? FileManager.default.removeItem(atPath: current)
            try? FileManager.default.createDirectory(atPath: current, withIntermediateDirectories: true)
            write(target, to: current + "/target")
            makeCase(target, seeds: seeds, mutator: &mutator, into: current)
            counts[0] += 1
            counts[1 + targetNames.firstIndex(of: target)!] += 1
            _ = counts.withUnsafeBytes { pwrite(statusFD, $0.baseAddress, $0.count, 0) }
            // Scripts are stopped (as by Ctrl-C) after a moment: loops are cases too.
            let deadline = Date().addingTimeInterval(target == "script" ? 0.05 : min(options.timeout / 4, 5))
            Case.exercise(target: target, folder: current, isCancelled: { Date() > deadline })
        }
        close(statusFD)
        exit(0)
    }

    func write(_ text: String, to path: String) { write(Data(text.utf8), to: path) }
    func write(_ data: Data, to path: String) { _ = FileManager.default.createFile(atPath: path, contents: data) }
    func write(_ bytes: [UInt8], to path: String) { write(Data(bytes), to: path) }

    func makeCase(_ target: String, seeds: Seeds, mutator m: inout Mutator, into folder: String) {
        switch target {
        case "gguf":
            let seed = m.pick(seeds.gguf)
            // GGUF header: magic, version (u32), tensor count and metadata count (u64); then
            // strings with u64 lengths, arrays with u64 counts, tensor infos with u64 dims and offsets.
            let hot = min(seed.count, ggufDataStart(seed) ?? 8192)
            write(m.binary(seed, hot: hot, ints: [(4, 4), (8, 8), (16, 8)]), to: folder + "/model.gguf")
        case "safetensors", "config":
            let seed = m.pick(seeds.folders)
            try? FileManager.default.createDirectory(atPath: folder + "/hf", withIntermediateDirectories: true)
            for (name, data) in seed {
                var out = data
                if target == "config" && name == "config.json" { out = m.json(data) }
                if target == "safetensors" && name == "model.safetensors" { out = Data(safetensors([UInt8](data), &m)) }
                write(out, to: folder + "/hf/" + name)
            }
        case "tokenizer":
            write(m.json(m.pick(seeds.tokenizers)), to: folder + "/tokenizer.json")
        case "llama2c":
            let seed = m.pick(seeds.llama2c)
            try? FileManager.default.createDirectory(atPath: folder + "/llama2c", withIntermediateDirectories: true)
            let header = (0..<7).map { ($0 * 4, 4) }
            let model = m.chance(0.8) ? m.binary(seed.model, hot: 28, ints: header) : seed.model
            let tokenizer = m.chance(0.4) ? m.binary(seed.tokenizer, hot: seed.tokenizer.count, ints: [(0, 4)]) : seed.tokenizer
            write(model, to: folder + "/llama2c/model.bin")
            write(tokenizer, to: folder + "/llama2c/tokenizer.bin")
        default:
            let text = m.script(m.pick(seeds.scripts), splice: m.pick(seeds.scripts))
            write(text, to: folder + "/case.llmopt")
        }
    }

    /// Where a GGUF file's tensor data starts, roughly: the header and metadata lie before.
    func ggufDataStart(_ bytes: [UInt8]) -> Int? {
        // The data follows the last tensor info; 3/4 of a tiny file is data. The metadata of a
        // file with a vocabulary is larger, so use the bytes before the first long run of
        // float-looking data when the file is big.
        bytes.count < 4096 ? bytes.count : min(bytes.count, max(4096, bytes.count / 3))
    }

    /// A safetensors file mutated in its JSON header (shapes, dtypes, offsets) or as bytes.
    func safetensors(_ bytes: [UInt8], _ m: inout Mutator) -> [UInt8] {
        guard bytes.count >= 8, m.chance(0.7) else { return m.binary(bytes, hot: min(bytes.count, 4096), ints: [(0, 8)]) }
        var n = 0
        for i in 0..<8 { n |= Int(bytes[i]) << (8 * i) }
        guard n > 0, 8 + n <= bytes.count else { return m.binary(bytes, hot: 4096) }
        let header = m.json(Data(bytes[8..<(8 + n)]))
        var out: [UInt8] = []
        let length = m.chance(0.9) ? UInt64(header.count) : m.integer(old: UInt64(header.count))
        withUnsafeBytes(of: length.littleEndian) { out += $0 }
        out += header
        out += bytes[(8 + n)...]
        return out
    }
}

/// Starts children, watches them, counts cases and keeps findings.
struct Parent {
    let options: Options

    func run() -> Int32 {
        let work = NSTemporaryDirectory() + "llmopt-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let start = Date()
        var totals = [UInt64](repeating: 0, count: 1 + targetNames.count)
        var findings = 0, round: UInt64 = 0, peakKB = 0
        var stop = false
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }
        while !stop {
            if let s = options.seconds, Date().timeIntervalSince(start) >= s { break }
            let remaining = options.cases.map { $0 - Int(totals[0]) }
            if let r = remaining, r <= 0 { break }
            let cases = min(options.chunk, remaining ?? options.chunk)
            let seed = options.seed &+ round &* 0x9E37_79B9_7F4A_7C15
            round += 1
            try? FileManager.default.removeItem(atPath: Status.path(work))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = ["--child", "--work", work, "--seed", "\(seed)", "--cases", "\(cases)", "--targets", options.targets.joined(separator: ","),
                                 "--memory-mb", "\(options.memoryMB)", "--timeout", "\(options.timeout)"]
            let errFile = work + "/stderr"
            _ = FileManager.default.createFile(atPath: errFile, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errFile)
            process.standardOutput = FileHandle.nullDevice
            do { try process.run() } catch { fail("cannot start a child: \(error)") }
            var lastCount: UInt64 = 0, lastChange = Date()
            var verdict: String? = nil
            var counts = [UInt64](repeating: 0, count: totals.count)
            while process.isRunning {
                usleep(50_000)
                if let d = FileManager.default.contents(atPath: Status.path(work)), d.count == counts.count * 8 {
                    counts = d.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
                }
                if counts[0] != lastCount { lastCount = counts[0]; lastChange = Date() }
                let rss = residentKB(process.processIdentifier)
                peakKB = max(peakKB, rss)
                if rss > options.memoryMB * 1024 {
                    verdict = "memory: resident \(rss / 1024) MB > \(options.memoryMB) MB"
                    kill(process.processIdentifier, SIGKILL)
                } else if Date().timeIntervalSince(lastChange) > options.timeout {
                    verdict = "hang: no progress for \(Int(options.timeout)) s"
                    kill(process.processIdentifier, SIGKILL)
                }
                let overtime = options.seconds.map { Date().timeIntervalSince(start) >= $0 } ?? false
                if stopRequested != 0 || overtime { kill(process.processIdentifier, SIGKILL); stop = true }
            }
            process.waitUntilExit()
            if let d = FileManager.default.contents(atPath: Status.path(work)), d.count == counts.count * 8 {
                counts = d.withUnsafeBytes { Array($0.bindMemory(to: UInt64.self)) }
            }
            if stop { for i in totals.indices { totals[i] += counts[i] }; break }
            if verdict == nil, process.terminationReason == .uncaughtSignal {
                verdict = "crash: signal \(process.terminationStatus)"
            } else if verdict == nil, process.terminationStatus != 0 {
                verdict = "crash: exit status \(process.terminationStatus)"
            }
            if let verdict {
                findings += 1
                let kept = save(work: work, verdict: verdict, round: round)
                print("finding \(findings): \(verdict) -> \(kept)")
                // The case that crashed counts, and the child's remaining cases are redone.
            }
            for i in totals.indices { totals[i] += counts[i] }
            report(totals, findings: findings, peakKB: peakKB, since: start, final: false)
        }
        report(totals, findings: findings, peakKB: peakKB, since: start, final: true)
        return findings == 0 ? 0 : 1
    }

    func save(work: String, verdict: String, round: UInt64) -> String {
        let name = "\(verdict.prefix(while: { $0 != ":" }))-\(Int(Date().timeIntervalSince1970))-\(round)"
        let dest = options.findings + "/" + name
        try? FileManager.default.createDirectory(atPath: options.findings, withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: work + "/current", toPath: dest)
        let err = (try? String(contentsOfFile: work + "/stderr", encoding: .utf8)) ?? ""
        _ = FileManager.default.createFile(atPath: dest + "/verdict", contents: Data("\(verdict)\n\(err.suffix(4000))".utf8))
        return dest
    }

    func report(_ totals: [UInt64], findings: Int, peakKB: Int, since start: Date, final: Bool) {
        let per = zip(targetNames, totals.dropFirst()).map { "\($0)=\($1)" }.joined(separator: " ")
        let line = String(format: "%@cases %llu (%@) in %.0f s, findings %d, peak child RSS %d MB (bound %d MB)",
                          final ? "done: " : "", totals[0], per, Date().timeIntervalSince(start), findings, peakKB / 1024, options.memoryMB)
        print(line)
        fflush(stdout)
    }

    /// Resident set of a process in KiB (Linux /proc), 0 where unknown.
    func residentKB(_ pid: Int32) -> Int {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

nonisolated(unsafe) var stopRequested: sig_atomic_t = 0
