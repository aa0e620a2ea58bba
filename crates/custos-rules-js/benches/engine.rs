//! Cost of one execution in the sandbox: the seed Rule of the product brief and the same
//! decision written as an Action, each on one reused `Sandbox`, on one thread.
//!
//! `cargo bench -p custos-rules-js` prints Markdown for BENCHMARKS.md;
//! `cargo bench -p custos-rules-js -- 5000` changes the number of timed executions per case
//! (default 20,000).
//!
//! "with prepare" calls `Sandbox::prepare()` between executions, as a host does after handing
//! a result on: the latency columns leave it out, the executions/s column counts it.

use std::error::Error;
use std::time::{Duration, Instant};

use custos_rules_js::{run_action, run_rule, Limits, Sandbox};
use serde_json::{json, Map, Value};

const SEED_RULE: &str = include_str!("../fixtures/seed-rule.js");

/// The seed Rule's decision as an Action on Custos' `access-check` trigger.
const SEED_ACTION: &str = include_str!("../fixtures/seed-action.js");

/// A row of the table: its name, what runs between executions, one execution.
type Case<'a> = (&'a str, Option<&'a dyn Fn()>, &'a dyn Fn() -> bool);

struct Stats {
    median: Duration,
    p99: Duration,
    max: Duration,
    per_second: f64,
}

/// Times `runs` calls of `once` (after a warm-up) each on its own, and the whole loop, which
/// includes `between` (called before each run) when there is one.
fn measure(
    runs: usize,
    between: Option<&dyn Fn()>,
    once: &dyn Fn() -> bool,
) -> Result<Stats, String> {
    for _ in 0..runs / 10 {
        if let Some(between) = between {
            between();
        }
        if !once() {
            return Err("a warm-up run did not decide as expected".to_owned());
        }
    }
    let mut durations = Vec::with_capacity(runs);
    let started = Instant::now();
    for _ in 0..runs {
        if let Some(between) = between {
            between();
        }
        let begun = Instant::now();
        let expected = once();
        durations.push(begun.elapsed());
        if !expected {
            return Err("a timed run did not decide as expected".to_owned());
        }
    }
    let total = started.elapsed();
    durations.sort_unstable();
    Ok(Stats {
        median: durations[runs / 2],
        p99: durations[runs * 99 / 100],
        max: durations[runs - 1],
        per_second: runs as f64 / total.as_secs_f64(),
    })
}

fn micros(duration: Duration) -> String {
    format!("{:.0} µs", duration.as_secs_f64() * 1e6)
}

fn row(case: &str, stats: &Stats) {
    println!(
        "| {case} | {} | {} | {} | {:.0} |",
        micros(stats.median),
        micros(stats.p99),
        micros(stats.max),
        stats.per_second
    );
}

fn user(roles: &[&str]) -> Value {
    json!({
        "user_id": "auth0|123",
        "email": "ada@example.com",
        "app_metadata": { "roles": roles },
        "user_metadata": {}
    })
}

fn request() -> Value {
    json!({
        "ip": "203.0.113.7", "userAgent": "test", "hostname": "id.example.com",
        "query": {}, "body": { "path": "/api/v1/patients/records" }
    })
}

fn rule_context() -> Value {
    json!({
        "clientID": "client-1",
        "clientName": "Records",
        "connection": "Username-Password-Authentication",
        "protocol": "oidc-basic-profile",
        "request": request(),
        "idToken": {},
        "accessToken": {},
        "authorization": { "roles": [] },
        "stats": { "loginsCount": 3 }
    })
}

fn action_event(roles: &[&str]) -> Value {
    json!({
        "user": user(roles),
        "client": { "client_id": "client-1", "name": "Records" },
        "request": request(),
        "authorization": { "roles": [] },
        "secrets": {}
    })
}

/// Resident set size of this process, from `/proc/self/status` (Linux only).
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn kib(bytes: u64) -> String {
    format!("{:.0} KiB", bytes as f64 / 1024.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let runs = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse::<usize>().ok())
        .unwrap_or(20_000)
        .max(100);
    let configuration = json!({});
    let context = rule_context();
    let (doctor, nurse) = (user(&["doctor"]), user(&["nurse"]));
    let (doctor_event, nurse_event) = (action_event(&["doctor"]), action_event(&["nurse"]));
    let cache = Map::new();
    let sandbox = Sandbox::new(Limits::default())?;
    let prepare = || {
        if let Err(error) = sandbox.prepare() {
            eprintln!("prepare failed: {error}");
        }
    };

    let rule_allows = || {
        run_rule(&sandbox, SEED_RULE, &doctor, &context, &configuration)
            .outcome
            .allows()
    };
    let rule_denies = || {
        !run_rule(&sandbox, SEED_RULE, &nurse, &context, &configuration)
            .outcome
            .allows()
    };
    let action_allows = || {
        run_action(&sandbox, SEED_ACTION, "access-check", &doctor_event, &cache)
            .outcome
            .allows()
    };
    let action_denies = || {
        !run_action(&sandbox, SEED_ACTION, "access-check", &nurse_event, &cache)
            .outcome
            .allows()
    };

    println!("{runs} timed executions per case, one thread, one reused sandbox\n");
    println!("| case | median | p99 | max | executions/s |");
    println!("| --- | --- | --- | --- | --- |");
    let cases: [Case; 8] = [
        ("seed Rule, doctor (allowed)", None, &rule_allows),
        ("seed Rule, nurse (denied)", None, &rule_denies),
        (
            "seed Rule, doctor, with prepare",
            Some(&prepare),
            &rule_allows,
        ),
        (
            "seed Rule, nurse, with prepare",
            Some(&prepare),
            &rule_denies,
        ),
        ("seed Action, doctor (allowed)", None, &action_allows),
        ("seed Action, nurse (denied)", None, &action_denies),
        (
            "seed Action, doctor, with prepare",
            Some(&prepare),
            &action_allows,
        ),
        (
            "seed Action, nurse, with prepare",
            Some(&prepare),
            &action_denies,
        ),
    ];
    for (case, between, once) in cases {
        row(case, &measure(runs, between, once)?);
    }
    let stats = measure(
        runs,
        Some(&|| {
            rule_allows();
        }),
        &|| sandbox.prepare().is_ok(),
    )?;
    row("`prepare()` alone (after a seed Rule run)", &stats);

    println!();
    rule_allows();
    let after_run = sandbox.heap_bytes();
    prepare();
    println!(
        "engine heap of the sandbox: {} right after an execution (its garbage not yet \
         collected), {} after `prepare()` (collected, next context made)",
        kib(after_run),
        kib(sandbox.heap_bytes())
    );
    drop(sandbox);

    // Resident memory of many idle sandboxes, each after one execution and a prepare.
    let count = 200;
    let before = resident_bytes();
    let mut sandboxes = Vec::with_capacity(count);
    for _ in 0..count {
        let sandbox = Sandbox::new(Limits::default())?;
        if !run_rule(&sandbox, SEED_RULE, &doctor, &context, &configuration)
            .outcome
            .allows()
        {
            return Err("the seed rule did not allow".into());
        }
        sandbox.prepare()?;
        sandboxes.push(sandbox);
    }
    let after = resident_bytes();
    let heap: u64 = sandboxes.iter().map(Sandbox::heap_bytes).sum();
    println!(
        "per idle sandbox with a prepared context ({count} sandboxes): engine heap {}",
        kib(heap / count as u64)
    );
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "per idle sandbox with a prepared context ({count} sandboxes): resident memory {}",
            kib(after.saturating_sub(before) / count as u64)
        );
    }
    Ok(())
}
