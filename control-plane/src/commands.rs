//! The command-line clients: `status`, `history`, `rollback` (of the API) and `validate`
//! (offline).

use crate::cli::{HistoryArgs, RollbackArgs, StatusArgs};
use crate::client::{Client, ClientError};
use crate::table::Table;
use crate::views::{HistoryView, RollbackRequest, RollbackResponse, StatusView};
use std::path::Path;

/// `status`: the version in force and every sidecar.
pub async fn status(args: &StatusArgs) -> Result<String, ClientError> {
    let answer = Client::new(&args.remote.url, &args.remote.ca_file)?
        .get::<StatusView>("/v1/status")
        .await?;
    Ok(if args.json {
        String::from_utf8_lossy(&answer.raw).into_owned()
    } else {
        render_status(&answer.value)
    })
}

/// `history`: every published version, oldest first.
pub async fn history(args: &HistoryArgs) -> Result<String, ClientError> {
    let answer = Client::new(&args.remote.url, &args.remote.ca_file)?
        .get::<HistoryView>("/v1/history")
        .await?;
    Ok(if args.json {
        String::from_utf8_lossy(&answer.raw).into_owned()
    } else {
        render_history(&answer.value)
    })
}

/// `rollback VERSION`: publishes that version's configuration again.
pub async fn rollback(args: &RollbackArgs) -> Result<String, ClientError> {
    let author = args
        .author
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_owned());
    let request = RollbackRequest {
        version: args.version,
        author: Some(author),
    };
    let answer = Client::new(&args.remote.url, &args.remote.ca_file)?
        .post::<RollbackResponse>("/v1/rollback", &request)
        .await?;
    Ok(format!(
        "published version {} with the configuration of version {}\n\
         note: the next change in the config directory is published over it\n",
        answer.value.version, args.version
    ))
}

/// `validate DIR`: `ok: N services in M files`, or the error with file, line and column.
pub fn validate(dir: &Path) -> Result<String, Box<convoy_config::ConfigError>> {
    let source = convoy_config::load_mesh_dir(dir).map_err(Box::new)?;
    let services = source.mesh.services.len();
    let files = source.files.len();
    Ok(format!(
        "ok: {services} {} in {files} {}\n",
        if services == 1 { "service" } else { "services" },
        if files == 1 { "file" } else { "files" },
    ))
}

/// The status as a table.
pub(crate) fn render_status(status: &StatusView) -> String {
    let mut out = format!("version {}\n", status.version);
    if let Some(rejected) = &status.last_rejected {
        out.push_str(&format!(
            "last rejected change ({}): {}\n",
            rejected.time, rejected.error
        ));
    }
    if status.sidecars.is_empty() {
        out.push_str("no sidecars\n");
        return out;
    }
    out.push('\n');
    let mut table = Table::new(&[
        "ID",
        "SERVICE",
        "ADDRESS",
        "CONNECTED",
        "VERSION",
        "CONNECTED SINCE",
        "CERT EXPIRES",
        "LAST NACK",
    ]);
    for sidecar in &status.sidecars {
        table.row(vec![
            sidecar.id.clone(),
            sidecar.service.clone(),
            sidecar.address.clone(),
            if sidecar.connected {
                "yes"
            } else {
                "no (grace)"
            }
            .to_owned(),
            sidecar
                .acked_version
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
            sidecar.connected_since.clone(),
            sidecar
                .certificate_expires
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
            sidecar.last_nack.as_ref().map_or_else(
                || "-".to_owned(),
                |n| format!("v{}: {}", n.version, n.reason),
            ),
        ]);
    }
    out.push_str(&table.render());
    out
}

/// The history as a table.
pub(crate) fn render_history(history: &HistoryView) -> String {
    let mut table = Table::new(&["VERSION", "TIME", "AUTHOR", "KIND", "SUMMARY"]);
    for event in &history.events {
        table.row(vec![
            event.version.to_string(),
            event.time.clone(),
            event.author.clone(),
            event.kind.as_str().to_owned(),
            event.summary.clone(),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Kind;
    use crate::views::{EventView, NackView, RejectedView, SidecarView};

    #[test]
    fn status_table() {
        let status = StatusView {
            version: 7,
            last_rejected: Some(RejectedView {
                time: "2025-01-01T00:00:00.000Z".into(),
                error: "m.yaml:2:3: services.x: bad".into(),
            }),
            sidecars: vec![SidecarView {
                id: "orders-1".into(),
                service: "orders".into(),
                address: "127.0.0.1:4143".into(),
                connected: true,
                connected_since: "2025-01-01T00:00:00.000Z".into(),
                acked_version: Some(6),
                last_nack: Some(NackView {
                    version: 7,
                    reason: "no".into(),
                }),
                certificate_expires: Some("2025-01-02T00:00:00.000Z".into()),
            }],
        };
        assert_eq!(
            render_status(&status),
            "version 7\n\
             last rejected change (2025-01-01T00:00:00.000Z): m.yaml:2:3: services.x: bad\n\
             \n\
             ID        SERVICE  ADDRESS         CONNECTED  VERSION  CONNECTED SINCE           CERT EXPIRES              LAST NACK\n\
             orders-1  orders   127.0.0.1:4143  yes        6        2025-01-01T00:00:00.000Z  2025-01-02T00:00:00.000Z  v7: no\n"
        );
    }

    #[test]
    fn history_table() {
        let history = HistoryView {
            events: vec![EventView {
                version: 1,
                time: "2025-01-01T00:00:00.000Z".into(),
                author: "config-dir".into(),
                kind: Kind::Config,
                summary: "loaded 1 service: orders".into(),
            }],
        };
        assert_eq!(
            render_history(&history),
            "VERSION  TIME                      AUTHOR      KIND    SUMMARY\n\
             1        2025-01-01T00:00:00.000Z  config-dir  config  loaded 1 service: orders\n"
        );
    }
}
