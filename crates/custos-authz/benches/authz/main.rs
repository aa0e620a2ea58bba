//! Authorization benchmark on the hospital data set of `shared/bench-authz` (same generator,
//! seed 42): RBAC checks with string ids, 3-hop relationship checks, list-objects latency,
//! memory for the 990k tuples, load time, and check cost at 10k / 100k / 1M tuples.
//!
//! Every measured answer is compared with the expected one (wrong answers abort the run), and
//! a sample of checks is compared with the data set's reference functions first.
//!
//! Relationship checks are timed through `check_fast` (no reasons); one line also times
//! `check` (reasons on allowed answers). RBAC checks are `RbacIndex::check`.
//!
//! Arguments (after `--`): `--secs S` per throughput measurement (default 2).

mod hospital;

use custos_authz::{
    check, check_fast, list_objects, AuthorizationModel, CheckRequest, RbacIndex, TupleKey,
    TupleStore,
};
use hospital::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn rss_mib() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Calls `f(i)` over the request indices (cycling) for about `secs`; every answer must be
/// `expect`. Returns calls per second.
fn throughput(n: usize, secs: f64, expect: bool, f: &dyn Fn(usize) -> bool) -> f64 {
    // Warm-up, and calibration of how many calls go between clock reads (~1 ms).
    let t0 = Instant::now();
    let mut calls = 0usize;
    while t0.elapsed() < Duration::from_secs_f64(secs / 4.0) {
        assert_eq!(
            f(calls % n),
            expect,
            "wrong answer for request {}",
            calls % n
        );
        calls += 1;
    }
    let chunk = ((calls as f64 / (secs / 4.0) / 1000.0) as usize).clamp(1, 8192);
    let start = Instant::now();
    let (mut i, mut ops, mut wrong) = (0usize, 0u64, 0u64);
    loop {
        for _ in 0..chunk {
            wrong += u64::from(black_box(f(black_box(i))) != expect);
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        ops += chunk as u64;
        let el = start.elapsed().as_secs_f64();
        if el >= secs {
            assert_eq!(wrong, 0, "{wrong} wrong answers");
            return ops as f64 / el;
        }
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M/s", r / 1e6)
    } else {
        format!("{:.0}k/s", r / 1e3)
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn load_store(d: &Data) -> (TupleStore, f64) {
    let t = Instant::now();
    let mut s = TupleStore::new();
    let n = s.extend(d.tuples());
    s.shrink_to_fit();
    assert_eq!(n, d.tuple_count());
    (s, t.elapsed().as_secs_f64())
}

/// String requests for the view check: (user, object).
fn view_strings(d: &Data, allow: bool) -> Vec<(String, String)> {
    d.view_requests(allow, N_REQ, 11 + u64::from(allow))
        .into_iter()
        .map(|(u, p)| (subject(u), patient(p)))
        .collect()
}

fn view_rate(
    m: &AuthorizationModel,
    s: &TupleStore,
    reqs: &[(String, String)],
    allow: bool,
    secs: f64,
) -> f64 {
    let f = |i: usize| {
        let (u, o) = &reqs[i];
        let r = CheckRequest {
            user: u,
            relation: "viewer",
            object: o,
            contextual: &[],
        };
        check_fast(m, s, &r) == Ok(true)
    };
    throughput(reqs.len(), secs, allow, &f)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0)
        .clamp(0.1, 60.0);
    // `--only view`: just the relationship-check throughput (for profiling).
    let only_view = args.windows(2).any(|w| w[0] == "--only" && w[1] == "view");
    // `--div N`: with `--only view`, the data set at 1/N size (the curve's scales).
    let div = args
        .iter()
        .position(|a| a == "--div")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);

    println!("# custos-authz benchmark (1 thread, release; {secs} s per throughput figure)");
    let rss_start = rss_mib();
    let t = Instant::now();
    let d = Data::generate(if only_view {
        Sizes::scaled(div)
    } else {
        Sizes::FULL
    });
    println!(
        "data set: {} users, {} roles, {} grants, {} groups, {} care teams, {} patients, {} tuples (generated in {:.2} s)",
        d.sizes.users,
        d.sizes.roles,
        d.role_perms.iter().map(Vec::len).sum::<usize>(),
        d.sizes.groups,
        d.sizes.teams,
        d.sizes.patients,
        d.tuple_count(),
        t.elapsed().as_secs_f64()
    );
    let model = match AuthorizationModel::from_json(&model_json()) {
        Ok(m) => m,
        Err(e) => panic!("hospital model: {e}"),
    };

    if only_view {
        let (store, _) = load_store(&d);
        let a = view_strings(&d, true);
        // Small scales have no denied doctors: use the curve's denied requests there.
        let b = if div == 1 {
            view_strings(&d, false)
        } else {
            d.curve_deny_requests(N_REQ, 13)
                .into_iter()
                .map(|(u, p)| (subject(u), patient(p)))
                .collect()
        };
        let ra = view_rate(&model, &store, &a, true, secs);
        let rb = view_rate(&model, &store, &b, false, secs);
        println!(
            "viewer allow (3-hop): {}   viewer deny: {}   [check_fast]",
            fmt_rate(ra),
            fmt_rate(rb)
        );
        return;
    }

    // ---- RBAC ----------------------------------------------------------------------------
    let rss0 = rss_mib();
    let t = Instant::now();
    let mut rbac = RbacIndex::new();
    for (r, perms) in d.role_perms.iter().enumerate() {
        let name = role_name(r as u32);
        for &p in perms {
            rbac.grant_role(&name, AUDIENCE, &perm_name(p));
        }
    }
    for (u, roles) in d.user_roles.iter().enumerate() {
        let id = user_id(u as u32);
        for &r in roles {
            rbac.assign(&id, &role_name(r), None);
        }
    }
    println!(
        "rbac load: {} users, {} roles in {:.2} s, RSS +{:.1} MiB",
        rbac.user_count(),
        rbac.role_count(),
        t.elapsed().as_secs_f64(),
        rss_mib() - rss0
    );
    // Correctness on a sample, against the reference.
    let mut rng = Rng::new(99);
    for _ in 0..20_000 {
        let (u, p) = (rng.below(d.sizes.users), rng.below(RESOURCES * ACTIONS));
        let got = rbac
            .check(&user_id(u), &perm_name(p), Some(AUDIENCE), None)
            .is_some();
        assert_eq!(got, d.rbac_ref(u, p), "rbac user {u} perm {p}");
    }
    for allow in [true, false] {
        let reqs: Vec<(String, String)> = d
            .rbac_requests(allow, N_REQ, 7 + u64::from(allow))
            .into_iter()
            .map(|(u, p)| (user_id(u), perm_name(p)))
            .collect();
        let with_aud = |i: usize| {
            rbac.check(&reqs[i].0, &reqs[i].1, Some(AUDIENCE), None)
                .is_some()
        };
        let any_aud = |i: usize| rbac.check(&reqs[i].0, &reqs[i].1, None, None).is_some();
        let a = throughput(reqs.len(), secs, allow, &with_aud);
        let b = throughput(reqs.len(), secs, allow, &any_aud);
        println!(
            "rbac {:5}: {} (audience given), {} (any audience)  [string user id + permission name]",
            if allow { "allow" } else { "deny" },
            fmt_rate(a),
            fmt_rate(b)
        );
    }
    drop(rbac);

    // ---- tuples: load, memory --------------------------------------------------------------
    let rss0 = rss_mib();
    let (store, load_s) = load_store(&d);
    let rss1 = rss_mib();
    println!(
        "tuple load: {} tuples, {} objects in {:.2} s (bulk extend); RSS +{:.1} MiB ({:.0} bytes/tuple)",
        store.len(),
        store.object_count(),
        load_s,
        rss1 - rss0,
        (rss1 - rss0) * 1024.0 * 1024.0 / store.len() as f64
    );
    let t = Instant::now();
    let mut one_by_one = TupleStore::new();
    let mut k = 0usize;
    for tk in d.tuples().take(200_000) {
        k += usize::from(one_by_one.insert(&tk));
    }
    println!(
        "tuple insert one by one: {} tuples in {:.2} s ({})",
        k,
        t.elapsed().as_secs_f64(),
        fmt_rate(k as f64 / t.elapsed().as_secs_f64())
    );
    drop(one_by_one);

    // ---- correctness sample ----------------------------------------------------------------
    let mut rng = Rng::new(123);
    let mut allowed = 0;
    for i in 0..30_000 {
        // Half random pairs, half clinicians against random patients.
        let u = if i % 2 == 0 {
            rng.below(d.sizes.users)
        } else {
            rng.below(d.sizes.clinicians)
        };
        let p = rng.below(d.sizes.patients);
        let (us, ps) = (subject(u), patient(p));
        let r = CheckRequest {
            user: &us,
            relation: "viewer",
            object: &ps,
            contextual: &[],
        };
        let want = d.viewer_ref(u, p);
        assert_eq!(check_fast(&model, &store, &r), Ok(want), "viewer {us} {ps}");
        allowed += usize::from(want);
    }
    for (u, p) in d.view_requests(true, 2_000, 5) {
        let (us, ps) = (subject(u), patient(p));
        let r = CheckRequest {
            user: &us,
            relation: "viewer",
            object: &ps,
            contextual: &[],
        };
        assert_eq!(check_fast(&model, &store, &r), Ok(true));
        assert_eq!(
            check(&model, &store, &r).map(|o| o.reasons.len()),
            Ok(3),
            "3-hop chain for {us} {ps}"
        );
    }
    println!("correctness: 30000 sampled viewer checks ({allowed} allowed) and 2000 3-hop checks match the reference");

    // ---- 3-hop relationship checks ---------------------------------------------------------
    let allow_reqs = view_strings(&d, true);
    let deny_reqs = view_strings(&d, false);
    let a = view_rate(&model, &store, &allow_reqs, true, secs);
    let b = view_rate(&model, &store, &deny_reqs, false, secs);
    println!(
        "viewer allow (3-hop): {}   viewer deny: {}   [check_fast]",
        fmt_rate(a),
        fmt_rate(b)
    );
    let with_reasons = |i: usize| {
        let (u, o) = &allow_reqs[i];
        let r = CheckRequest {
            user: u,
            relation: "viewer",
            object: o,
            contextual: &[],
        };
        check(&model, &store, &r).is_ok_and(|o| o.allowed)
    };
    println!(
        "viewer allow (3-hop) with reasons: {}   [check]",
        fmt_rate(throughput(
            allow_reqs.len(),
            secs / 2.0,
            true,
            &with_reasons
        ))
    );
    let ctx = [TupleKey::new(
        allow_reqs[0].0.clone(),
        "treating_doctor",
        "patient:0",
    )];
    let contextual = |i: usize| {
        let (u, o) = &allow_reqs[i];
        let r = CheckRequest {
            user: u,
            relation: "viewer",
            object: o,
            contextual: &ctx,
        };
        check_fast(&model, &store, &r) == Ok(true)
    };
    println!(
        "viewer allow (3-hop) with 1 contextual tuple: {}   [check_fast]",
        fmt_rate(throughput(allow_reqs.len(), secs / 2.0, true, &contextual))
    );

    // ---- list-objects ----------------------------------------------------------------------
    // A dedicated doctor: treating doctor of every 200th patient, direct member of care
    // teams 0 and 1, and member of a new group placed on care team 2.
    let doc = "user:auth0|dedicated-doctor";
    let mut store = store;
    let mut extra = Vec::new();
    for p in (0..d.sizes.patients).step_by(200) {
        extra.push(TupleKey::new(doc, "treating_doctor", patient(p)));
    }
    extra.push(TupleKey::new(doc, "member", "care_team:0"));
    extra.push(TupleKey::new(doc, "member", "care_team:1"));
    extra.push(TupleKey::new(doc, "member", "group:dedicated"));
    extra.push(TupleKey::new(
        "group:dedicated#member",
        "member",
        "care_team:2",
    ));
    for t in &extra {
        store.insert(t);
    }
    let mut want: Vec<String> = (0..d.sizes.patients)
        .filter(|&p| p % 200 == 0 || d.patient_teams[p as usize].iter().any(|&t| t <= 2))
        .map(patient)
        .collect();
    want.sort();
    let time_list = |user: &str, page: usize| {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..21 {
            let t = Instant::now();
            let r = list_objects(&model, &store, user, "viewer", "patient", &[], page, None);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            n = r.map(|p| p.objects.len()).unwrap_or(0);
        }
        (
            n,
            median(&mut times),
            times.iter().copied().fold(0.0, f64::max),
        )
    };
    let all =
        list_objects(&model, &store, doc, "viewer", "patient", &[], 0, None).map(|p| p.objects);
    assert_eq!(all.as_ref().map(Vec::len), Ok(want.len()));
    assert_eq!(all, Ok(want));
    let (n, med, max) = time_list(doc, 0);
    println!("list-objects, dedicated doctor ({n} patients, one page): median {med:.2} ms, max {max:.2} ms");
    let (n, med, max) = time_list(doc, 100);
    println!(
        "list-objects, dedicated doctor (first page of {n}): median {med:.2} ms, max {max:.2} ms"
    );
    // A typical clinician of the data set, checked against the reference.
    let u0 = subject(0);
    let mut want0: Vec<String> = (0..d.sizes.patients)
        .filter(|&p| d.viewer_ref(0, p))
        .map(patient)
        .collect();
    want0.sort();
    let got0 =
        list_objects(&model, &store, &u0, "viewer", "patient", &[], 0, None).map(|p| p.objects);
    assert_eq!(got0, Ok(want0));
    let (n, med, max) = time_list(&u0, 0);
    println!("list-objects, data-set clinician 0 ({n} patients, one page): median {med:.2} ms, max {max:.2} ms");

    // ---- flat-cost curve -------------------------------------------------------------------
    // Each point: the data set generated at 1/100, 1/10 and full size (same fan-outs, so the
    // same work per check), 3-hop allowed requests and full-walk denied requests.
    println!("check cost by store size (same fan-out per check):");
    println!(
        "  {:>9}  {:>12}  {:>12}  {:>8}",
        "tuples", "3-hop allow", "full deny", "load s"
    );
    let curve_secs = (secs / 2.0).max(0.2);
    drop(store);
    for div in [100u32, 10, 1] {
        let ds = Data::generate(Sizes::scaled(div));
        let (s, ls) = load_store(&ds);
        let ar = view_strings(&ds, true);
        let dr: Vec<(String, String)> = ds
            .curve_deny_requests(N_REQ, 13)
            .into_iter()
            .map(|(u, p)| (subject(u), patient(p)))
            .collect();
        let a = view_rate(&model, &s, &ar, true, curve_secs);
        let b = view_rate(&model, &s, &dr, false, curve_secs);
        println!(
            "  {:>9}  {:>12}  {:>12}  {:>8.2}",
            s.len(),
            fmt_rate(a),
            fmt_rate(b),
            ls
        );
    }
    println!(
        "process RSS at end: {:.0} MiB (start {:.0} MiB)",
        rss_mib(),
        rss_start
    );
}
