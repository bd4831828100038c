import Foundation
import GraphQL
import Testing
import TrellisSchema

@testable import TrellisCodegen

@Suite("GraphQL schema (SDL) from schema/")
struct GraphQLSDLTests {
    /// The fixture's SDL, built into a schema by GraphQLSwift: a document it rejects fails here.
    static func built() throws -> GraphQLSchema {
        try buildSchema(source: try CodegenFixtures.output.get().graphQLSDL)
    }

    @Test func theSDLIsAValidSchemaWithCamelCaseFieldsAndEveryOperation() throws {
        let schema = try Self.built()
        let agent = try #require(schema.getType(name: "Agent") as? GraphQLObjectType)
        let fields = try agent.fields()
        for name in ["nodeId", "id", "workspaceId", "createdAt", "updatedAt", "version", "name", "systemPrompt", "isActive", "swarm"] {
            #expect(fields[name] != nil, "Agent.\(name)")
        }
        #expect(fields["system_prompt"] == nil)
        let query = try #require(schema.queryType).fields()
        let mutation = try #require(schema.mutationType).fields()
        for name in ["node", "agent", "agents"] { #expect(query[name] != nil, "Query.\(name)") }
        for name in ["createAgent", "updateAgent", "deleteAgent"] { #expect(mutation[name] != nil, "Mutation.\(name)") }
        // A connection's arguments, and only filter fields in its filter input.
        let agents = try #require(query["agents"])
        #expect(Set(agents.args.keys) == ["first", "after", "filter", "sort"])
        let filter = try #require(schema.getType(name: "AgentFilter") as? GraphQLInputObjectType)
        #expect(try filter.fields()["name"] == nil)
    }

    @Test func relationsAppearBothWays() throws {
        let schema = try Self.built()
        let swarm = try #require(schema.getType(name: "Swarm") as? GraphQLObjectType).fields()
        let agents = try #require(swarm["agents"], "Swarm.agents")
        #expect(Set(agents.args.keys) == ["first", "after", "filter", "sort"])
        #expect(try #require(schema.getType(name: "Agent") as? GraphQLObjectType).fields()["swarm"] != nil)
    }

    @Test func theSameSchemaGivesTheSameText() throws {
        let schema = try SchemaLoader.load(directory: try CodegenFixtures.schemaDirectory())
        #expect(GraphQLSDLGenerator.sdl(for: schema) == GraphQLSDLGenerator.sdl(for: schema))
    }
}
