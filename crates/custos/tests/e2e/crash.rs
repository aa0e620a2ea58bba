//! A real `custos serve` process killed with SIGKILL in the middle of a burst: every request
//! that got its answer has its audit record, and the chain still verifies.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_custos");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_loses_no_answered_event() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = database_url(dir.path()).await?;
    let (id, secret) = ("crash-client", "crash-client-secret-0123456789");
    let mut child = Command::new(BIN)
        .arg("serve")
        .env("CUSTOS_DATA_DIR", dir.path())
        .env("CUSTOS_DATABASE_URL", &db)
        .env("CUSTOS_LISTEN", "127.0.0.1:0")
        .env("CUSTOS_BOOTSTRAP_CLIENT_ID", id)
        .env("CUSTOS_BOOTSTRAP_CLIENT_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("stdout")?).lines();
    let first = lines.next().ok_or("no output")??;
    let addr = first.rsplit(' ').next().ok_or("addr")?.to_owned();
    let answered: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let answered = answered.clone();
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0.. {
                let ua = format!("burst-{t}-{i}");
                let r = http
                    .post(format!("{addr}/oauth/token"))
                    .header("user-agent", &ua)
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", id),
                        ("client_secret", secret),
                        ("audience", &format!("{addr}/api/v2/")),
                    ])
                    .send()
                    .await;
                match r {
                    Ok(resp) if resp.status() == 200 => {
                        // Count it only once the whole answer arrived.
                        if resp.bytes().await.is_ok() {
                            answered.lock().unwrap().push(ua);
                        }
                    }
                    Ok(resp) => panic!("unexpected status {}", resp.status()),
                    Err(_) => return,
                }
            }
        }));
    }
    // Let the burst run, then kill the process without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while answered.lock().unwrap().len() < 300 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill()?; // SIGKILL
    child.wait()?;
    for t in tasks {
        t.await?;
    }
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() >= 300, "the burst ran: {}", answered.len());

    // Every answered request has its record.
    let store = custos_store::Store::connect(&db).await?;
    let rows = store.chain_rows(0, i64::MAX, 1_000_000).await?;
    let recorded: HashSet<String> = rows
        .iter()
        .filter(|r| r.log_type == "seccft")
        .filter_map(|r| r.user_agent.clone())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|ua| !recorded.contains(*ua))
        .collect();
    assert!(
        lost.is_empty(),
        "{} answered requests have no audit record: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    store.close().await;

    // The chain survived the crash intact.
    let v = Command::new(BIN)
        .args(["audit", "verify"])
        .env("CUSTOS_DATA_DIR", dir.path())
        .env("CUSTOS_DATABASE_URL", &db)
        .output()?;
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    Ok(())
}
