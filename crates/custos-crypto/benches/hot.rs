//! `cargo bench -p custos-crypto`: the cost of the hot cryptographic functions on this machine
//! (signing per algorithm, verification, one argon2id hash). Plain timing loops, medians of
//! several rounds; figures go to BENCHMARKS.md, never into assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use custos_crypto::jws::{Alg, SigningKey, UnverifiedJwt};
use serde_json::json;

fn median_per_op(rounds: usize, ops: u32, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ops {
                f();
            }
            start.elapsed() / ops
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let claims = json!({
        "iss": "https://custos.example/", "sub": "client@clients", "aud": "urn:bench:api",
        "iat": 1_800_000_000, "exp": 1_800_086_400, "scope": "read:charts write:charts",
        "azp": "client", "jti": "abcdefghijklmnopqrstuv", "gty": "client-credentials"
    });
    for alg in Alg::ALL {
        let key = SigningKey::generate(alg, "bench").unwrap();
        let ops = if alg == Alg::RS256 { 200 } else { 2_000 };
        let sign = median_per_op(5, ops, || {
            black_box(key.sign_jwt(black_box(&claims)).unwrap());
        });
        let token = key.sign_jwt(&claims).unwrap();
        let verify = median_per_op(5, 2_000, || {
            black_box(
                UnverifiedJwt::parse(&token)
                    .unwrap()
                    .verify(key.verifier())
                    .unwrap(),
            );
        });
        println!(
            "{:<6} sign {:>8.1} µs   verify {:>6.1} µs",
            alg.as_str(),
            sign.as_secs_f64() * 1e6,
            verify.as_secs_f64() * 1e6
        );
    }
    let phc = custos_crypto::password::hash("correct horse battery staple").unwrap();
    let verify = median_per_op(5, 10, || {
        black_box(custos_crypto::password::verify(
            "correct horse battery staple",
            &phc,
        ));
    });
    println!(
        "argon2id verify (m=19456, t=2, p=1), fresh memory {:>6.2} ms",
        verify.as_secs_f64() * 1e3
    );
    let mut memory = custos_crypto::password::Memory::new();
    let warm = median_per_op(5, 10, || {
        black_box(custos_crypto::password::verify_with(
            "correct horse battery staple",
            &phc,
            &mut memory,
        ));
    });
    println!(
        "argon2id verify (m=19456, t=2, p=1), warm memory  {:>6.2} ms",
        warm.as_secs_f64() * 1e3
    );
}
