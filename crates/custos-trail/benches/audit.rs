//! `cargo bench -p custos-trail --bench audit` (or `scripts/bench-audit`): the audit trail's
//! performance targets on SQLite, with the pragmas the store sets itself (WAL,
//! `synchronous=FULL`):
//!
//! 1. append throughput through the hash chain with durable commits: `append_audit` from 1, 16,
//!    64 and 256 concurrent tasks (group commit), and sequential explicit transactions as the
//!    single-writer baseline (target ≥ 100,000 records/s);
//! 2. `verify` over 1,000,000 records with 1 and 2 threads (target ≤ 1 s);
//! 4. (phase `stream`) log-stream delivery to a local webhook while appends run, and the append
//!    rate with a stuck sink (appends must not slow down);
//! 3. `q` search through the Management API's translation (`custos_store::search::LOG_FIELDS`) (target ≤ 100 ms per query on indexed
//!    fields over 10,000,000 records): median and p95 of repeated runs. The default is 2,000,000
//!    records, because filling through `append_audit` runs at about 20,000 records/s on the
//!    shared 2-core machine (10M would take over 8 minutes); pass `--search-records 10000000`
//!    for the target's size.
//!
//! Options (flags, or the environment variable in brackets):
//! `--search-records N` [`CUSTOS_BENCH_SEARCH_RECORDS`, default 2,000,000],
//! `--verify-records N` [`CUSTOS_BENCH_VERIFY_RECORDS`, default 1,000,000],
//! `--append-seconds S` [`CUSTOS_BENCH_APPEND_SECONDS`, default 4] and `--append-max N`
//! [`CUSTOS_BENCH_APPEND_MAX`, default 200,000] bound each append run,
//! `--runs N` [`CUSTOS_BENCH_RUNS`, default 20] timed runs per search,
//! `--only append,verify,search,stream` [`CUSTOS_BENCH_ONLY`],
//! `--dir PATH` [`CUSTOS_BENCH_DIR`]: keep the databases there (default: a temporary directory,
//! removed at exit); kept verify and search databases with the requested record count are
//! reused.
//!
//! Figures go to BENCHMARKS.md by hand, never into assertions; only correctness is asserted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use custos_domain::audit::{AuditEvent, EventType};
use custos_store::search::{parse_and_translate, LOG_DEFAULT_FIELDS, LOG_FIELDS};
use custos_store::{AuditQuery, Store, StoreError};
use custos_trail::verify::{verify, VerifyOptions};
use serde_json::json;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The searches timed in phase 3: label, `q`, and whether to count all matches
/// (`include_totals`).
const SEARCHES: &[(&str, &str, bool)] = &[
    ("user_id", "user_id:\"auth0|4242\"", false),
    ("type", "type:fp", false),
    ("client_id", "client_id:client-7", false),
    ("date range", "date:[2026-03-01 TO 2026-03-31]", false),
    (
        "user_id AND date",
        "user_id:\"auth0|4242\" AND date:[2026-03-01 TO 2026-03-31]",
        false,
    ),
    ("type prefix", "type:f*", false),
    ("user_id + count", "user_id:\"auth0|4242\"", true),
];

struct Config {
    search_records: u64,
    verify_records: u64,
    append_seconds: f64,
    append_max: u64,
    runs: usize,
    only: Vec<String>,
    dir: Option<PathBuf>,
}

impl Config {
    // The bench's own knobs, not Custos configuration (which only custos-config reads).
    #[allow(clippy::disallowed_methods)]
    fn load() -> BenchResult<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut c = Config {
            search_records: 2_000_000,
            verify_records: 1_000_000,
            append_seconds: 4.0,
            append_max: 200_000,
            runs: 20,
            only: vec![
                "append".into(),
                "verify".into(),
                "search".into(),
                "stream".into(),
            ],
            dir: None,
        };
        let mut settings: Vec<(String, String)> = [
            ("CUSTOS_BENCH_SEARCH_RECORDS", "--search-records"),
            ("CUSTOS_BENCH_VERIFY_RECORDS", "--verify-records"),
            ("CUSTOS_BENCH_APPEND_SECONDS", "--append-seconds"),
            ("CUSTOS_BENCH_APPEND_MAX", "--append-max"),
            ("CUSTOS_BENCH_RUNS", "--runs"),
            ("CUSTOS_BENCH_ONLY", "--only"),
            ("CUSTOS_BENCH_DIR", "--dir"),
        ]
        .iter()
        .filter_map(|(var, flag)| env(var).map(|v| ((*flag).to_owned(), v)))
        .collect();
        // Flags override the environment. `cargo bench` adds `--bench`, which is ignored.
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--bench" {
                continue;
            }
            let (flag, value) = match arg.split_once('=') {
                Some((f, v)) => (f.to_owned(), v.to_owned()),
                None => {
                    let v = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                    (arg, v)
                }
            };
            settings.push((flag, value));
        }
        for (flag, v) in settings {
            let v = v.replace('_', "");
            match flag.as_str() {
                "--search-records" => c.search_records = v.parse()?,
                "--verify-records" => c.verify_records = v.parse()?,
                "--append-seconds" => c.append_seconds = v.parse()?,
                "--append-max" => c.append_max = v.parse()?,
                "--runs" => c.runs = v.parse::<usize>()?.max(1),
                "--only" => c.only = v.split(',').map(|s| s.trim().to_owned()).collect(),
                "--dir" => c.dir = Some(PathBuf::from(v)),
                other => return Err(format!("unknown option {other}").into()),
            }
        }
        Ok(c)
    }

    fn runs_phase(&self, phase: &str) -> bool {
        self.only.iter().any(|p| p == phase)
    }
}

/// splitmix64: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 2025-06-01T00:00:00Z: records spread over the following year.
const START_MS: i64 = 1_748_736_000_000;
const YEAR_MS: i64 = 365 * 86_400_000;
const USERS: u64 = 10_000;
const CLIENTS: u64 = 50;

/// Event types and their weights (out of 100).
const TYPES: &[(EventType, u64)] = &[
    (EventType::S, 30),
    (EventType::Seccft, 22),
    (EventType::Sertft, 10),
    (EventType::Ssa, 9),
    (EventType::Sapi, 8),
    (EventType::Fp, 8),
    (EventType::Slo, 8),
    (EventType::F, 5),
];

const USER_AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "okhttp/4.12.0",
    "python-requests/2.32.3",
];

/// Record `i` of `total`: dates increase with `i` over a year, plus up to a minute of jitter.
fn event(i: u64, total: u64, rng: &mut Rng) -> AuditEvent {
    let mut pick = rng.below(100);
    let mut event_type = EventType::S;
    for (t, w) in TYPES {
        if pick < *w {
            event_type = *t;
            break;
        }
        pick -= w;
    }
    let date = START_MS
        + (i as i128 * YEAR_MS as i128 / total.max(1) as i128) as i64
        + rng.below(60_000) as i64;
    let mut e = AuditEvent::new(event_type, date);
    let client = rng.below(CLIENTS);
    e.client_id = Some(format!("client-{client}"));
    e.client_name = Some(format!("Application {client}"));
    e.ip = Some(format!(
        "10.{}.{}.{}",
        rng.below(256),
        rng.below(256),
        rng.below(256)
    ));
    e.user_agent = Some(USER_AGENTS[rng.below(USER_AGENTS.len() as u64) as usize].to_owned());
    if rng.below(10) == 0 {
        e.organization_id = Some(format!("org_{}", rng.below(20)));
    }
    match event_type {
        EventType::Seccft | EventType::Sapi => {
            e.audience = Some("https://api.example.com/".into());
            e.scope = Some("read:things write:things".into());
        }
        _ => {
            let user = rng.below(USERS);
            e.user_id = Some(format!("auth0|{user}"));
            e.user_name = Some(format!("user{user}@example.com"));
            e.connection = Some("Username-Password-Authentication".into());
        }
    }
    e.details = json!({
        "request_id": format!("{:016x}", rng.next()),
        "session_id": format!("{:016x}", rng.next()),
        "elapsed_ms": rng.below(500),
        "prompt": "login",
    });
    e
}

/// A new, empty database (any earlier one of that name is removed).
async fn open_fresh(dir: &Path, name: &str) -> BenchResult<Store> {
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.join(format!("{name}{suffix}"));
        if path.exists() {
            std::fs::remove_file(path)?;
        }
    }
    open(dir, name).await
}

async fn open(dir: &Path, name: &str) -> BenchResult<Store> {
    let path = dir.join(name);
    Ok(Store::connect(&format!("sqlite://{}", path.display())).await?)
}

/// Appends records `0..total` from `concurrency` tasks looping on `append_audit`.
async fn fill(store: &Store, total: u64, concurrency: usize, label: &str) -> BenchResult<Duration> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (store, next, label) = (store.clone(), next.clone(), label.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0xC0FFEE ^ (t as u64).wrapping_mul(0x9E37_79B9));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<(), StoreError>(());
                }
                if i > 0 && i % 1_000_000 == 0 {
                    let s = start.elapsed().as_secs_f64();
                    eprintln!(
                        "  {label}: {} records in {s:.0} s ({} records/s)",
                        thousands(i),
                        thousands((i as f64 / s) as u64)
                    );
                }
                store.append_audit(event(i, total, &mut rng)).await?;
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed())
}

/// `append_audit` from `concurrency` looping tasks until `max` records or `secs` elapse.
async fn append_run(
    store: &Store,
    concurrency: usize,
    max: u64,
    secs: f64,
) -> BenchResult<(u64, Duration)> {
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let (store, next, stop) = (store.clone(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(t as u64 + 1);
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max {
                    break;
                }
                store.append_audit(event(i, max, &mut rng)).await?;
                done += 1;
            }
            Ok::<u64, StoreError>(done)
        }));
    }
    let timer = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut records = 0;
    for t in tasks {
        records += t.await??;
    }
    let elapsed = start.elapsed();
    timer.abort();
    Ok((records, elapsed))
}

/// Sequential `begin` / `audit` / `commit`, one record per transaction.
async fn tx_run(store: &Store, max: u64, secs: f64) -> BenchResult<(u64, Duration)> {
    let mut rng = Rng(7);
    let start = Instant::now();
    let mut records = 0;
    while records < max && start.elapsed().as_secs_f64() < secs {
        let ev = event(records, max, &mut rng);
        let mut tx = store.begin().await?;
        tx.audit(&ev).await?;
        tx.commit().await?;
        records += 1;
    }
    Ok((records, start.elapsed()))
}

fn rate(records: u64, elapsed: Duration) -> u64 {
    (records as f64 / elapsed.as_secs_f64()) as u64
}

fn thousands(n: u64) -> String {
    let mut groups = vec![n % 1000];
    let mut rest = n / 1000;
    while rest > 0 {
        groups.push(rest % 1000);
        rest /= 1000;
    }
    let mut out = groups.pop().map_or_else(String::new, |g| g.to_string());
    for g in groups.iter().rev() {
        out.push_str(&format!(",{g:03}"));
    }
    out
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median and p95 (nearest rank) of the samples.
fn median_p95(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let n = samples.len();
    if n == 0 {
        return (Duration::ZERO, Duration::ZERO);
    }
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2
    };
    let p95 = samples[(n * 95).div_ceil(100).max(1) - 1];
    (median, p95)
}

/// Result lines, printed again together at the end.
#[derive(Default)]
struct Summary(Vec<String>);

impl Summary {
    fn line(&mut self, s: String) {
        println!("{s}");
        self.0.push(s);
    }
}

async fn bench_append(cfg: &Config, dir: &Path, out: &mut Summary) -> BenchResult<()> {
    out.line("| append | records | seconds | records/s |".into());
    out.line("| --- | ---: | ---: | ---: |".into());
    for concurrency in [1usize, 16, 64, 256, 1024] {
        let store = open_fresh(dir, &format!("append-{concurrency}.db")).await?;
        let (records, elapsed) =
            append_run(&store, concurrency, cfg.append_max, cfg.append_seconds).await?;
        store.close().await;
        out.line(format!(
            "| append_audit, {concurrency} tasks | {} | {:.2} | {} |",
            thousands(records),
            elapsed.as_secs_f64(),
            thousands(rate(records, elapsed))
        ));
    }
    let store = open_fresh(dir, "append-tx.db").await?;
    let (records, elapsed) = tx_run(&store, cfg.append_max, cfg.append_seconds).await?;
    store.close().await;
    out.line(format!(
        "| begin/audit/commit, sequential | {} | {:.2} | {} |",
        thousands(records),
        elapsed.as_secs_f64(),
        thousands(rate(records, elapsed))
    ));
    Ok(())
}

/// Concurrency of the fills: enough waiting appenders for full 1,024-event batches.
const FILL_TASKS: usize = 2048;

async fn bench_verify(cfg: &Config, dir: &Path, out: &mut Summary) -> BenchResult<()> {
    let n = cfg.verify_records;
    let name = format!("verify-{n}.db");
    let mut store = open(dir, &name).await?;
    let (head, _) = store.audit_head().await?;
    if head as u64 == n {
        out.line(format!(
            "verify: reusing {name} with {} records",
            thousands(n)
        ));
    } else {
        store.close().await;
        store = open_fresh(dir, &name).await?;
        let elapsed = fill(&store, n, FILL_TASKS, "verify fill").await?;
        out.line(format!(
            "verify fill: {} records in {:.1} s ({} records/s, append_audit, {FILL_TASKS} tasks)",
            thousands(n),
            elapsed.as_secs_f64(),
            thousands(rate(n, elapsed))
        ));
    }
    out.line("| verify | runs | median s | best s | records/s (median) |".into());
    out.line("| --- | ---: | ---: | ---: | ---: |".into());
    // Warm-up: the first pass reads the file into the page cache.
    verify(&store, None, &VerifyOptions::default()).await?;
    for threads in [1usize, 2] {
        let opts = VerifyOptions {
            threads,
            ..Default::default()
        };
        let mut samples = Vec::new();
        for _ in 0..3 {
            let start = Instant::now();
            let report = verify(&store, None, &opts).await?;
            samples.push(start.elapsed());
            assert!(
                report.finding.is_none(),
                "verify found {:?}",
                report.finding
            );
            assert_eq!(report.records, n, "verify checked every record");
        }
        let (median, _) = median_p95(&mut samples);
        out.line(format!(
            "| verify {} records, {threads} thread(s) | {} | {:.3} | {:.3} | {} |",
            thousands(n),
            samples.len(),
            median.as_secs_f64(),
            samples[0].as_secs_f64(),
            thousands(rate(n, median))
        ));
    }
    store.close().await;
    Ok(())
}

async fn bench_search(cfg: &Config, dir: &Path, out: &mut Summary) -> BenchResult<()> {
    let n = cfg.search_records;
    let name = format!("search-{n}.db");
    let store = open(dir, &name).await?;
    let (head, _) = store.audit_head().await?;
    let store = if head as u64 == n {
        out.line(format!(
            "search: reusing {} with {} records",
            name,
            thousands(n)
        ));
        store
    } else {
        store.close().await;
        let store = open_fresh(dir, &name).await?;
        let elapsed = fill(&store, n, FILL_TASKS, "search fill").await?;
        out.line(format!(
            "search fill: {} records in {:.1} s ({} records/s, append_audit, {FILL_TASKS} tasks)",
            thousands(n),
            elapsed.as_secs_f64(),
            thousands(rate(n, elapsed))
        ));
        // Reopen, as a server start would (closing checkpoints the WAL).
        store.close().await;
        open(dir, &name).await?
    };
    out.line(format!(
        "| q over {} records (per_page 50, newest first) | matches | runs | median ms | p95 ms |",
        thousands(n)
    ));
    out.line("| --- | ---: | ---: | ---: | ---: |".into());
    let mut sqls = Vec::new();
    for (label, q, count) in SEARCHES {
        let search = parse_and_translate(q, LOG_FIELDS, LOG_DEFAULT_FIELDS, 1)?;
        sqls.push(format!("{label}: {} {:?}", search.0, search.1));
        let query = AuditQuery {
            search: Some(search),
            per_page: 50,
            descending: true,
            count: *count,
            ..Default::default()
        };
        // Warm-up; a slow query gets fewer timed runs.
        let start = Instant::now();
        let page = store.list_audit(&query).await?;
        let warm = start.elapsed();
        store.list_audit(&query).await?;
        let runs = if warm > Duration::from_secs(2) {
            cfg.runs.min(5)
        } else {
            cfg.runs
        };
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let start = Instant::now();
            std::hint::black_box(store.list_audit(&query).await?);
            samples.push(start.elapsed());
        }
        let (median, p95) = median_p95(&mut samples);
        let matches = if *count {
            format!(
                "{} (total {})",
                page.items.len(),
                thousands(page.total as u64)
            )
        } else {
            page.items.len().to_string()
        };
        out.line(format!(
            "| `{q}`{} | {matches} | {runs} | {:.2} | {:.2} |",
            if *count { " + count" } else { "" },
            ms(median),
            ms(p95)
        ));
    }
    for s in sqls {
        println!("  {s}");
    }
    store.close().await;
    Ok(())
}

async fn run(cfg: Config) -> BenchResult<()> {
    let temp;
    let dir = match &cfg.dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            d.clone()
        }
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    println!(
        "audit trail benchmark: SQLite (WAL, synchronous=FULL) in {}",
        dir.display()
    );
    let mut out = Summary::default();
    if cfg.runs_phase("append") {
        bench_append(&cfg, &dir, &mut out).await?;
    }
    if cfg.runs_phase("verify") {
        bench_verify(&cfg, &dir, &mut out).await?;
    }
    if cfg.runs_phase("search") {
        bench_search(&cfg, &dir, &mut out).await?;
    }
    if cfg.runs_phase("stream") {
        bench_stream(&cfg, &dir, &mut out).await?;
    }
    println!("\nSummary:");
    for line in &out.0 {
        println!("{line}");
    }
    Ok(())
}

fn main() -> BenchResult<()> {
    let cfg = Config::load()?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cfg))
}

/// A minimal HTTP/1.1 sink: answers 200 to every POST and counts the `{log_id, data}` items.
async fn webhook_sink(items: Arc<AtomicU64>) -> BenchResult<String> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/ingest", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let items = items.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(sock);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    // Each item names its log_id twice: in the envelope and in `data`.
                    let n = body.windows(9).filter(|w| w == b"\"log_id\":").count() / 2;
                    items.fetch_add(n as u64, Ordering::Relaxed);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if r.get_mut().write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(url)
}

/// Stream delivery: records appended while a webhook stream is active, then the time for the
/// stream to deliver them all; and the append rate with a stuck (never answering) sink.
async fn bench_stream(cfg: &Config, dir: &Path, out: &mut Summary) -> BenchResult<()> {
    use custos_crypto::seal::MasterKey;
    use custos_trail::streams::{sink_context, StreamSettings, Streams};
    let total = cfg.append_max;
    let mut lines = vec![
        "| log stream | records | seconds | records/s |".to_owned(),
        "| --- | ---: | ---: | ---: |".to_owned(),
    ];
    for (label, stuck) in [("webhook, healthy", false), ("webhook, stuck sink", true)] {
        let store = open_fresh(dir, "stream.db").await?;
        let items = Arc::new(AtomicU64::new(0));
        let url = if stuck {
            // Accepts connections and never answers.
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}/ingest", l.local_addr()?);
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((s, _)) = l.accept().await {
                    held.push(s);
                }
            });
            url
        } else {
            webhook_sink(items.clone()).await?
        };
        let master = Arc::new(MasterKey::from_text(&MasterKey::generate_text()?)?);
        let id = "lst_bench";
        let sink = serde_json::json!({"httpEndpoint": url, "httpContentFormat": "JSONARRAY"});
        let mut tx = store.begin().await?;
        tx.insert_stream(&custos_store::StreamRow {
            id: id.into(),
            name: "bench".into(),
            stream_type: "http".into(),
            status: "active".into(),
            sealed_sink: master.seal(&sink_context(id), sink.to_string().as_bytes())?,
            filters: "[]".into(),
            cursor_seq: 0,
            delivered: 0,
            last_error: None,
            last_error_at: None,
            failing_since: None,
            created_at: 0,
            updated_at: 0,
        })
        .await?;
        tx.audit(&AuditEvent::new(EventType::ConfigChanged, START_MS))
            .await?;
        tx.commit().await?;
        let streams = Streams::new(
            store.clone(),
            master,
            Arc::new(custos_domain::SystemClock),
            StreamSettings::default(),
        )?;
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let runner = tokio::spawn(streams.clone().run(stop_rx));
        let (appended, append_time) = append_run(&store, 1024, total, cfg.append_seconds).await?;
        lines.push(format!(
            "| appends, {label} | {} | {:.2} | {} |",
            thousands(appended),
            append_time.as_secs_f64(),
            thousands((appended as f64 / append_time.as_secs_f64()) as u64)
        ));
        if !stuck {
            let head = store.audit_max_seq().await?;
            let start = Instant::now();
            while store.get_stream(id).await?.cursor_seq < head {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Delivery ran during the appends too: rate over the whole window.
            let total_time = append_time + start.elapsed();
            lines.push(format!(
                "| delivered to the webhook (received {}) | {} | {:.2} | {} |",
                thousands(items.load(Ordering::Relaxed)),
                thousands(head as u64),
                total_time.as_secs_f64(),
                thousands((head as f64 / total_time.as_secs_f64()) as u64)
            ));
        }
        let _ = stop.send(true);
        let _ = runner.await;
        store.close().await;
    }
    for l in &lines {
        println!("{l}");
    }
    out.0.extend(lines);
    Ok(())
}
