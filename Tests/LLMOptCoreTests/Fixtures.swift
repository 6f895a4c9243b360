import Foundation

/// Paths of the test fixtures copied from `shared/testdata` and `shared/data`.
enum Fixtures {
    static let root: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures").path
    }()
    static func path(_ relative: String) -> String { root + "/" + relative }
}
