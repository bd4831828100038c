import Foundation
import PostgresNIO
import TrellisContract
import TrellisPostgres

/// One level's objects as the JSON text of the columns a query selects: every cell written
/// once, back to back in one array, as ``ColumnProjection/write(_:to:)`` writes it for REST.
/// A field is answered by copying its cell's bytes, however many parents name the object,
/// so a nested query builds no JSON object, string or value per cell (that tree, built and
/// then written, was a third of a nested query's CPU: Benchmarks/README.md).
struct ProjectedCells {
    let projection: ColumnProjection
    /// Every cell's JSON text: the objects in order, each its projection's columns in order.
    private(set) var text: [UInt8] = []
    /// Where each cell's text ends; object `row`'s column `column` is `row * width + column`.
    private(set) var ends: [Int] = []
    /// Each object's id (its first column).
    private(set) var ids: [UUID] = []

    var width: Int { projection.columns.count }
    var count: Int { ids.count }

    /// The rows of a statement that selected `projection`'s columns first, in order.
    init(_ projection: ColumnProjection, rows: [SQLRow]) throws {
        self.projection = projection
        let width = projection.columns.count
        var w = JSONWriter(capacity: max(64, rows.count * width * 24))
        ends.reserveCapacity(rows.count * width)
        ids.reserveCapacity(rows.count)
        for row in rows {
            try row.withUnsafeCells { cells in
                for index in 0..<width {
                    guard let cell = cells.next() else { throw RowReaderError.missingColumn }
                    w.startDetachedValue()
                    if index == 0 {
                        let id =
                            if let bytes = cell.bytes, cell.type == .uuid, bytes.count == 16 {
                                UUID(uuid: bytes.loadUnaligned(as: uuid_t.self))
                            } else {
                                try row.cell(at: 0).decode(UUID.self)
                            }
                        ids.append(id)
                        w.value(id)
                    } else {
                        try projection.kinds[index].write(cell, of: row, to: &w)
                    }
                    ends.append(w.bytes.count)
                }
            }
        }
        text = w.bytes
    }

    /// Objects a write returned (whole, under their REST keys), projected the same way.
    init(_ projection: ColumnProjection, objects: [JSONObject]) {
        self.projection = projection
        var w = JSONWriter(capacity: 256 * max(1, objects.count))
        for object in objects {
            for column in projection.columns {
                w.startDetachedValue()
                w.value(object[column.name] ?? .null)
                ends.append(w.bytes.count)
            }
            if case let .string(text)? = object["id"], let id = UUID(hyphenated: text) {
                ids.append(id)
            } else {
                ids.append(Self.noID)
            }
        }
        text = w.bytes
    }

    /// Stands for an id a write's answer lacked: matches no row.
    static let noID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// The index of the column named `name` (its REST name), if the projection read it.
    func column(_ name: String) -> Int? {
        projection.columns.firstIndex { $0.name == name }
    }

    /// Object `row`'s cell `column`, as JSON text.
    func cell(_ row: Int, _ column: Int) -> ArraySlice<UInt8> {
        let index = row * width + column
        return text[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    /// The id a `uuid` cell holds (a reference); nil when it is null.
    func uuid(_ row: Int, _ column: Int) -> UUID? {
        let cell = self.cell(row, column)
        // `"` + 36 characters + `"`.
        guard cell.count == 38, cell.first == UInt8(ascii: "\"") else { return nil }
        return UUID(hyphenated: String(decoding: cell.dropFirst().dropLast(), as: UTF8.self))
    }
}

/// A member name, written once per level for every object of it: `"name":`.
typealias RenderedKey = [UInt8]

func renderedKey(_ key: String) -> RenderedKey {
    var w = JSONWriter(capacity: key.utf8.count + 3)
    w.key(key)
    return w.bytes
}

/// What the objects of one level answer, field by field, once every statement of the query
/// has run: their cells, and for each relation the level it led to. Written straight into
/// the response (``write(_:to:)``). A class: each object's writing names its relations'
/// levels, which as values would be copied (a retain per array they hold) once per object.
final class ObjectsAnswer {
    let typeName: String
    let cells: ProjectedCells
    /// Set with ``AnsweredFields/set(_:_:)``: a field asked for twice, through fragments, is
    /// answered once, where it was first asked.
    var fields = AnsweredFields<Field>()

    enum Field {
        /// The same value for every object: `__typename`, or null where the field failed.
        case constant(RenderedKey, JSONValue)
        case nodeID(RenderedKey)
        /// A column's cell.
        case column(RenderedKey, Int)
        /// `Agent.swarm`: for each object, its target's index in the target level (-1: null).
        case forward(RenderedKey, targets: [Int], ObjectsAnswer)
        /// `Swarm.agents(…)`: object `i`'s connection is the answer's page `i`.
        case connection(RenderedKey, ConnectionsAnswer)
    }

    init(typeName: String, cells: ProjectedCells) {
        self.typeName = typeName
        self.cells = cells
    }

    func write(_ object: Int, to w: inout JSONWriter) {
        w.beginObject()
        for field in fields.values {
            switch field {
            case let .constant(key, value): w.member(key, value)
            case let .nodeID(key):
                w.member(key)
                w.value(GraphQLNames.nodeID(type: typeName, id: cells.ids[object].lowercasedString))
            case let .column(key, column):
                w.member(key)
                w.raw(cells.cell(object, column))
            case let .forward(key, targets, target):
                w.member(key)
                if targets[object] < 0 { w.null() } else { target.write(targets[object], to: &w) }
            case let .connection(key, connections):
                w.member(key)
                connections.write(object, to: &w)
            }
        }
        w.endObject()
    }
}

/// What one page of a connection holds, besides its nodes.
struct PageSummary {
    /// The page's nodes: a range of the connection's node level.
    var nodes: Range<Int>
    var hasMore: Bool
    var itemCursors: [String]

    /// The pages as summaries, and all their items in one list (one level).
    static func of<Item>(_ pages: [Page<Item>]) -> ([PageSummary], [Item]) {
        var items: [Item] = []
        var summaries: [PageSummary] = []
        summaries.reserveCapacity(pages.count)
        for page in pages {
            summaries.append(PageSummary(nodes: items.count..<items.count + page.items.count, hasMore: page.hasMore, itemCursors: page.itemCursors))
            items.append(contentsOf: page.items)
        }
        return (summaries, items)
    }
}

/// Several connections of one field (one per parent), answered together: their nodes are one level.
final class ConnectionsAnswer {
    let pages: [PageSummary]
    let ranks: [[Double]]?
    let totals: [Int?]
    var fields = AnsweredFields<Field>()

    enum Field {
        case constant(RenderedKey, JSONValue)
        case totalCount(RenderedKey)
        case pageInfo(RenderedKey, [PageInfoField])
        case edges(RenderedKey, [EdgeField])
    }

    enum PageInfoField {
        case constant(RenderedKey, JSONValue)
        case hasNextPage(RenderedKey)
        case endCursor(RenderedKey)
    }

    enum EdgeField {
        case constant(RenderedKey, JSONValue)
        case cursor(RenderedKey)
        case rank(RenderedKey)
        case node(RenderedKey, NodesAnswer)
    }

    /// A connection's nodes: objects of a resource, or jobs (small; answered as values).
    enum NodesAnswer {
        case objects(ObjectsAnswer)
        case values([JSONValue])
    }

    init(pages: [PageSummary], ranks: [[Double]]?, totals: [Int?]) {
        self.pages = pages
        self.ranks = ranks
        self.totals = totals
    }

    func write(_ page: Int, to w: inout JSONWriter) {
        let summary = pages[page]
        w.beginObject()
        for field in fields.values {
            switch field {
            case let .constant(key, value): w.member(key, value)
            case let .totalCount(key):
                w.member(key)
                if let total = totals[page] { w.value(Int64(total)) } else { w.null() }
            case let .pageInfo(key, info):
                w.member(key)
                w.beginObject()
                for field in info {
                    switch field {
                    case let .constant(key, value): w.member(key, value)
                    case let .hasNextPage(key): w.member(key); w.value(summary.hasMore)
                    case let .endCursor(key):
                        w.member(key)
                        if let cursor = summary.itemCursors.last { w.value(cursor) } else { w.null() }
                    }
                }
                w.endObject()
            case let .edges(key, edgeFields):
                w.member(key)
                w.beginArray()
                for (edge, node) in summary.nodes.enumerated() {
                    w.beginObject()
                    for field in edgeFields {
                        switch field {
                        case let .constant(key, value): w.member(key, value)
                        case let .cursor(key):
                            w.member(key)
                            if edge < summary.itemCursors.count { w.value(summary.itemCursors[edge]) } else { w.null() }
                        case let .rank(key):
                            w.member(key)
                            if let ranks { w.value(ranks[page][edge]) } else { w.null() }
                        case let .node(key, .objects(objects)):
                            w.member(key)
                            objects.write(node, to: &w)
                        case let .node(key, .values(values)):
                            w.member(key)
                            w.value(values[node])
                        }
                    }
                    w.endObject()
                }
                w.endArray()
            }
        }
        w.endObject()
    }
}

/// A root field's answer: a value, or the one object or connection of a level.
enum GraphQLFieldValue {
    case value(JSONValue)
    case object(ObjectsAnswer)
    case connection(ConnectionsAnswer)

    func write(to w: inout JSONWriter) {
        switch self {
        case let .value(value): w.value(value)
        case let .object(objects): objects.write(0, to: &w)
        case let .connection(connections): connections.write(0, to: &w)
        }
    }
}

/// The answer's `data`: each root field's value under its response key, in the order asked
/// (a key asked for twice keeps its first place and its last value, as objects' fields do).
struct DataAnswer {
    private var fields = AnsweredFields<GraphQLFieldValue>()

    mutating func set(_ key: String, _ value: GraphQLFieldValue) {
        fields.set(key, value)
    }

    func write(to w: inout JSONWriter) {
        w.beginObject()
        for (key, value) in zip(fields.keys, fields.values) {
            w.key(key)
            value.write(to: &w)
        }
        w.endObject()
    }
}

/// A level's answered fields by response key, in the order first asked: a key set again
/// keeps its place and takes the new value (a field asked for twice, through fragments, is
/// answered once).
struct AnsweredFields<Field> {
    private(set) var keys: [String] = []
    private(set) var values: [Field] = []

    mutating func set(_ key: String, _ value: Field) {
        if let index = keys.lastIndex(of: key) {
            values[index] = value
        } else {
            keys.append(key)
            values.append(value)
        }
    }
}
