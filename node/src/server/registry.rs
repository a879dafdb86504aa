//! The `Registry` service: write and read records within this node's scope, and split
//! a community. Every call is checked by [`Authority`] first.

use super::authority::{Authority, Show};
use super::durable;
use crate::engine::EngineHandle;
use crate::error::NodeError;
use crate::link::Shared;
use linli_core::Error as CoreError;
use linli_core::ids::RecordKey;
use linli_core::replica::SplitRule;
use linli_core::trace::TraceContext;
use linli_core::write::{Target, Write};
use linli_proto::convert::durable_wait;
use linli_proto::v1;
use linli_proto::v1::registry_server::Registry;
use std::path::PathBuf;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Instrument;

pub struct RegistryService {
    engine: EngineHandle,
    authority: Authority,
    /// The links and watermarks, for writes that wait to be durable above.
    shared: Arc<Shared>,
    /// Where backups go; `None`: refused.
    backup_dir: Option<PathBuf>,
}

impl RegistryService {
    pub fn new(engine: EngineHandle, authority: Authority, shared: Arc<Shared>, backup_dir: Option<PathBuf>) -> Self {
        Self { engine, authority, shared, backup_dir }
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
        NodeError::Backup { .. } => Status::failed_precondition(error.to_string()),
        _ => Status::internal(error.to_string()),
    }
}

impl RegistryService {
    /// The span of a write's call when traces are exported: the child of the
    /// caller's `traceparent` where it sent a valid one (an invalid one is ignored,
    /// as W3C trace context asks). `Span::none()` when traces are off.
    fn write_span(&self, metadata: &tonic::metadata::MetadataMap) -> tracing::Span {
        if !crate::telemetry::enabled() {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            "linli.write",
            linli.node = %self.engine.node(),
            linli.tier = %self.shared.tier,
            record = tracing::field::Empty,
        );
        let parent = metadata
            .get("traceparent")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| TraceContext::parse_traceparent(value).ok());
        crate::telemetry::join(span, parent)
    }

    async fn write_traced(
        &self,
        request: Request<v1::WriteRequest>,
        span: tracing::Span,
    ) -> Result<Response<v1::WriteReply>, Status> {
        let caller = self.authority.caller("Registry.Write", &request)?;
        let request = request.into_inner();
        let wait = durable_wait(&request).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if let Some((tier, _)) = wait {
            durable::check_reachable(&self.shared, tier)?;
        }
        let mut write = Write::try_from(request).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (owner, registry, target) = match &write.target {
            Target::Create { owner, registry } => {
                (owner.as_str(), registry.as_str(), format!("a new {registry} record of `{owner}`"))
            }
            Target::Update(key) => (key.doc.owner.as_str(), key.doc.registry.as_str(), format!("record {key}")),
        };
        let fields: Vec<&str> = write.ops.iter().map(|op| op.field()).collect();
        self.authority.may_write(&caller, owner, registry, &fields, &target)?;
        write.trace = crate::telemetry::context_of(&span);
        let written = self.engine.write_async(write).await.map_err(status)?;
        span.record("record", tracing::field::display(&written.key));
        // Only local fields set: nothing to ship, nothing to wait for.
        if let (Some((tier, wait_ms)), Some(seq)) = (wait, written.seq) {
            durable::until_durable(&self.shared, seq, tier, wait_ms).await?;
        }
        Ok(Response::new(v1::WriteReply::from(&written)))
    }
}

#[tonic::async_trait]
impl Registry for RegistryService {
    #[tracing::instrument(skip_all, name = "registry.write")]
    async fn write(&self, request: Request<v1::WriteRequest>) -> Result<Response<v1::WriteReply>, Status> {
        let span = self.write_span(request.metadata());
        self.write_traced(request, span.clone()).instrument(span).await
    }

    #[tracing::instrument(skip_all, name = "registry.get")]
    async fn get(&self, request: Request<v1::GetRequest>) -> Result<Response<v1::GetReply>, Status> {
        let caller = self.authority.caller("Registry.Get", &request)?;
        let key = RecordKey::parse(&request.into_inner().record_key)
            .map_err(|e| Status::invalid_argument(format!("record_key: {e}")))?;
        let show = self.authority.may_read("Registry.Get", &caller, &key.doc.owner, &format!("record {key}"))?;
        let registry = key.doc.registry.clone();
        let record = self.engine.get_async(key).await.map_err(status)?;
        let json = record.map(|r| match show {
            Show::All => r.to_json(),
            Show::NoPersonal => self.authority.without_personal(&registry, r.to_json()),
        });
        Ok(Response::new(v1::GetReply { record_json: json.map(|j| j.to_string()) }))
    }

    #[tracing::instrument(skip_all, name = "registry.where")]
    async fn r#where(&self, request: Request<v1::WhereRequest>) -> Result<Response<v1::WhereReply>, Status> {
        let caller = self.authority.caller("Registry.Where", &request)?;
        let key = RecordKey::parse(&request.into_inner().record_key)
            .map_err(|e| Status::invalid_argument(format!("record_key: {e}")))?;
        self.authority.may_read("Registry.Where", &caller, &key.doc.owner, &format!("record {key}"))?;
        Ok(Response::new(durable::locate(&self.shared, key).await?))
    }

    #[tracing::instrument(skip_all, name = "registry.backup")]
    async fn backup(&self, request: Request<v1::BackupRequest>) -> Result<Response<v1::BackupReply>, Status> {
        let caller = self.authority.caller("Registry.Backup", &request)?;
        self.authority.may_back_up(&caller)?;
        let Some(backup_dir) = &self.backup_dir else {
            let why = "Registry.Backup: this node has no `backup_dir` configured (config key, LINLI_BACKUP_DIR or --backup-dir)";
            return Err(Status::failed_precondition(why));
        };
        let label = request.into_inner().label;
        let made = crate::backup::back_up(&self.engine, backup_dir, &label).await.map_err(status)?;
        let path = made.path.display().to_string();
        Ok(Response::new(v1::BackupReply { path, log_end: made.log_end, bytes: made.bytes }))
    }

    #[tracing::instrument(skip_all, name = "registry.split")]
    async fn split(&self, request: Request<v1::SplitRequest>) -> Result<Response<v1::SplitReply>, Status> {
        // The engine checks the input (`Error::Split` names the field at fault) and the
        // scope before it touches anything.
        let caller = self.authority.caller("Registry.Split", &request)?;
        let rule = SplitRule::from(request.into_inner());
        let targets: Vec<&str> = rule.to.values().chain(&rule.default_to).map(String::as_str).collect();
        self.authority.may_split(&caller, &rule.from, &targets)?;
        tracing::info!(from = %rule.from, by_field = %rule.by_field, to = ?rule.to, default_to = ?rule.default_to, "split requested");
        let report = self.engine.split_async(rule).await.map_err(status)?;
        Ok(Response::new(v1::SplitReply::from(&report)))
    }
}
