/// Splits a SQL script into single statements.
///
/// postgres-nio 1.33.2 speaks only the extended query protocol, and a Parse message
/// rejects more than one statement ("cannot insert multiple commands into a prepared
/// statement"). It has no simple-query API (`PostgresDatabase.simpleQuery` sends the
/// extended protocol too), so a migration file is split here and its statements are
/// sent one by one on the same connection.
///
/// The lexer follows psql's rules for where a statement ends: semicolons inside
/// quoted strings (`'…'`, `E'…'`), quoted identifiers (`"…"`), dollar-quoted bodies
/// (`$$…$$`, `$tag$…$tag$`), line comments, nested block comments and the
/// `BEGIN ATOMIC … END` body of a SQL-standard `CREATE FUNCTION`/`PROCEDURE` do not
/// end a statement. Statements with nothing but comments and white space are dropped.
struct SQLStatementSplitter {
    struct Statement: Equatable, Sendable {
        /// The statement text, from its first token through its terminating semicolon (if any).
        var sql: String
        /// 1-based line of the statement's first token within the script.
        var line: Int
    }

    static func split(_ script: String) -> [Statement] {
        var lexer = Lexer(Array(script.unicodeScalars))
        return lexer.run()
    }

    private struct Lexer {
        let s: [Unicode.Scalar]
        var i = 0
        var line = 1

        // Current statement.
        var start: Int? = nil
        var startLine = 1
        var words: [String] = []
        var wordCount = 0
        var beginDepth = 0
        var parenDepth = 0
        var statements: [Statement] = []

        init(_ scalars: [Unicode.Scalar]) {
            self.s = scalars
        }

        func peek(_ offset: Int = 0) -> Unicode.Scalar? {
            let j = i + offset
            return j < s.count ? s[j] : nil
        }

        mutating func advance() {
            if s[i] == "\n" { line += 1 }
            i += 1
        }

        mutating func markContent() {
            if start == nil {
                start = i
                startLine = line
            }
        }

        mutating func finishStatement(endExclusive: Int) {
            if let start {
                var text = String(String.UnicodeScalarView(s[start..<endExclusive]))
                while let last = text.unicodeScalars.last, Self.isSpace(last) {
                    text.unicodeScalars.removeLast()
                }
                statements.append(Statement(sql: text, line: startLine))
            }
            start = nil
            words = []
            wordCount = 0
            beginDepth = 0
            parenDepth = 0
        }

        mutating func run() -> [Statement] {
            while i < s.count {
                let c = s[i]
                if Self.isSpace(c) {
                    advance()
                } else if c == "-" && peek(1) == "-" {
                    while i < s.count && s[i] != "\n" { advance() }
                } else if c == "/" && peek(1) == "*" {
                    skipBlockComment()
                } else if c == "'" {
                    markContent()
                    let escapes = isEscapeStringPrefix()
                    skipQuoted("'", backslashEscapes: escapes)
                } else if c == "\"" {
                    markContent()
                    skipQuoted("\"", backslashEscapes: false)
                } else if c == "$", let tagLength = dollarTagLength() {
                    markContent()
                    skipDollarQuoted(tagLength: tagLength)
                } else if c == ";" {
                    markContent()
                    if beginDepth > 0 {
                        advance()
                    } else {
                        advance()
                        finishStatement(endExclusive: i)
                    }
                } else if Self.isIdentStart(c) {
                    markContent()
                    readWord()
                } else {
                    markContent()
                    if c == "(" {
                        parenDepth += 1
                    } else if c == ")" && parenDepth > 0 {
                        parenDepth -= 1
                    }
                    advance()
                }
            }
            finishStatement(endExclusive: s.count)
            return statements
        }

        /// True when the `'` at `i` is preceded by a standalone `E`/`e` (an escape string).
        func isEscapeStringPrefix() -> Bool {
            guard i >= 1, s[i - 1] == "E" || s[i - 1] == "e" else { return false }
            if i >= 2, Self.isIdentChar(s[i - 2]) { return false }
            return true
        }

        mutating func skipQuoted(_ quote: Unicode.Scalar, backslashEscapes: Bool) {
            advance()  // opening quote
            while i < s.count {
                let c = s[i]
                if backslashEscapes && c == "\\" {
                    advance()
                    if i < s.count { advance() }
                } else if c == quote {
                    advance()
                    if peek() == quote {
                        advance()  // doubled quote
                    } else {
                        return
                    }
                } else {
                    advance()
                }
            }
        }

        mutating func skipBlockComment() {
            var depth = 0
            while i < s.count {
                if s[i] == "/" && peek(1) == "*" {
                    depth += 1
                    advance()
                    advance()
                } else if s[i] == "*" && peek(1) == "/" {
                    depth -= 1
                    advance()
                    advance()
                    if depth == 0 { return }
                } else {
                    advance()
                }
            }
        }

        /// Length of a dollar-quote tag (`$$` -> 2, `$body$` -> 6) starting at `i`, or nil.
        func dollarTagLength() -> Int? {
            if i >= 1, Self.isIdentChar(s[i - 1]) { return nil }
            var j = i + 1
            if j < s.count, s[j] == "$" { return 2 }
            guard j < s.count, Self.isIdentStart(s[j]) else { return nil }
            while j < s.count, Self.isIdentChar(s[j]), s[j] != "$" { j += 1 }
            guard j < s.count, s[j] == "$" else { return nil }
            return j - i + 1
        }

        mutating func skipDollarQuoted(tagLength: Int) {
            let tag = Array(s[i..<(i + tagLength)])
            for _ in 0..<tagLength { advance() }
            while i < s.count {
                if s[i] == "$", i + tagLength <= s.count, Array(s[i..<(i + tagLength)]) == tag {
                    for _ in 0..<tagLength { advance() }
                    return
                }
                advance()
            }
        }

        mutating func readWord() {
            var word = String.UnicodeScalarView()
            while i < s.count, Self.isIdentChar(s[i]) {
                word.append(s[i])
                advance()
            }
            let upper = String(word).uppercased()
            if words.count < 4 { words.append(upper) }
            wordCount += 1
            // psql's rule: inside CREATE [OR REPLACE] FUNCTION/PROCEDURE, BEGIN (and CASE
            // within it) opens a block that END closes; semicolons inside do not split.
            guard isRoutineDefinition, parenDepth == 0 else { return }
            if upper == "BEGIN" && wordCount > 1 {
                beginDepth += 1
            } else if upper == "CASE" && beginDepth > 0 {
                beginDepth += 1
            } else if upper == "END" && beginDepth > 0 {
                beginDepth -= 1
            }
        }

        var isRoutineDefinition: Bool {
            guard words.first == "CREATE", words.count >= 2 else { return false }
            let routine: Set<String> = ["FUNCTION", "PROCEDURE"]
            if routine.contains(words[1]) { return true }
            return words.count >= 4 && words[1] == "OR" && words[2] == "REPLACE" && routine.contains(words[3])
        }

        static func isSpace(_ c: Unicode.Scalar) -> Bool {
            c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" || c == "\u{0B}"
        }

        static func isIdentStart(_ c: Unicode.Scalar) -> Bool {
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c.value >= 0x80
        }

        static func isIdentChar(_ c: Unicode.Scalar) -> Bool {
            isIdentStart(c) || (c >= "0" && c <= "9") || c == "$"
        }
    }
}
