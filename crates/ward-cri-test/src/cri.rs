//! A blocking CRI client: runtime.v1 RuntimeService and ImageService over
//! containerd's unix socket (k8s-cri's tonic bindings), every call bounded.

use hyper_util::rt::TokioIo;
pub use k8s_cri::v1 as api;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint, Uri};

/// Time bound of one CRI call (a StopContainer waits its grace period, an
/// ExecSync its timeout: both are far below this).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(90);

pub type Rs = RuntimeServiceClient<Channel>;
pub type Is = ImageServiceClient<Channel>;

pub struct Cri {
    rt: tokio::runtime::Runtime,
    rs: Rs,
    is: Is,
}

/// A CRI error as kubelet sees it: the gRPC code and message.
pub fn describe(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

impl Cri {
    /// Connects to the CRI socket at `sock` (lazily: the first call dials).
    pub fn connect(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let path: PathBuf = sock.to_path_buf();
        let channel = {
            let _g = rt.enter();
            Endpoint::from_static("http://[::]:50051")
                .connect_timeout(Duration::from_secs(10))
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let p = path.clone();
                    async move {
                        let s = tokio::net::UnixStream::connect(p).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(s))
                    }
                }))
        };
        Cri {
            rs: RuntimeServiceClient::new(channel.clone()),
            is: ImageServiceClient::new(channel),
            rt,
        }
    }

    /// One RuntimeService call: `cri.rs(|mut c| async move { c.version(req).await })`.
    pub fn rs<T, F, Fut>(&self, f: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(Rs) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(f(self.rs.clone()))
    }

    /// One ImageService call.
    pub fn is<T, F, Fut>(&self, f: F) -> Result<T, tonic::Status>
    where
        F: FnOnce(Is) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.block(f(self.is.clone()))
    }

    fn block<T, Fut>(&self, fut: Fut) -> Result<T, tonic::Status>
    where
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.rt.block_on(async {
            match tokio::time::timeout(CALL_TIMEOUT, fut).await {
                Ok(r) => r.map(tonic::Response::into_inner),
                Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                    "the test's bound of {CALL_TIMEOUT:?} for one CRI call"
                ))),
            }
        })
    }

    // -- the calls the tests make, by name ---------------------------------

    pub fn version(&self) -> Result<api::VersionResponse, tonic::Status> {
        self.rs(|mut c| async move { c.version(api::VersionRequest::default()).await })
    }

    pub fn status(&self) -> Result<api::StatusResponse, tonic::Status> {
        self.rs(|mut c| async move { c.status(api::StatusRequest { verbose: false }).await })
    }

    pub fn run_pod(
        &self,
        config: &api::PodSandboxConfig,
        handler: &str,
    ) -> Result<String, tonic::Status> {
        let req = api::RunPodSandboxRequest {
            config: Some(config.clone()),
            runtime_handler: handler.to_string(),
        };
        self.rs(|mut c| async move { c.run_pod_sandbox(req).await })
            .map(|r| r.pod_sandbox_id)
    }

    pub fn stop_pod(&self, id: &str) -> Result<(), tonic::Status> {
        let req = api::StopPodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.stop_pod_sandbox(req).await })
            .map(|_| ())
    }

    pub fn remove_pod(&self, id: &str) -> Result<(), tonic::Status> {
        let req = api::RemovePodSandboxRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.remove_pod_sandbox(req).await })
            .map(|_| ())
    }

    pub fn pod_status(&self, id: &str) -> Result<api::PodSandboxStatusResponse, tonic::Status> {
        let req = api::PodSandboxStatusRequest {
            pod_sandbox_id: id.to_string(),
            verbose: true,
        };
        self.rs(|mut c| async move { c.pod_sandbox_status(req).await })
    }

    pub fn list_pods(&self) -> Result<Vec<api::PodSandbox>, tonic::Status> {
        let req = api::ListPodSandboxRequest { filter: None };
        self.rs(|mut c| async move { c.list_pod_sandbox(req).await })
            .map(|r| r.items)
    }

    pub fn create(
        &self,
        pod: &str,
        config: &api::ContainerConfig,
        pod_config: &api::PodSandboxConfig,
    ) -> Result<String, tonic::Status> {
        let req = api::CreateContainerRequest {
            pod_sandbox_id: pod.to_string(),
            config: Some(config.clone()),
            sandbox_config: Some(pod_config.clone()),
        };
        self.rs(|mut c| async move { c.create_container(req).await })
            .map(|r| r.container_id)
    }

    pub fn start(&self, id: &str) -> Result<(), tonic::Status> {
        let req = api::StartContainerRequest {
            container_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.start_container(req).await })
            .map(|_| ())
    }

    pub fn stop(&self, id: &str, timeout: i64) -> Result<(), tonic::Status> {
        let req = api::StopContainerRequest {
            container_id: id.to_string(),
            timeout,
        };
        self.rs(|mut c| async move { c.stop_container(req).await })
            .map(|_| ())
    }

    pub fn remove(&self, id: &str) -> Result<(), tonic::Status> {
        let req = api::RemoveContainerRequest {
            container_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.remove_container(req).await })
            .map(|_| ())
    }

    pub fn container_status(
        &self,
        id: &str,
    ) -> Result<api::ContainerStatusResponse, tonic::Status> {
        let req = api::ContainerStatusRequest {
            container_id: id.to_string(),
            verbose: true,
        };
        self.rs(|mut c| async move { c.container_status(req).await })
    }

    pub fn list_containers(
        &self,
        filter: api::ContainerFilter,
    ) -> Result<Vec<api::Container>, tonic::Status> {
        let req = api::ListContainersRequest {
            filter: Some(filter),
        };
        self.rs(|mut c| async move { c.list_containers(req).await })
            .map(|r| r.containers)
    }

    pub fn exec_sync(
        &self,
        id: &str,
        cmd: &[&str],
        timeout: i64,
    ) -> Result<api::ExecSyncResponse, tonic::Status> {
        let req = api::ExecSyncRequest {
            container_id: id.to_string(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        self.rs(|mut c| async move { c.exec_sync(req).await })
    }

    pub fn exec_url(&self, req: api::ExecRequest) -> Result<String, tonic::Status> {
        self.rs(|mut c| async move { c.exec(req).await })
            .map(|r| r.url)
    }

    pub fn attach_url(&self, req: api::AttachRequest) -> Result<String, tonic::Status> {
        self.rs(|mut c| async move { c.attach(req).await })
            .map(|r| r.url)
    }

    pub fn reopen_log(&self, id: &str) -> Result<(), tonic::Status> {
        let req = api::ReopenContainerLogRequest {
            container_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.reopen_container_log(req).await })
            .map(|_| ())
    }

    pub fn update_resources(
        &self,
        id: &str,
        linux: api::LinuxContainerResources,
    ) -> Result<(), tonic::Status> {
        let req = api::UpdateContainerResourcesRequest {
            container_id: id.to_string(),
            linux: Some(linux),
            ..Default::default()
        };
        self.rs(|mut c| async move { c.update_container_resources(req).await })
            .map(|_| ())
    }

    pub fn container_stats(&self, id: &str) -> Result<api::ContainerStats, tonic::Status> {
        let req = api::ContainerStatsRequest {
            container_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.container_stats(req).await })
            .and_then(|r| {
                r.stats
                    .ok_or_else(|| tonic::Status::not_found("ContainerStats: no stats"))
            })
    }

    pub fn pod_stats(&self, id: &str) -> Result<api::PodSandboxStats, tonic::Status> {
        let req = api::PodSandboxStatsRequest {
            pod_sandbox_id: id.to_string(),
        };
        self.rs(|mut c| async move { c.pod_sandbox_stats(req).await })
            .and_then(|r| {
                r.stats
                    .ok_or_else(|| tonic::Status::not_found("PodSandboxStats: no stats"))
            })
    }

    pub fn image_status(&self, image: &str) -> Result<Option<api::Image>, tonic::Status> {
        let req = api::ImageStatusRequest {
            image: Some(api::ImageSpec {
                image: image.to_string(),
                ..Default::default()
            }),
            verbose: false,
        };
        self.is(|mut c| async move { c.image_status(req).await })
            .map(|r| r.image)
    }
}
