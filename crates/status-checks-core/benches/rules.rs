//! Criterion micro-benchmarks of the core's hot rules: branch-pattern matching over many patterns, status
//! computation over long response histories, applicability of many checks, and token hashing.

#![allow(missing_docs, clippy::unwrap_used, reason = "a benchmark harness")]

use criterion::{Criterion, criterion_group, criterion_main};
use status_checks_core::protected_branches::{BranchPattern, ProtectedBranch};
use status_checks_core::status_checks::{
    CheckName, ExternalStatusCheck, ExternalUrl, applicable_statuses,
};
use status_checks_core::status_checks::{StatusCheckResponse, status_at_head};
use status_checks_core::users::TokenHash;
use status_checks_core::*;
use std::hint::black_box;
use std::time::Duration;

fn at(second: i64) -> Timestamp {
    chrono::DateTime::from_timestamp(1_700_000_000 + second, 0).unwrap()
}

fn sha(n: u64) -> CommitSha {
    CommitSha::parse(&format!("{n:040x}")).unwrap()
}

fn patterns() -> Vec<BranchPattern> {
    (0..100)
        .map(|i| match i % 4 {
            0 => format!("release/{i}.*"),
            1 => format!("feature/*/team-{i}"),
            2 => format!("hotfix-{i}"),
            _ => format!("*-stable-{i}"),
        })
        .map(|p| BranchPattern::new(p).unwrap())
        .collect()
}

fn history(len: usize) -> Vec<StatusCheckResponse> {
    (0..len)
        .map(|i| StatusCheckResponse {
            id: ResponseId(i as i64),
            merge_request_id: MergeRequestId(1),
            external_status_check_id: StatusCheckId(1),
            // Most answers are about older SHAs; every tenth is about the HEAD (sha 0).
            sha: sha(if i % 10 == 0 { 0 } else { i as u64 }),
            status: if i % 2 == 0 {
                CheckStatus::Failed
            } else {
                CheckStatus::Passed
            },
            created_at: at(i as i64),
            retried_at: None,
        })
        .collect()
}

fn checks(n: i64) -> Vec<ExternalStatusCheck> {
    (0..n)
        .map(|i| ExternalStatusCheck {
            id: StatusCheckId(i),
            project_id: ProjectId(1),
            name: CheckName::parse(&format!("check {i}")).unwrap(),
            external_url: ExternalUrl::from_stored(format!("https://c{i}.example.com")),
            shared_secret: None,
            protected_branches: if i % 2 == 0 {
                vec![ProtectedBranch {
                    id: ProtectedBranchId(i),
                    project_id: ProjectId(1),
                    name: BranchPattern::new("release/*").unwrap(),
                    created_at: at(0),
                    updated_at: at(0),
                }]
            } else {
                vec![]
            },
            created_at: at(0),
            updated_at: at(0),
        })
        .collect()
}

fn rules(c: &mut Criterion) {
    let patterns = patterns();
    c.bench_function("branch pattern: 100 patterns against one branch", |b| {
        b.iter(|| {
            patterns
                .iter()
                .filter(|p| p.matches(black_box("release/42.1")))
                .count()
        })
    });
    let long = BranchPattern::new("*a*b*c*d*e*f").unwrap();
    let branch = "x".repeat(200) + "abcdef";
    c.bench_function("branch pattern: 6 stars against 206 characters", |b| {
        b.iter(|| long.matches(black_box(&branch)))
    });

    let head = sha(0);
    for len in [10, 1_000, 100_000] {
        let rows = history(len);
        c.bench_function(&format!("status at HEAD over {len} responses"), |b| {
            b.iter(|| {
                status_at_head(
                    black_box(&rows),
                    &head,
                    at(0),
                    at(10),
                    Duration::from_secs(120),
                )
            })
        });
    }

    let many = checks(100);
    let mr = MergeRequestHead {
        id: MergeRequestId(1),
        target_branch: "release/1.0".into(),
        sha: head.clone(),
        head_recorded_at: at(0),
    };
    let newest: Vec<StatusCheckResponse> = history(100)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.external_status_check_id = StatusCheckId(i as i64);
            r.sha = head.clone();
            r
        })
        .collect();
    c.bench_function("statuses of 100 checks (E5's computation)", |b| {
        b.iter(|| {
            applicable_statuses(
                black_box(&many),
                &mr,
                &newest,
                at(10),
                Duration::from_secs(120),
            )
            .len()
        })
    });

    c.bench_function("token hash (SHA-256)", |b| {
        b.iter(|| TokenHash::of(black_box("glpat-abcdefghijklmnopqrstuvwxyz")))
    });
    let (a, b2) = (TokenHash::of("a"), TokenHash::of("b"));
    c.bench_function("token hash constant-time comparison", |b| {
        b.iter(|| black_box(&a).constant_time_eq(black_box(&b2)))
    });
}

criterion_group!(benches, rules);
criterion_main!(benches);
