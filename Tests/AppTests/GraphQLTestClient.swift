import Foundation
import Testing
@testable import TrellisRuntime

/// POSTs a GraphQL query to `/v1/graphql` (expecting HTTP 200, as every GraphQL answer is);
/// returns the whole answer object.
func graphQL(
    _ client: APIClient, _ query: String, variables: String = "{}", as credential: APIClient.Credential = .defaultKey
) async throws -> JSONObject {
    let body = #"{"query":\#(JSONValue.string(query).jsonText),"variables":\#(variables)}"#
    let response = try await client.send(.post, "/v1/graphql", json: body, as: credential)
    #expect(response.status == .ok, "\(response.status): \(response.text)")
    return try response.object()
}

/// The `extensions.code` of each error of a GraphQL answer.
func errorCodes(_ answer: JSONObject) -> [String] {
    answer.array("errors").compactMap { $0.object?["extensions"]?.object?.string("code") }
}
