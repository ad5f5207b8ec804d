//! Gate layers for a platform's own axum services: `require_plan` and `require_feature` wrap a
//! router (or one route) so that only callers with that plan or feature reach it, answering with
//! seed 001's gate bodies otherwise. The decision is `services::gate`'s, the same one the
//! authorizer and `/auth/check` make. An allowed request carries `gate::Allowed` in its
//! extensions for the handler (`Extension<Allowed>`).
//!
//! ```text
//! let app = Router::new()
//!     .route("/reports", get(reports))
//!     .layer(require_plan(state.clone(), Plan::Business));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::AppState;
use crate::domain::gates::Gate;
use crate::domain::plans::Plan;
use crate::services::gate::{self, Allowed, check_gate};

/// Only callers on `plan` or above pass.
pub fn require_plan(state: AppState, plan: Plan) -> RequireGate {
    RequireGate::new(state, Gate::plan(plan))
}

/// Only callers whose plan (or own grant) includes `feature` pass.
pub fn require_feature(state: AppState, feature: impl Into<String>) -> RequireGate {
    RequireGate::new(state, Gate::feature(feature))
}

/// The layer; see the module documentation.
#[derive(Clone)]
pub struct RequireGate {
    state: AppState,
    gate: Arc<Gate>,
}

impl RequireGate {
    pub fn new(state: AppState, gate: Gate) -> Self {
        Self {
            state,
            gate: Arc::new(gate),
        }
    }
}

impl<S> Layer<S> for RequireGate {
    type Service = RequireGateService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireGateService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequireGateService<S> {
    inner: S,
    layer: RequireGate,
}

impl<S> Service<Request<Body>> for RequireGateService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was polled ready serves this request; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            // The body is not `Sync`: keep it out of the future's borrows while deciding.
            let (mut parts, body) = request.into_parts();
            let decision: crate::Result<(Allowed, _)> = async {
                let caller =
                    gate::authenticate(&layer.state, &parts.method, &parts.uri, &parts.headers)
                        .await?;
                check_gate(&caller.claims, &layer.gate)?;
                Ok((Allowed::of_caller(&caller), caller))
            }
            .await;
            match decision {
                Ok((allowed, caller)) => {
                    parts.extensions.insert(allowed);
                    parts.extensions.insert(caller);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(error) => Ok(error.into_response()),
            }
        })
    }
}
