import TrellisRuntime

// Hand-written code for the App target lives beside the code generated from schema/
// (GeneratedModels.swift, GeneratedInputs.swift, … in the build folder, never in git).
// Add extra routes and hooks here; a schema edit never overwrites this file.

/// The API this package serves: the generated resources with their OpenAPI document.
public enum TrellisApp {
    public static var api: APIDefinition { GeneratedAPI.definition }
}
