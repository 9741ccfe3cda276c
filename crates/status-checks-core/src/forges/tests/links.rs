//! The link's rules (required parameters, bad values, the allowlist, updates, hidden credentials) and who
//! may manage it; our own merge request writes on a linked project.

use super::link;
use crate::forges::*;
use crate::service::fixtures::*;
use crate::ssrf::OutboundAllowlist;
use crate::status_checks::UrlPolicy;

fn full_input() -> ForgeLinkInput {
    ForgeLinkInput {
        forge: Some("gitlab".into()),
        api_url: Some("https://gitlab.example.com/api/v4/".into()),
        repository: Some("group/project".into()),
        token: Some("glpat-forge-token".into()),
        webhook_secret: Some("a-webhook-secret-123".into()),
        status_name: None,
        per_check_statuses: None,
    }
}

fn policy() -> UrlPolicy {
    UrlPolicy::default()
}

#[test]
fn a_new_link_needs_every_required_parameter() {
    let err = link_from(
        ProjectId(5),
        None,
        ForgeLinkInput::default(),
        UserId(1),
        t0(),
        &policy(),
    );
    assert_eq!(
        err,
        Err(DomainError::BadParameters(ParamErrors(vec![
            "forge is missing".into(),
            "api_url is missing".into(),
            "repository is missing".into(),
            "token is missing".into(),
            "webhook_secret is missing".into(),
        ])))
    );
    let made = link_from(ProjectId(5), None, full_input(), UserId(3), t0(), &policy())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(made.api_url, "https://gitlab.example.com/api/v4");
    assert_eq!(made.status_name, DEFAULT_STATUS_NAME);
    assert!(made.per_check_statuses);
    assert_eq!(made.author_id, UserId(3));
}

#[test]
fn bad_values_are_400_then_422() {
    let bad_forge = ForgeLinkInput {
        forge: Some("bitbucket".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(ProjectId(5), None, bad_forge, UserId(1), t0(), &policy()),
        Err(DomainError::BadParameters(ParamErrors(vec![
            "forge does not have a valid value".into()
        ])))
    );
    let bad_repository = ForgeLinkInput {
        repository: Some("just-a-name".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(
            ProjectId(5),
            None,
            bad_repository,
            UserId(1),
            t0(),
            &policy()
        ),
        Err(DomainError::BadParameters(ParamErrors(vec![
            "repository is invalid".into()
        ])))
    );
    let several = ForgeLinkInput {
        api_url: Some("http://127.0.0.1/api/v4".into()),
        webhook_secret: Some("short".into()),
        status_name: Some("a/b".into()),
        ..full_input()
    };
    assert_eq!(
        link_from(ProjectId(5), None, several, UserId(1), t0(), &policy()),
        Err(invalid(&[
            "Api url is blocked: Requests to loopback addresses are not allowed",
            "Webhook secret is too short (minimum is 16 characters)",
            "Status name is invalid",
        ]))
    );
}

#[test]
fn the_allowlist_admits_a_named_local_forge() {
    let local = ForgeLinkInput {
        api_url: Some("http://10.1.2.3/api/v4".into()),
        ..full_input()
    };
    let allowing = UrlPolicy {
        allow_local_requests: false,
        allowlist: OutboundAllowlist::parse("10.1.0.0/16").unwrap_or_default(),
    };
    assert!(
        link_from(
            ProjectId(5),
            None,
            local.clone(),
            UserId(1),
            t0(),
            &allowing
        )
        .is_ok()
    );
    assert!(link_from(ProjectId(5), None, local, UserId(1), t0(), &policy()).is_err());
}

#[test]
fn an_update_keeps_what_is_not_sent() {
    let existing = link();
    let update = ForgeLinkInput {
        status_name: Some("gate".into()),
        ..ForgeLinkInput::default()
    };
    let now = t0() + TimeDelta::seconds(5);
    let updated = link_from(
        ProjectId(5),
        Some(&existing),
        update,
        UserId(9),
        now,
        &policy(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated.token, existing.token);
    assert_eq!(updated.webhook_secret, existing.webhook_secret);
    assert_eq!(updated.repository, existing.repository);
    assert_eq!(updated.status_name, "gate");
    assert_eq!(
        updated.author_id, existing.author_id,
        "the linker stays the author"
    );
    assert_eq!(updated.created_at, existing.created_at);
    assert_eq!(updated.updated_at, now);
}

#[test]
fn an_input_never_prints_its_credentials() {
    let printed = format!("{:?}", full_input());
    assert!(!printed.contains("glpat-forge-token"), "{printed}");
    assert!(!printed.contains("a-webhook-secret-123"), "{printed}");
    assert!(!format!("{:?}", link()).contains("glpat-forge-token"));
}

#[tokio::test]
async fn managing_the_link_takes_a_maintainer() {
    for level in [AccessLevel::Reporter, AccessLevel::Developer] {
        let service = Mocks::member(level).service();
        assert_eq!(
            service.get_forge_link(&actor(2), &here()).await,
            Err(DomainError::Forbidden)
        );
        assert_eq!(
            service
                .put_forge_link(&actor(2), &here(), Ok(full_input()))
                .await
                .map(|_| ()),
            Err(DomainError::Forbidden)
        );
    }
    let service = Mocks::new().with_project(project(false), None).service();
    assert_eq!(
        service.get_forge_link(&actor(2), &here()).await,
        Err(DomainError::ProjectNotFound)
    );
    let service = Mocks::member(AccessLevel::Maintainer).service();
    assert_eq!(
        service.get_forge_link(&actor(2), &here()).await,
        Err(DomainError::NotFound(Resource::Forge))
    );
}

#[tokio::test]
async fn creating_a_link_saves_it_and_asks_for_a_sync() {
    let mut mocks = Mocks::member(AccessLevel::Maintainer);
    mocks
        .forges
        .expect_save_link()
        .withf(|link, sync| *sync && link.repository == "group/project")
        .times(1)
        .returning(|link, _| Ok(link));
    let (view, created) = mocks
        .service()
        .put_forge_link(&actor(2), &here(), Ok(full_input()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(created);
    assert_eq!(
        view.webhook_url,
        "http://sc.test/api/v4/projects/5/forge/webhook"
    );
}

#[tokio::test]
async fn our_own_merge_request_writes_are_refused_on_a_linked_project() {
    let mut mocks = Mocks::member(AccessLevel::Developer);
    mocks.link = Some(link());
    let input = NewMergeRequestInput {
        source_branch: "f".into(),
        target_branch: "main".into(),
        title: "t".into(),
        sha: sha(HEAD),
        description: None,
    };
    assert_eq!(
        mocks
            .service()
            .create_merge_request(&actor(2), &here(), Ok(input))
            .await
            .map(|_| ()),
        Err(DomainError::Unprocessable(
            "Merge requests of this project are mirrored from its forge".into()
        ))
    );
}
