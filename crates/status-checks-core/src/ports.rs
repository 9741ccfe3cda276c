//! Ports: what the core needs from the outside world, as `async-trait` traits that adapters implement.
//!
//! Every method is one storage transaction. Where the contract needs atomicity, one method does all of it:
//! creating a project makes its creator Owner; creating or updating a merge request, or retrying a check,
//! also records the deliveries it causes ([`DeliveryDraft`]s, rendered by the store against the row it wrote);
//! member changes refuse, inside the transaction, to leave a project without an Owner.
//!
//! Errors are [`RepoError`]s; adapters translate their own errors at this boundary. With the `mock` feature
//! (and in this crate's tests) every trait has a `mockall` mock: `MockUserRepository`, ….

use crate::Timestamp;
use crate::access::AccessLevel;
use crate::deliveries::{Attempt, Delivery, DeliveryDraft};
use crate::error::RepoError;
use crate::forges::{
    ForgeLink, ForgeStatus, MirrorDetails, MirrorOutcome, MirrorWrite, NewForgeStatus, PostedKey,
    StatusAttempt, StatusDraft,
};
use crate::ids::CommitSha;
use crate::ids::*;
use crate::members::Member;
use crate::merge_requests::{
    MergeRequest, MergeRequestChanges, MergeRequestHead, MergeRequestState, NewMergeRequest,
};
use crate::pagination::{Page, PageRequest};
use crate::projects::{NewProject, Project, ProjectRef, ProjectUpdate};
use crate::protected_branches::{BranchPattern, ProtectedBranch};
use crate::status_checks::{ExternalStatusCheck, NewStatusCheck, SharedSecret, StatusCheckUpdate};
use crate::status_checks::{NewResponse, ResponseDetails, StatusCheckResponse};
use crate::users::{NewToken, PersonalAccessToken, TokenHash};
use crate::users::{NewUser, User};
use async_trait::async_trait;

/// A port call's result.
pub type RepoResult<T> = Result<T, RepoError>;

/// Users.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Creates a user; `Duplicate(Username)` if the username is taken.
    async fn create_user(&self, new: NewUser) -> RepoResult<User>;
    /// The user with this id.
    async fn find_user(&self, id: UserId) -> RepoResult<Option<User>>;
    /// The user with this username; usernames are unique and matched without regard to case.
    async fn find_user_by_username(&self, username: &str) -> RepoResult<Option<User>>;
    /// Users by id ascending, optionally only the one with this username.
    async fn list_users(
        &self,
        username: Option<String>,
        page: PageRequest,
    ) -> RepoResult<Page<User>>;
    /// Deletes a user with their tokens and memberships; false if there was none.
    async fn delete_user(&self, id: UserId) -> RepoResult<bool>;
}

/// A token found by its hash, with its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenWithOwner {
    /// The token.
    pub token: PersonalAccessToken,
    /// Its stored hash.
    pub hash: TokenHash,
    /// Its owner.
    pub user: User,
}

/// Personal access tokens.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenRepository: Send + Sync {
    /// Stores a token (its hash only).
    async fn create_token(&self, new: NewToken) -> RepoResult<PersonalAccessToken>;
    /// The token with this hash and its owner, whatever its state.
    async fn find_token_by_hash(&self, hash: &TokenHash) -> RepoResult<Option<TokenWithOwner>>;
    /// The token with this id.
    async fn find_token(&self, id: TokenId) -> RepoResult<Option<PersonalAccessToken>>;
    /// Tokens by id ascending, of one user or (`None`) of everyone.
    async fn list_tokens(
        &self,
        user: Option<UserId>,
        page: PageRequest,
    ) -> RepoResult<Page<PersonalAccessToken>>;
    /// Marks a token revoked; false if there was none.
    async fn revoke_token(&self, id: TokenId) -> RepoResult<bool>;
}

/// Projects.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProjectRepository: Send + Sync {
    /// Creates a project and makes `owner` its Owner; `Duplicate(ProjectPath)` if the full path is taken (in
    /// any case).
    async fn create_project(&self, new: NewProject, owner: UserId) -> RepoResult<Project>;
    /// The project named by `reference` (an id, or a full path matched without regard to case) and `user`'s
    /// access level in it (`None` if not a member): what every project-scoped request needs, in one call.
    async fn find_project_with_access(
        &self,
        reference: &ProjectRef,
        user: UserId,
    ) -> RepoResult<Option<(Project, Option<AccessLevel>)>>;
    /// Projects by id ascending: those `member` belongs to, or (`None`) all.
    async fn list_projects(
        &self,
        member: Option<UserId>,
        page: PageRequest,
    ) -> RepoResult<Page<Project>>;
    /// Changes a project; `NotFound` if it is gone.
    async fn update_project(
        &self,
        id: ProjectId,
        update: ProjectUpdate,
        updated_at: Timestamp,
    ) -> RepoResult<Project>;
    /// Deletes a project and everything in it; false if there was none.
    async fn delete_project(&self, id: ProjectId) -> RepoResult<bool>;
}

/// Project members.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MemberRepository: Send + Sync {
    /// Members by user id ascending.
    async fn list_members(&self, project: ProjectId, page: PageRequest)
    -> RepoResult<Page<Member>>;
    /// One member.
    async fn find_member(&self, project: ProjectId, user: UserId) -> RepoResult<Option<Member>>;
    /// Adds a member; `Duplicate(Member)` if already one, `NotFound` if the user does not exist.
    async fn add_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
        created_at: Timestamp,
    ) -> RepoResult<Member>;
    /// Changes a member's level; `NotFound` if not a member, `LastOwner` if it would leave no Owner.
    async fn update_member(
        &self,
        project: ProjectId,
        user: UserId,
        level: AccessLevel,
    ) -> RepoResult<Member>;
    /// Removes a member; false if not a member, `LastOwner` if it would leave no Owner.
    async fn remove_member(&self, project: ProjectId, user: UserId) -> RepoResult<bool>;
}

/// Protected branches.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ProtectedBranchRepository: Send + Sync {
    /// A project's protected branches by id ascending.
    async fn list_protected_branches(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ProtectedBranch>>;
    /// The protected branch with exactly this name.
    async fn find_protected_branch(
        &self,
        project: ProjectId,
        name: &str,
    ) -> RepoResult<Option<ProtectedBranch>>;
    /// Those of `ids` that exist in the project.
    async fn find_protected_branches(
        &self,
        project: ProjectId,
        ids: Vec<ProtectedBranchId>,
    ) -> RepoResult<Vec<ProtectedBranch>>;
    /// Protects a branch name or pattern; `Duplicate(ProtectedBranch)` if already protected.
    async fn create_protected_branch(
        &self,
        project: ProjectId,
        name: BranchPattern,
        created_at: Timestamp,
    ) -> RepoResult<ProtectedBranch>;
    /// Unprotects it, and removes it from every check scoped to it; false if there was none.
    async fn delete_protected_branch(
        &self,
        project: ProjectId,
        id: ProtectedBranchId,
    ) -> RepoResult<bool>;
}

/// External status checks.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StatusCheckRepository: Send + Sync {
    /// A project's checks by id ascending, with their protected branches.
    async fn list_checks(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ExternalStatusCheck>>;
    /// All of a project's checks by id ascending, with their protected branches (a bounded number of queries).
    /// Shared rather than owned: nearly every request reads them, so an adapter may hand out one cached copy.
    async fn all_checks(
        &self,
        project: ProjectId,
    ) -> RepoResult<std::sync::Arc<[ExternalStatusCheck]>>;
    /// One check of the project.
    async fn find_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
    ) -> RepoResult<Option<ExternalStatusCheck>>;
    /// Creates a check; `Duplicate(CheckName|CheckUrl)`, or `ForeignProtectedBranch` if a branch id is not
    /// the project's.
    async fn create_check(&self, new: NewStatusCheck) -> RepoResult<ExternalStatusCheck>;
    /// Changes a check; the errors of create, or `NotFound`.
    async fn update_check(
        &self,
        project: ProjectId,
        id: StatusCheckId,
        update: StatusCheckUpdate,
    ) -> RepoResult<ExternalStatusCheck>;
    /// Deletes a check with its responses and pending deliveries; false if there was none.
    async fn delete_check(&self, project: ProjectId, id: StatusCheckId) -> RepoResult<bool>;
}

/// Merge requests.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait MergeRequestRepository: Send + Sync {
    /// Creates a merge request with the project's next iid (allocated atomically), and records the
    /// deliveries rendered from `deliveries` against it, in one transaction.
    async fn create_merge_request(
        &self,
        new: NewMergeRequest,
        deliveries: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest>;
    /// The merge request of the project with this iid.
    async fn find_merge_request(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<MergeRequest>>;
    /// The merge request of the project with this iid and the newest response (highest id) of each check
    /// about its HEAD as read: what a status read needs. Responses stored after the merge request was read
    /// may be included; a push in between is not (the responses are those about the HEAD returned).
    async fn find_merge_request_at_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Vec<StatusCheckResponse>)>>;
    /// [`Self::find_merge_request_at_head`] with only the merge request's HEAD: what E5 needs.
    async fn find_merge_request_head(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequestHead, Vec<StatusCheckResponse>)>>;
    /// A project's merge requests by id ascending, optionally in one state.
    async fn list_merge_requests(
        &self,
        project: ProjectId,
        state: Option<MergeRequestState>,
        page: PageRequest,
    ) -> RepoResult<Page<MergeRequest>>;
    /// Applies `changes` and records the deliveries rendered against the result, in one transaction;
    /// `NotFound` if it is gone.
    async fn update_merge_request(
        &self,
        id: MergeRequestId,
        changes: MergeRequestChanges,
        deliveries: Vec<DeliveryDraft>,
    ) -> RepoResult<MergeRequest>;
}

/// Status check responses.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ResponseRepository: Send + Sync {
    /// Stores a response (every accepted response is kept), with its details if any, and schedules the
    /// status posts `statuses` about its merge request's HEAD (a linked project's), in one transaction.
    async fn record_response(
        &self,
        new: NewResponse,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse>;
    /// Stores the `pending` row of a retry, records the deliveries rendered against the merge request and
    /// schedules the status posts about its HEAD, in one transaction.
    async fn record_retry(
        &self,
        new: NewResponse,
        deliveries: Vec<DeliveryDraft>,
        statuses: Vec<StatusDraft>,
    ) -> RepoResult<StatusCheckResponse>;
    /// What the external service said with the response `id` (its `target_url` and `description`), if
    /// anything.
    async fn find_response_details(&self, id: ResponseId) -> RepoResult<Option<ResponseDetails>>;
    /// For each `(merge request, sha)`, the newest response (highest id) of each check about that sha: at
    /// most one row per (merge request, check), in one read however many checks or responses exist.
    async fn newest_responses(
        &self,
        heads: Vec<(MergeRequestId, CommitSha)>,
    ) -> RepoResult<Vec<StatusCheckResponse>>;
    /// Every response about a merge request of `project`, at every sha, newest (highest id) first: the
    /// history the merge request page shows.
    async fn list_responses(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        page: PageRequest,
    ) -> RepoResult<Page<StatusCheckResponse>>;
}

/// A delivery due to be sent, with where and how to send it (read at send time, so a changed URL or
/// secret applies to later attempts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    /// The delivery.
    pub delivery: Delivery,
    /// The check's URL now.
    pub url: String,
    /// The check's secret now.
    pub shared_secret: Option<SharedSecret>,
}

/// The outbox of deliveries.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DeliveryRepository: Send + Sync {
    /// A check's deliveries, newest first.
    async fn list_deliveries(
        &self,
        project: ProjectId,
        check: StatusCheckId,
        page: PageRequest,
    ) -> RepoResult<Page<Delivery>>;
    /// A merge request's deliveries, to every check, newest first.
    async fn list_merge_request_deliveries(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        page: PageRequest,
    ) -> RepoResult<Page<Delivery>>;
    /// Claims up to `limit` pending deliveries due at `now`, oldest due first, by moving their due time to
    /// `lease_until` (so a crashed sender's claims come due again). Deliveries to the checks in `except` are
    /// left alone: the sender passes the checks whose receivers are busy, so that one slow service does not
    /// fill its slots.
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
        except: Vec<StatusCheckId>,
    ) -> RepoResult<Vec<DueDelivery>>;
    /// Gives back claimed deliveries that were not sent (a sender stopping with some still queued), each
    /// named with the end of the lease it was claimed under: those still held by that claim are due again at
    /// `due_at`, their attempts unchanged; the others are left alone.
    async fn release(
        &self,
        claims: Vec<(DeliveryId, Timestamp)>,
        due_at: Timestamp,
    ) -> RepoResult<()>;
    /// Records the outcomes of attempts, in one transaction (the delivery worker hands over those of a whole
    /// batch at once). Each counts one attempt and sets `last_attempt_at`: `Delivered` makes the delivery
    /// delivered and clears `last_error`; `Failed` stores its error and makes it pending again at `retry_at`,
    /// or dead without one. An attempt at a delivery deleted meanwhile, or no longer held by the claim it was
    /// sent under ([`Attempt::claimed_until`]), changes nothing.
    async fn record_attempts(&self, attempts: Vec<Attempt>) -> RepoResult<()>;
    /// How many deliveries are pending.
    async fn count_pending(&self) -> RepoResult<u64>;
    /// The due time of the oldest pending delivery due at `now` and not claimed, if any: how long the outbox
    /// has kept a delivery waiting.
    async fn oldest_due(&self, now: Timestamp) -> RepoResult<Option<Timestamp>>;
    /// Deletes up to `limit` delivered or dead deliveries whose last attempt was before `finished_before`,
    /// oldest first, and answers how many it deleted. A pending delivery is never deleted, however old.
    async fn prune_deliveries(&self, finished_before: Timestamp, limit: u32) -> RepoResult<u64>;
}

/// Forge links, mirrored merge requests' details, seen webhook deliveries and the status outbox.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ForgeRepository: Send + Sync {
    /// The project's link, if any.
    async fn find_link(&self, project: ProjectId) -> RepoResult<Option<ForgeLink>>;
    /// Creates or replaces the project's link; with `sync` (a new link, or one moved to another forge or
    /// repository), a sync of its open merge requests is due at once and the states posted under the
    /// link before are forgotten. `NotFound` if the project is gone.
    async fn save_link(&self, link: ForgeLink, sync: bool) -> RepoResult<ForgeLink>;
    /// Deletes the link with its pending status posts and the states it posted (mirrored merge requests
    /// stay); false if none.
    async fn delete_link(&self, project: ProjectId) -> RepoResult<bool>;
    /// Makes a sync of the project's open merge requests due at `at`; false if it has no link.
    async fn request_sync(&self, project: ProjectId, at: Timestamp) -> RepoResult<bool>;
    /// Claims one link whose sync is due at `now` by moving its due time to `lease_until` (a crashed
    /// syncer's claim comes due again).
    async fn claim_sync(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> RepoResult<Option<ForgeLink>>;
    /// Ends a claimed sync: done unless another was requested meanwhile (the due time is no longer
    /// `claimed_until`); `retry_at` makes it due again instead.
    async fn finish_sync(
        &self,
        project: ProjectId,
        claimed_until: Timestamp,
        retry_at: Option<Timestamp>,
    ) -> RepoResult<()>;
    /// A mirrored merge request by its iid (the forge's number), with its details (none for a merge
    /// request opened before the link, through our own API).
    async fn find_mirrored(
        &self,
        project: ProjectId,
        iid: MergeRequestIid,
    ) -> RepoResult<Option<(MergeRequest, Option<MirrorDetails>)>>;
    /// Applies a mirror write in one transaction: records the delivery's key (`Seen` if recorded before),
    /// the merge request change (`Raced` if it changed since it was read, or its iid was taken meanwhile),
    /// the details, the notifications and status posts rendered against the merge request written, and
    /// the link's `last_event_at`.
    async fn apply_mirror(&self, write: MirrorWrite) -> RepoResult<MirrorOutcome>;
    /// Schedules status posts.
    async fn schedule_statuses(&self, statuses: Vec<NewForgeStatus>) -> RepoResult<()>;
    /// A project's status posts, newest first.
    async fn list_forge_statuses(
        &self,
        project: ProjectId,
        page: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>>;
    /// A merge request's status posts, newest first.
    async fn list_merge_request_statuses(
        &self,
        project: ProjectId,
        merge_request: MergeRequestId,
        page: PageRequest,
    ) -> RepoResult<Page<ForgeStatus>>;
    /// Claims up to `limit` pending status posts due at `now`, oldest due first, by moving their due time
    /// to `lease_until`.
    async fn claim_due_statuses(
        &self,
        now: Timestamp,
        limit: u32,
        lease_until: Timestamp,
    ) -> RepoResult<Vec<ForgeStatus>>;
    /// The state last posted successfully for this key, if any.
    async fn last_posted(&self, key: PostedKey) -> RepoResult<Option<String>>;
    /// Deletes up to `limit` each of: delivered or dead status posts last attempted before `before`,
    /// delivery keys received before it, and states posted before it; answers how many rows it deleted.
    /// A pending post is never deleted.
    async fn prune_forge_rows(&self, before: Timestamp, limit: u32) -> RepoResult<u64>;
    /// Records attempts at status posts (see [`StatusAttempt`]) in one transaction (the reporter hands over
    /// those of a whole round at once): each with the state now shown at its key when the forge accepted it,
    /// and its follow-up posts. An attempt at a post deleted meanwhile, or no longer held by the claim it was
    /// sent under, changes nothing (neither its state shown nor its follow-ups).
    async fn record_status_attempts(
        &self,
        attempts: Vec<(StatusAttempt, Option<PostedKey>)>,
    ) -> RepoResult<()>;
}

/// The time. Adapters read the system clock; tests set it.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current time, in UTC.
    fn now(&self) -> Timestamp;
}

/// Randomness, kept out of the core so that use cases are deterministic under test.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait SecretGenerator: Send + Sync {
    /// A new personal access token: unguessable, URL-safe, at least 20 characters.
    fn personal_access_token(&self) -> String;
    /// A new delivery idempotency key, unique across deliveries.
    fn idempotency_key(&self) -> String;
}
