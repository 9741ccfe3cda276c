//! Contract of the users and tokens ports (`UserRepository`, `TokenRepository`): users round-trip with
//! usernames unique without regard to case; tokens are found by hash with their owner, revoked at once, and
//! removed with their user.

use super::fixtures::*;
use crate::error::{Duplicate, RepoError};
use crate::ids::*;
use crate::service::Ports;
use crate::users::{NewToken, TokenHash, TokenScope};
use crate::users::{NewUser, User, Username};

/// Users: create, read back exactly, usernames unique without regard to case, filter, paginate, delete.
pub async fn users_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    assert_eq!(alice.username.as_str(), "alice");
    assert_eq!(alice.created_at, at(1), "times keep millisecond precision");
    assert_eq!(
        ok(ports.users.find_user(alice.id).await, "find").as_ref(),
        Some(&alice)
    );
    assert_eq!(
        ok(ports.users.find_user_by_username("alice").await, "by name").as_ref(),
        Some(&alice)
    );
    assert_eq!(
        ok(
            ports.users.find_user_by_username("ALICE").await,
            "by name, other case"
        )
        .as_ref(),
        Some(&alice)
    );
    // Case is folded for ASCII letters only: no other letter stands for one (the KELVIN SIGN is not `k`).
    let kay = user(ports, "k").await;
    assert_eq!(
        ok(ports.users.find_user_by_username("K").await, "ASCII case").map(|u| u.id),
        Some(kay.id)
    );
    assert_eq!(
        ok(
            ports.users.find_user_by_username("\u{212A}").await,
            "KELVIN SIGN"
        ),
        None
    );
    assert_eq!(
        ok(
            ports
                .users
                .list_users(Some("\u{212A}".into()), page(1, 20))
                .await,
            "filter by KELVIN SIGN"
        )
        .total,
        0
    );
    ok(ports.users.delete_user(kay.id).await, "delete k");
    let taken = NewUser {
        username: Username::new("Alice").unwrap_or_else(|_| panic!()),
        name: "x".into(),
        email: None,
        is_admin: true,
        created_at: at(1),
    };
    assert_eq!(
        ports.users.create_user(taken).await,
        Err(RepoError::Duplicate(Duplicate::Username))
    );

    let bob = user(ports, "bob").await;
    let carol = user(ports, "carol").await;
    let all = ok(ports.users.list_users(None, page(1, 2)).await, "list");
    assert_eq!(all.total, 3);
    assert_eq!(
        all.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![alice.id, bob.id]
    );
    let second = ok(ports.users.list_users(None, page(2, 2)).await, "page 2");
    assert_eq!(
        second.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![carol.id]
    );
    let only_bob = ok(
        ports
            .users
            .list_users(Some("bob".into()), page(1, 20))
            .await,
        "filter",
    );
    assert_eq!((only_bob.total, only_bob.items.len()), (1, 1));

    deletes_once("delete", || ports.users.delete_user(bob.id)).await;
    assert_eq!(
        ok(ports.users.find_user(bob.id).await, "find deleted"),
        None
    );
    assert_eq!(
        ok(ports.users.find_user(UserId(999_999)).await, "find unknown"),
        None
    );
}

/// Tokens: stored by hash, found with their owner, listed per user, revoked, removed with their user.
pub async fn tokens_round_trip(ports: &Ports) {
    let alice = user(ports, "alice").await;
    let bob = user(ports, "bob").await;
    let new = |owner: &User, raw: &str, scopes: Vec<TokenScope>| NewToken {
        user_id: owner.id,
        name: format!("{raw} token"),
        hash: TokenHash::of(raw),
        scopes,
        expires_at: chrono::NaiveDate::from_ymd_opt(2030, 1, 2),
        created_at: at(7),
    };
    let a = ok(
        ports
            .tokens
            .create_token(new(
                &alice,
                "ta",
                vec![TokenScope::Api, TokenScope::ReadApi],
            ))
            .await,
        "create",
    );
    assert_eq!(a.scopes, vec![TokenScope::Api, TokenScope::ReadApi]);
    assert_eq!(a.expires_at, chrono::NaiveDate::from_ymd_opt(2030, 1, 2));
    assert!(!a.revoked);
    let b = ok(
        ports
            .tokens
            .create_token(new(&bob, "tb", vec![TokenScope::ReadApi]))
            .await,
        "create",
    );

    let found = ok(
        ports.tokens.find_token_by_hash(&TokenHash::of("ta")).await,
        "by hash",
    );
    let found = found.unwrap_or_else(|| panic!("token by hash"));
    assert_eq!(
        (found.token.clone(), found.hash.clone(), found.user.id),
        (a.clone(), TokenHash::of("ta"), alice.id)
    );
    assert_eq!(
        ok(
            ports
                .tokens
                .find_token_by_hash(&TokenHash::of("nope"))
                .await,
            "unknown hash"
        ),
        None
    );

    let alices = ok(
        ports.tokens.list_tokens(Some(alice.id), page(1, 20)).await,
        "list own",
    );
    assert_eq!(alices.items, vec![a.clone()]);
    assert_eq!(
        ok(
            ports.tokens.list_tokens(None, page(1, 20)).await,
            "list all"
        )
        .total,
        2
    );

    assert!(ok(ports.tokens.revoke_token(a.id).await, "revoke"));
    assert!(ok(ports.tokens.find_token(a.id).await, "find").is_some_and(|t| t.revoked));
    let after = ok(
        ports.tokens.find_token_by_hash(&TokenHash::of("ta")).await,
        "by hash after revoking",
    );
    assert!(
        after.is_some_and(|f| f.token.revoked),
        "a revoked token is seen revoked at once"
    );
    assert!(!ok(
        ports.tokens.revoke_token(TokenId(999_999)).await,
        "revoke unknown"
    ));

    assert!(
        ok(
            ports.tokens.find_token_by_hash(&TokenHash::of("tb")).await,
            "bob's token"
        )
        .is_some()
    );
    assert!(ok(ports.users.delete_user(bob.id).await, "delete owner"));
    assert_eq!(
        ok(ports.tokens.find_token(b.id).await, "token of deleted user"),
        None
    );
    assert_eq!(
        ok(
            ports.tokens.find_token_by_hash(&TokenHash::of("tb")).await,
            "by hash, owner deleted"
        ),
        None
    );
}
