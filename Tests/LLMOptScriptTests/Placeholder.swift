import XCTest
final class ScriptPlaceholderTests: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
