//! Errors with Confluent Schema Registry's HTTP statuses and error codes, which clients
//! (and people) match on.

/// An error the REST API answers with: `{"error_code": code, "message": message}` and
/// HTTP `status`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({code})")]
pub struct RegistryError {
    pub status: u16,
    pub code: i32,
    pub message: String,
}

fn err(status: u16, code: i32, message: String) -> RegistryError {
    RegistryError {
        status,
        code,
        message,
    }
}

impl RegistryError {
    pub fn subject_not_found(subject: &str) -> Self {
        err(404, 40401, format!("Subject '{subject}' not found."))
    }
    pub fn version_not_found(version: i32) -> Self {
        err(404, 40402, format!("Version {version} not found."))
    }
    pub fn schema_not_found(id: i32) -> Self {
        err(404, 40403, format!("Schema {id} not found"))
    }
    pub fn schema_not_found_in_subject() -> Self {
        err(404, 40403, "Schema not found".to_string())
    }
    pub fn subject_not_soft_deleted(subject: &str) -> Self {
        err(
            404,
            40405,
            format!("Subject '{subject}' was not deleted first before being permanently deleted"),
        )
    }
    pub fn version_not_soft_deleted(subject: &str, version: i32) -> Self {
        err(
            404,
            40407,
            format!(
                "Subject '{subject}' Version {version} was not deleted first before being permanently deleted"
            ),
        )
    }
    pub fn subject_config_not_found(subject: &str) -> Self {
        err(
            404,
            40408,
            format!("Subject '{subject}' does not have subject-level compatibility configured"),
        )
    }
    pub fn incompatible(subject: &str, problems: &[String]) -> Self {
        err(
            409,
            409,
            format!(
                "Schema being registered is incompatible with an earlier schema for subject \"{subject}\", details: [{}]",
                problems.join("; ")
            ),
        )
    }
    pub fn invalid_schema(why: impl Into<String>) -> Self {
        err(422, 42201, why.into())
    }
    pub fn invalid_version(version: &str) -> Self {
        err(
            422,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }
    pub fn invalid_compatibility(level: &str) -> Self {
        err(
            422,
            42203,
            format!(
                "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive (got {level})"
            ),
        )
    }
    pub fn referenced(subject: &str, version: i32) -> Self {
        err(
            422,
            42206,
            format!(
                "One or more references exist to the schema {{magic=1,keytype=SCHEMA,subject={subject},version={version}}}."
            ),
        )
    }
    pub fn invalid_mode(mode: &str) -> Self {
        err(
            422,
            42204,
            format!("Invalid mode {mode}: this registry has READWRITE and READONLY"),
        )
    }
    pub fn read_only(subject: &str) -> Self {
        err(
            422,
            42205,
            format!("Subject {subject} is in read-only mode"),
        )
    }
    pub fn subject_mode_not_found(subject: &str) -> Self {
        err(
            404,
            40409,
            format!("Subject '{subject}' does not have subject-level mode configured"),
        )
    }
    pub fn invalid_subject(subject: &str) -> Self {
        err(
            422,
            42208,
            format!("The specified subject '{subject}' is not valid."),
        )
    }
    pub fn unprocessable(why: impl Into<String>) -> Self {
        err(422, 422, why.into())
    }
    pub fn store(why: impl Into<String>) -> Self {
        err(500, 50001, format!("Error while storing: {}", why.into()))
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        err(404, 404, what.into())
    }
    pub fn forbidden(why: impl Into<String>) -> Self {
        err(403, 40301, why.into())
    }
    pub fn unauthorized() -> Self {
        err(401, 401, "Unauthorized".to_string())
    }
}
