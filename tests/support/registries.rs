//! Shared by the registry tests: three real Apicurio Registry servers started at once, with a
//! client for each.

use std::path::Path;

use registry::{Apicurio, HttpRegistry};

/// Starts registries `names` (logs in `dir`) and returns them with their clients.
pub async fn three(names: [&'static str; 3], dir: &Path) -> (Vec<Apicurio>, [HttpRegistry; 3]) {
    let logs = dir.to_path_buf();
    let registries = tokio::task::spawn_blocking(move || Apicurio::start_all(&names, &logs))
        .await
        .expect("the start task")
        .expect("registries start");
    let clients = [0, 1, 2].map(|i| registries[i].client().expect("client"));
    (registries, clients)
}
