//! The `Registry` service: write and read records within this node's scope, and split
//! a community.

use crate::engine::EngineHandle;
use crate::error::NodeError;
use linli_core::Error as CoreError;
use linli_core::ids::RecordKey;
use linli_core::replica::SplitRule;
use linli_core::write::Write;
use linli_proto::v1;
use linli_proto::v1::registry_server::Registry;
use tonic::{Request, Response, Status};

pub struct RegistryService {
    engine: EngineHandle,
}

impl RegistryService {
    pub fn new(engine: EngineHandle) -> Self {
        Self { engine }
    }
}

/// Maps an engine error to the gRPC status a client can act on.
pub fn status(error: NodeError) -> Status {
    match &error {
        NodeError::Core(
            CoreError::Invalid { .. }
            | CoreError::BadId { .. }
            | CoreError::UnknownRegistry { .. }
            | CoreError::Split { .. }
            | CoreError::Query { .. },
        ) => Status::invalid_argument(error.to_string()),
        NodeError::Core(CoreError::NotOwner { .. }) => Status::permission_denied(error.to_string()),
        NodeError::Core(CoreError::RecordNotFound { .. }) => Status::not_found(error.to_string()),
        NodeError::Stopped { .. } => Status::unavailable(error.to_string()),
        _ => Status::internal(error.to_string()),
    }
}

#[tonic::async_trait]
impl Registry for RegistryService {
    #[tracing::instrument(skip_all, name = "registry.write")]
    async fn write(&self, request: Request<v1::WriteRequest>) -> Result<Response<v1::WriteReply>, Status> {
        let write = Write::try_from(request.into_inner()).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let written = self.engine.write_async(write).await.map_err(status)?;
        Ok(Response::new(v1::WriteReply::from(&written)))
    }

    #[tracing::instrument(skip_all, name = "registry.get")]
    async fn get(&self, request: Request<v1::GetRequest>) -> Result<Response<v1::GetReply>, Status> {
        let key = RecordKey::parse(&request.into_inner().record_key)
            .map_err(|e| Status::invalid_argument(format!("record_key: {e}")))?;
        let record = self.engine.get_async(key).await.map_err(status)?;
        Ok(Response::new(v1::GetReply { record_json: record.map(|r| r.to_json().to_string()) }))
    }

    #[tracing::instrument(skip_all, name = "registry.split")]
    async fn split(&self, request: Request<v1::SplitRequest>) -> Result<Response<v1::SplitReply>, Status> {
        // The engine checks the input (`Error::Split` names the field at fault) and the
        // scope before it touches anything.
        let rule = SplitRule::from(request.into_inner());
        tracing::info!(from = %rule.from, by_field = %rule.by_field, to = ?rule.to, default_to = ?rule.default_to, "split requested");
        let report = self.engine.split_async(rule).await.map_err(status)?;
        Ok(Response::new(v1::SplitReply::from(&report)))
    }
}
