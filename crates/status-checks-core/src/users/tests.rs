//! Use-case tests of users, tokens and authentication, against mocks of the ports.

use crate::service::fixtures::*;

fn stored_token(
    revoked: bool,
    expires_at: Option<chrono::NaiveDate>,
    scopes: Vec<TokenScope>,
) -> PersonalAccessToken {
    PersonalAccessToken {
        id: TokenId(1),
        user_id: UserId(3),
        name: "t".into(),
        scopes,
        expires_at,
        revoked,
        created_at: t0(),
        last_used_at: None,
    }
}

#[tokio::test]
async fn authentication_refuses_unknown_revoked_expired_and_mismatched_tokens() {
    let today = t0().date_naive();
    for (token, hash, expected_ok) in [
        (
            stored_token(false, None, vec![TokenScope::Api]),
            TokenHash::of("good"),
            true,
        ),
        (
            stored_token(true, None, vec![TokenScope::Api]),
            TokenHash::of("good"),
            false,
        ),
        (
            stored_token(false, Some(today), vec![TokenScope::Api]),
            TokenHash::of("good"),
            false,
        ),
        (
            stored_token(false, today.succ_opt(), vec![TokenScope::Api]),
            TokenHash::of("good"),
            true,
        ),
        (
            stored_token(false, None, vec![TokenScope::Api]),
            TokenHash::of("other"),
            false,
        ),
    ] {
        let mut mocks = Mocks::new();
        let found = TokenWithOwner {
            token: token.clone(),
            hash,
            user: user(3),
        };
        mocks
            .tokens
            .expect_find_token_by_hash()
            .returning(move |_| Ok(Some(found.clone())));
        let result = mocks.service().authenticate("good").await;
        assert_eq!(result.is_ok(), expected_ok, "{token:?}");
        if !expected_ok {
            assert_eq!(result, Err(DomainError::Unauthorized));
        }
    }
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token_by_hash()
        .returning(|_| Ok(None));
    let service = mocks.service();
    assert_eq!(
        service.authenticate("nope").await,
        Err(DomainError::Unauthorized)
    );
    assert_eq!(
        service.authenticate("").await,
        Err(DomainError::Unauthorized)
    );
}

#[tokio::test]
async fn a_read_api_token_authenticates_as_a_reader() {
    let mut mocks = Mocks::new();
    let found = TokenWithOwner {
        token: stored_token(false, None, vec![TokenScope::ReadApi]),
        hash: TokenHash::of("t"),
        user: user(3),
    };
    mocks
        .tokens
        .expect_find_token_by_hash()
        .returning(move |_| Ok(Some(found.clone())));
    let (actor, _) = mocks
        .service()
        .authenticate("t")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!actor.can_write);
    assert_eq!(actor.user_id, UserId(3));
}

#[tokio::test]
async fn only_admins_create_users_and_usernames_are_unique() {
    let input = || {
        Ok(NewUserInput {
            username: "alice".into(),
            ..Default::default()
        })
    };
    let service = Mocks::new().service();
    assert_eq!(
        service.create_user(&actor(3), input()).await,
        Err(DomainError::Forbidden)
    );

    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_create_user()
        .returning(|_| Err(RepoError::Duplicate(Duplicate::Username)));
    assert_eq!(
        mocks.service().create_user(&admin(), input()).await,
        Err(DomainError::Conflict(
            "Username has already been taken".into()
        ))
    );
    let bad = Ok(NewUserInput {
        username: "a b".into(),
        ..Default::default()
    });
    assert!(
        matches!(Mocks::new().service().create_user(&admin(), bad).await, Err(DomainError::InvalidAttributes(m)) if m.contains_key("username"))
    );
}

#[tokio::test]
async fn tokens_are_created_once_hashed_and_expire_in_the_future_only() {
    let mut mocks = Mocks::new().with_users();
    mocks
        .tokens
        .expect_create_token()
        .withf(|new| {
            new.hash == TokenHash::of("glpat-abcdefghijklmnopqrst")
                && new.scopes == vec![TokenScope::Api, TokenScope::ReadApi]
        })
        .times(1)
        .returning(|new| Ok(stored_token(false, new.expires_at, new.scopes)));
    let service = mocks.service();
    let input = |expires_at| {
        Ok(NewTokenInput {
            name: "ci".into(),
            scopes: vec![TokenScope::ReadApi, TokenScope::Api, TokenScope::Api],
            expires_at,
        })
    };
    let created = service
        .create_token(&admin(), UserId(3), input(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.raw, "glpat-abcdefghijklmnopqrst");
    let today = t0().date_naive();
    assert_eq!(
        service
            .create_token(&admin(), UserId(3), input(Some(today)))
            .await,
        Err(DomainError::BadParameters(ParamErrors::one(
            "expires_at is invalid"
        )))
    );
    assert_eq!(
        service
            .create_token(&actor(3), UserId(3), input(None))
            .await,
        Err(DomainError::Forbidden)
    );
}

#[tokio::test]
async fn someone_elses_token_looks_missing() {
    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token()
        .returning(|_| Ok(Some(stored_token(false, None, vec![TokenScope::Api]))));
    assert_eq!(
        mocks.service().revoke_token(&actor(4), TokenId(1)).await,
        Err(DomainError::NotFound(Resource::Token))
    );

    let mut mocks = Mocks::new();
    mocks
        .tokens
        .expect_find_token()
        .returning(|_| Ok(Some(stored_token(false, None, vec![TokenScope::Api]))));
    mocks
        .tokens
        .expect_revoke_token()
        .times(1)
        .returning(|_| Ok(true));
    assert_eq!(
        mocks.service().revoke_token(&actor(3), TokenId(1)).await,
        Ok(())
    );
}

#[tokio::test]
async fn bootstrap_creates_root_once() {
    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(None));
    mocks
        .users
        .expect_create_user()
        .withf(|new| new.is_admin && new.username.as_str() == "root")
        .times(1)
        .returning(|_| Ok(user(1)));
    mocks
        .tokens
        .expect_create_token()
        .withf(|new| new.hash == TokenHash::of("root-token-0123456789"))
        .times(1)
        .returning(|new| Ok(stored_token(false, None, new.scopes)));
    assert_eq!(
        mocks
            .service()
            .bootstrap_root("root-token-0123456789")
            .await,
        Ok(true)
    );

    let mut mocks = Mocks::new();
    mocks
        .users
        .expect_find_user_by_username()
        .returning(|_| Ok(Some(user(1))));
    assert_eq!(
        mocks
            .service()
            .bootstrap_root("root-token-0123456789")
            .await,
        Ok(false)
    );
}
